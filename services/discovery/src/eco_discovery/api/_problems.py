"""What the routes' problems mean here, said once for all of them."""

REDIS_DOWN = (503, "The registry's store (Redis) is unavailable; Retry-After says when to retry")
