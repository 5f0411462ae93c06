"""The llm-gateway service."""
