"""Routes declare who may call them: `require(scopes...)`, or `PUBLIC`.

    @router.get("/documents/{id}", responses=problem_responses(404))
    async def get_document(id: str, caller: Annotated[Principal, require("docs:read")]): ...

    router = APIRouter(dependencies=[PUBLIC])   # health, metrics, JWKS

`require()` with no scopes asks only for a valid token. A missing, malformed, expired or
foreign token is 401 with `WWW-Authenticate: Bearer error="invalid_token"`; a valid token
without a required scope is 403 `insufficient_scope` naming the scopes; a key that cannot
be checked is 503. `undeclared_routes(app)` lists routes that declare neither (an app with
any refuses to start), and `auth_openapi` shows each operation's scopes as `security` and
`x-eco-scopes`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from fastapi import Depends, FastAPI, Request, Security
from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute, iter_route_contexts
from fastapi.security import HTTPBearer

from eco_shared._problem_schema import problem_responses
from eco_shared.auth._principal import Principal
from eco_shared.auth._tokens import InvalidToken
from eco_shared.auth._verifier import KeyCheckUnavailable
from eco_shared.problems import ProblemError, Unavailable

if TYPE_CHECKING:
    from eco_shared.auth._service import ServiceAuth

SCHEME = "bearer"


class Unauthorized(ProblemError):
    """401: no valid token for this service."""

    def __init__(self, detail: str) -> None:
        quoted = detail.replace('"', "'")
        super().__init__(
            401,
            detail,
            title="Unauthorized",
            type="urn:eco:problem:invalid-token",
            headers={
                "WWW-Authenticate": (
                    f'Bearer realm="eco", error="invalid_token", error_description="{quoted}"'
                )
            },
        )


class InsufficientScope(ProblemError):
    """403: the token is valid but lacks a scope the route needs."""

    def __init__(self, required: list[str], missing: list[str]) -> None:
        super().__init__(
            403,
            f"This needs the scope(s) {', '.join(missing)}.",
            title="Insufficient scope",
            type="urn:eco:problem:insufficient-scope",
            headers={
                "WWW-Authenticate": (
                    f'Bearer realm="eco", error="insufficient_scope", scope="{" ".join(required)}"'
                )
            },
            required_scopes=required,
            missing_scopes=missing,
        )


def service_auth(request: Request) -> ServiceAuth:
    auth: ServiceAuth | None = getattr(request.app.state.eco, "auth", None)
    if auth is None:
        raise Unavailable("The service is not started.")
    return auth


_PRINCIPAL = "eco.principal"  # the request's verified caller, in its ASGI scope


def _bearer_token(request: Request) -> str | None:
    """The token of an `Authorization: Bearer <token>` header (the scheme's case ignored)."""
    scheme, _, token = (request.headers.get("authorization") or "").partition(" ")
    token = token.strip()
    return token if token and scheme.lower() == "bearer" else None


async def _principal(request: Request) -> Principal:
    """The caller, verified once per request (a route may require scopes more than once)."""
    cached = request.scope.get(_PRINCIPAL)
    if cached is not None:
        return cached  # type: ignore[no-any-return]
    auth = service_auth(request)
    if auth.local_principal is not None:
        principal = auth.local_principal
    else:
        token = _bearer_token(request)
        if token is None:
            raise Unauthorized("A bearer token is required.")
        try:
            principal = await auth.verify(token)
        except InvalidToken as exc:
            await auth.denied(request, "invalid_token", str(exc))
            raise Unauthorized(str(exc)) from exc
        except KeyCheckUnavailable as exc:
            raise Unavailable(
                "The issuer cannot be reached to check the token's API key; retry shortly.",
                retry_after_s=2,
            ) from exc
    request.scope[_PRINCIPAL] = principal
    return principal


class _ScopeCheck(HTTPBearer):
    """`require(scopes...)`: the bearer scheme itself, checking the token and its scopes.

    Being the security scheme (not a dependency on it) makes a protected request one
    dependency level for FastAPI to resolve, not two: each level costs a pass of FastAPI's
    machinery (its four parameter kinds, a cache key), which was most of what a token check
    cost a request (docs/PERFORMANCE.md). The OpenAPI document is the same: the scheme is
    `bearer`, with these scopes.
    """

    def __init__(self, scopes: tuple[str, ...]) -> None:
        super().__init__(
            auto_error=False,
            scheme_name=SCHEME,
            bearerFormat="JWT",
            description="An ES256 access token from the issuer (`POST /auth/token`), for this "
            "service.",
        )
        self.scopes = scopes

    async def __call__(self, request: Request) -> Principal:  # type: ignore[override]
        principal = await _principal(request)
        missing = [s for s in self.scopes if not principal.has(s)]
        if missing:
            await service_auth(request).denied(request, "insufficient_scope", " ".join(missing))
            raise InsufficientScope(list(self.scopes), missing)
        return principal


def require(*scopes: str) -> Any:
    """A dependency that admits callers holding every one of `scopes` (and returns them)."""
    return Security(_ScopeCheck(scopes), scopes=list(scopes))


async def _public() -> None:
    """Marks a route (or a router) as open to anyone."""


PUBLIC: Any = Depends(_public)


def _declares(dependant: Dependant) -> bool:
    for dep in dependant.dependencies:
        if isinstance(dep.call, _ScopeCheck) or dep.call is _public or _declares(dep):
            return True
    return False


def undeclared_routes(app: FastAPI) -> list[str]:
    """Routes that declare neither scopes nor `PUBLIC` ("GET /path")."""
    missing = []
    # FastAPI keeps included routers as such; their routes come with the router's context
    for context in iter_route_contexts(app.routes):
        if not isinstance(context.original_route, APIRoute):
            continue
        dependant = getattr(context, "dependant", None)
        if dependant is None or not _declares(dependant):
            methods = sorted(getattr(context, "methods", None) or ())
            missing += [f"{method} {context.path}" for method in methods]
    return missing


def check_routes_declared(app: FastAPI) -> None:
    """Refuse to start an app with a route that says nothing about who may call it."""
    missing = undeclared_routes(app)
    if missing:
        raise RuntimeError(
            "every route must declare its scopes (require(...)) or be PUBLIC; these do not: "
            + ", ".join(missing)
        )


def auth_openapi(schema: dict[str, Any]) -> dict[str, Any]:
    """Each operation's scopes as `x-eco-scopes`, 401/403 on protected ones, `security: []`
    on public ones."""
    for path_item in schema.get("paths", {}).values():
        for operation in path_item.values():
            if not isinstance(operation, dict) or "responses" not in operation:
                continue
            scopes: list[str] | None = None
            for requirement in operation.get("security", []):
                if SCHEME in requirement:
                    scopes = sorted({*requirement[SCHEME]})
                    requirement[SCHEME] = scopes
            if scopes is None:
                operation["security"] = []
                operation["x-eco-scopes"] = []
                operation["x-eco-public"] = True
                continue
            # a route whose scope names a path or body value declares it itself
            operation.setdefault("x-eco-scopes", scopes)
            responses = operation["responses"]
            for status in (401, 403):
                responses.setdefault(str(status), problem_responses(status)[status])
    return schema
