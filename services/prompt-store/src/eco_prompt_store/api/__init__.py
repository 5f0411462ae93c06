"""Routers of the prompt-store service."""
