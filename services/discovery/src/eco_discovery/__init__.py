"""The discovery service."""
