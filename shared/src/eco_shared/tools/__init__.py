"""Tools generated from discovery's capabilities: one async callable per service operation.

A `ToolRegistry` reads `GET /capabilities` from discovery and turns every operation of
every registered service into a `Tool` named `<service>.<operation_id>`, with a JSON
schema for its arguments (path and query parameters by name, the request body as
`body`). Calling a tool resolves a healthy instance through the `ServiceDirectory` and
goes through the shared `ServiceClient` (retries, breaker, trace propagation, and a
`CallRecord` for provenance), so callers never write another service's URL by hand.
The registry refreshes itself when its answer is older than `ttl_s` and, while `watch()`
runs, whenever discovery's change feed reports a registration, deregistration or health
change. Each tool knows the scopes its operation declares (`x-eco-scopes`), so a caller
acting for a user offers a planner only the tools that user may call (`Tool.allowed`).
"""

from eco_shared.tools._registry import ToolRegistry
from eco_shared.tools._tool import (
    Tool,
    ToolArgumentError,
    ToolNotFoundError,
    scopes_allow,
    tool_name,
)

__all__ = [
    "Tool",
    "ToolArgumentError",
    "ToolNotFoundError",
    "ToolRegistry",
    "scopes_allow",
    "tool_name",
]
