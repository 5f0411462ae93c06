"""The base every service adapter is built on, and the check that holds it to the service.

An adapter method declares the operation it calls with `@operation(METHOD, PATH, ...)`,
and the wire model it reads back with `response=`; `check_adapter_against_openapi` compares
every declaration (method, path, parameters, body, and the response's fields at every
depth) with the service's real OpenAPI document, so an adapter cannot drift from its
service unnoticed.
"""

from __future__ import annotations

import inspect
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar, TypeVar

import httpx

from eco_shared.http import read_problem

if TYPE_CHECKING:
    from eco_shared.capabilities import Capability
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
    response: Any = None


def operation(
    method: str,
    path: str,
    *,
    query: tuple[str, ...] = (),
    body: bool = False,
    response: Any = None,
) -> Callable[[F], F]:
    """Declare which operation of the service an adapter method calls.

    `response` is the type the method parses the 2xx body as (a model, or `list[Model]`).
    """

    def decorate(func: F) -> F:
        func.__eco_operation__ = OperationRef(  # type: ignore[attr-defined]
            method.upper(), path, tuple(query), body, func.__name__, response
        )
        return func

    return decorate


class _FreeForm:
    """The shape of an object with no declared properties (`dict[str, Any]`)."""


FREE_FORM = _FreeForm()


def _shape(schema: Any) -> Any:
    """The field structure of a JSON schema: property names at every depth, array items."""
    if not isinstance(schema, dict):
        return None
    for union in ("anyOf", "oneOf"):
        if union in schema:
            members = [
                m for m in schema[union] if not (isinstance(m, dict) and m.get("type") == "null")
            ]
            return _shape(members[0]) if len(members) == 1 else None
    if "allOf" in schema and len(schema["allOf"]) == 1:
        return _shape(schema["allOf"][0])
    if isinstance(schema.get("properties"), dict):
        return {name: _shape(sub) for name, sub in schema["properties"].items()}
    if schema.get("type") == "array":
        return [_shape(schema.get("items"))]
    if schema.get("type") == "object":
        return FREE_FORM
    return None


def _shape_differences(expected: Any, actual: Any, where: str) -> list[str]:
    if expected is FREE_FORM and isinstance(actual, dict | _FreeForm):
        return []  # the adapter reads any object: whatever fields the service declares
    if isinstance(expected, dict) and isinstance(actual, dict):
        problems = []
        missing = sorted(set(expected) - set(actual))
        extra = sorted(set(actual) - set(expected))
        if missing:
            problems.append(f"{where}: the service does not return {missing}")
        if extra:
            problems.append(f"{where}: the adapter's model lacks {extra}")
        for name in sorted(set(expected) & set(actual)):
            problems += _shape_differences(expected[name], actual[name], f"{where}.{name}")
        return problems
    if isinstance(expected, list) and isinstance(actual, list):
        return _shape_differences(expected[0], actual[0], f"{where}[]")
    if (expected is None) != (actual is None) or type(expected) is not type(actual):
        return [
            f"{where}: the adapter expects {_kind(expected)}, the service returns {_kind(actual)}"
        ]
    return []


def _kind(shape: Any) -> str:
    if isinstance(shape, dict):
        return "an object"
    if shape is FREE_FORM:
        return "a free-form object"
    return "an array" if isinstance(shape, list) else "a value"


def _response_problems(ref: OperationRef, cap: Capability) -> list[str]:
    if ref.response is None:
        return []
    if cap.response_schema is None:
        return [f"{ref.name}: expects a JSON response but {ref.method} {ref.path} declares none"]
    from pydantic import TypeAdapter

    from eco_shared.capabilities import resolve_refs

    own = TypeAdapter(ref.response).json_schema(ref_template="#/$defs/{model}")
    return _shape_differences(
        _shape(resolve_refs(own, own)), _shape(cap.response_schema), f"{ref.name}: response"
    )


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
    from eco_shared.capabilities import openapi_operations

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
        problems += _response_problems(ref, cap)
    return problems


@dataclass
class AdapterError(Exception):
    """A service answered with an error (its problem+json body, when it sent one)."""

    service: str
    status: int
    problem: Mapping[str, Any] = field(default_factory=dict)

    def __str__(self) -> str:
        detail = self.problem.get("detail") or self.problem.get("title") or ""
        fields = [
            f"{e.get('field') or '.'.join(map(str, e.get('loc', [])))}: {e.get('msg')}"
            for e in self.problem.get("errors") or []
            if isinstance(e, Mapping)
        ]
        extra = [f for f in fields if f not in str(detail)]
        text = "; ".join([str(detail), *extra] if detail else extra)
        return f"{self.service} answered {self.status}: {text}".rstrip(": ")


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
            raise AdapterError(self.service_name, response.status_code, read_problem(response))
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
        from eco_shared.capabilities import openapi_operations

        response = await self._request("GET", "/openapi.json", operation="capabilities")
        return openapi_operations(response.json())
