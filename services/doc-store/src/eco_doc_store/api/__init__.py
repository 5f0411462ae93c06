"""HTTP routes of the doc store, one module per resource."""
