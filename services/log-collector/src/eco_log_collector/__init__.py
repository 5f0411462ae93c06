"""The log-collector service."""
