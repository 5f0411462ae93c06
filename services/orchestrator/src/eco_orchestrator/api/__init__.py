"""The orchestrator's routers."""
