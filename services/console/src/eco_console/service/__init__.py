"""What the pages need, over the adapters: user clients, fetching, geometry, timelines."""
