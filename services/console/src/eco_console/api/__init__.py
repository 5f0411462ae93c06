"""Routers of the console service: its pages, fragments and streams (all `PUBLIC` to the
token layer; the console's session guards them)."""
