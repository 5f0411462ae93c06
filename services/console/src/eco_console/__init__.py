"""The console service."""
