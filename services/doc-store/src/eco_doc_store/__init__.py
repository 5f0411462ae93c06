"""The doc-store service."""
