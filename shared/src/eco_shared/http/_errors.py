"""What a call between services raises when it produced no usable response."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import httpx


def describe(error: BaseException) -> str:
    """`Type: message` (or just the type when the message is empty)."""
    text = str(error)
    return f"{type(error).__name__}: {text}" if text else type(error).__name__


class ServiceCallError(Exception):
    """A call to another service that produced no usable response."""

    def __init__(self, message: str, *, target: str) -> None:
        super().__init__(message)
        self.target = target


class CircuitOpenError(ServiceCallError):
    """The target's circuit is open: the call was refused without touching the network."""

    def __init__(self, target: str, retry_after_s: float) -> None:
        super().__init__(f"circuit open for {target}", target=target)
        self.retry_after_s = retry_after_s


class ServiceUnavailableError(ServiceCallError):
    """The target could not be reached (transport errors) on any permitted attempt."""

    def __init__(self, target: str, url: str, attempts: int, error: Exception) -> None:
        super().__init__(
            f"{target} unavailable after {attempts} attempt(s): {describe(error)}", target=target
        )
        self.url = url
        self.attempts = attempts


def read_problem(response: httpx.Response) -> dict[str, Any]:
    """The problem details of an error response, whichever shape the service answered in.

    problem+json as it is; OpenAI's `{"error": {...}}` (the gateway's `/v1/*`) as the
    problem it carries under `eco`, with `message` as `detail` and `param`/`code` kept; any
    other body as `detail` text.
    """
    try:
        body = response.json()
    except ValueError:
        return {"detail": response.text[:500]}
    if not isinstance(body, Mapping):
        return {"detail": body}
    error = body.get("error")
    if not isinstance(error, Mapping):
        return dict(body)
    eco = error.get("eco")
    problem = dict(eco) if isinstance(eco, Mapping) else {}
    problem.setdefault("detail", error.get("message"))
    for name in ("param", "code"):
        if error.get(name) is not None:
            problem.setdefault(name, error[name])
    return problem
