"""Back-pressure in the OpenAPI documents: the 503 every operation may answer under load.

The cap itself is part of `eco_shared.serving.ServingMiddleware`. Without it uvicorn accepts
every connection and each waits its turn on the event loop, so under more load than a
process can serve every caller times out together. Over the cap a request is refused at
once with 503 and `Retry-After`, which the shared client and the adapters wait out and
retry, so load sheds instead of piling up.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from eco_shared.problems import problem_responses
from eco_shared.serving import EXEMPT_PATHS, RETRY_AFTER_S

__all__ = ["EXEMPT_PATHS", "RETRY_AFTER_S", "declare_overload"]


_OVERLOADED = "Overloaded, or a dependency is unavailable: retry after `Retry-After` seconds"
_RETRY_AFTER = {
    "description": "Seconds to wait before retrying.",
    "schema": {"type": "integer", "minimum": 0},
}


def declare_overload(schema: dict[str, Any], exempt: Iterable[str] = EXEMPT_PATHS) -> None:
    """Declare the 503 (with `Retry-After`) every operation may answer under load."""
    skip = frozenset(exempt)
    for path, path_item in schema.get("paths", {}).items():
        if path in skip:
            continue
        for operation in path_item.values():
            if not isinstance(operation, dict) or "responses" not in operation:
                continue
            responses = operation["responses"]
            if "503" not in responses:
                responses["503"] = problem_responses((503, _OVERLOADED))[503]
            responses["503"].setdefault("headers", {}).setdefault("Retry-After", dict(_RETRY_AFTER))
