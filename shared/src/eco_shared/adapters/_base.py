"""The base every service adapter is built on, and the check that holds it to the service.

An adapter method declares the operation it calls with `@operation(METHOD, PATH, ...)`;
`check_adapter_against_openapi` compares every declaration with the service's real
OpenAPI document, so an adapter cannot drift from its service unnoticed.
"""

from __future__ import annotations

import inspect
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar, TypeVar

import httpx

from eco_shared.capabilities import Capability, openapi_operations
from eco_shared.directory import ServiceDirectory
from eco_shared.http import ServiceClient

F = TypeVar("F", bound=Callable[..., Any])


@dataclass(frozen=True)
class OperationRef:
    """The HTTP operation an adapter method calls."""

    method: str
    path: str
    query: tuple[str, ...] = ()
    body: bool = False
    name: str = ""


def operation(
    method: str, path: str, *, query: tuple[str, ...] = (), body: bool = False
) -> Callable[[F], F]:
    """Declare which operation of the service an adapter method calls."""

    def decorate(func: F) -> F:
        func.__eco_operation__ = OperationRef(  # type: ignore[attr-defined]
            method.upper(), path, tuple(query), body, func.__name__
        )
        return func

    return decorate


def adapter_operations(adapter: type[BaseServiceAdapter]) -> list[OperationRef]:
    """Every operation an adapter class declares (including the inherited ones)."""
    refs = []
    for _, member in inspect.getmembers(adapter, predicate=inspect.isfunction):
        ref = getattr(member, "__eco_operation__", None)
        if isinstance(ref, OperationRef):
            refs.append(ref)
    return sorted(refs, key=lambda r: (r.path, r.method))


def check_adapter_against_openapi(
    adapter: type[BaseServiceAdapter], spec: dict[str, Any]
) -> list[str]:
    """Differences between an adapter's declared operations and a real OpenAPI document."""
    ops: dict[tuple[str, str], Capability] = {
        (c.method, c.path): c for c in openapi_operations(spec)
    }
    problems = []
    for ref in adapter_operations(adapter):
        if ref.path == "/openapi.json":  # served by FastAPI itself, not listed in the spec
            continue
        cap = ops.get((ref.method, ref.path))
        if cap is None:
            problems.append(
                f"{ref.name}: {ref.method} {ref.path} is not an operation of the service"
            )
            continue
        declared_path_params = re.findall(r"{(\w+)}", ref.path)
        if sorted(declared_path_params) != sorted(cap.path_params):
            problems.append(
                f"{ref.name}: path parameters {declared_path_params} != {cap.path_params}"
            )
        unknown = sorted(set(ref.query) - set(cap.query_params))
        if unknown:
            problems.append(f"{ref.name}: query parameters {unknown} not accepted by {ref.path}")
        if ref.body and cap.request_schema is None:
            problems.append(f"{ref.name}: sends a body but {ref.method} {ref.path} takes none")
        if not ref.body and cap.request_schema is not None and ref.method in ("POST", "PUT"):
            problems.append(f"{ref.name}: sends no body but {ref.method} {ref.path} takes one")
    return problems


@dataclass
class AdapterError(Exception):
    """A service answered with an error (its problem+json body, when it sent one)."""

    service: str
    status: int
    problem: Mapping[str, Any] = field(default_factory=dict)

    def __str__(self) -> str:
        detail = self.problem.get("detail") or self.problem.get("title") or ""
        return f"{self.service} answered {self.status}: {detail}".rstrip(": ")


class BaseServiceAdapter:
    """A typed client of one service, found by name through discovery."""

    service_name: ClassVar[str]

    def __init__(
        self,
        http: ServiceClient,
        directory: ServiceDirectory | None = None,
        *,
        base_url: str | None = None,
    ) -> None:
        if directory is None and base_url is None:
            raise ValueError("an adapter needs a ServiceDirectory or a base_url")
        self.http = http
        self.directory = directory
        self._base_url = base_url.rstrip("/") if base_url else None

    async def base_url(self) -> str:
        """Where the service is now (a fixed URL, or a healthy instance from discovery)."""
        if self._base_url is not None:
            return self._base_url
        assert self.directory is not None
        return await self.directory.resolve(self.service_name)

    async def _request(
        self,
        method: str,
        path: str,
        *,
        operation: str,
        path_params: Mapping[str, Any] | None = None,
        ok: tuple[int, ...] = (200, 201, 202, 204),
        **kwargs: Any,
    ) -> httpx.Response:
        url = await self.base_url() + path.format(**(path_params or {}))
        response = await self.http.request(
            method, url, service=self.service_name, operation=operation, **kwargs
        )
        if response.status_code not in ok:
            try:
                problem = response.json()
            except ValueError:
                problem = {"detail": response.text[:500]}
            raise AdapterError(
                self.service_name,
                response.status_code,
                problem if isinstance(problem, dict) else {"detail": problem},
            )
        return response

    @operation("GET", "/health")
    async def health(self) -> dict[str, Any]:
        """The service's liveness report."""
        response = await self._request("GET", "/health", operation="health")
        body: dict[str, Any] = response.json()
        return body

    @operation("GET", "/openapi.json")
    async def capabilities(self) -> list[Capability]:
        """The operations the service offers, read from its OpenAPI document."""
        response = await self._request("GET", "/openapi.json", operation="capabilities")
        return openapi_operations(response.json())
