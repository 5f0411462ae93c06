"""Wire models of the services' public APIs, shared by each service and its adapter."""
