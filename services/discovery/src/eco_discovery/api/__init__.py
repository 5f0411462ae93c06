"""Discovery's routers, one per resource."""
