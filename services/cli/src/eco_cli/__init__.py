"""The `eco` command."""
