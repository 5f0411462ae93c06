"""The prompt-store service."""
