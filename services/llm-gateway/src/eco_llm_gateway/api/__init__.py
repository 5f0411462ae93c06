"""HTTP routers of the llm-gateway."""
