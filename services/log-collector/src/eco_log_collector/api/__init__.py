"""HTTP routers of the log collector, one module per resource."""
