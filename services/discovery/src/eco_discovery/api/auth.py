"""The issuer's protocol routes: the JWKS, the token endpoint, introspection, whoami.

`POST /auth/token` and `POST /auth/introspect` take form-encoded bodies (OAuth); the token
endpoint's refusals are problem+json carrying RFC 6749's `error` and `error_description`.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

from fastapi import APIRouter, Request, Response

from eco_discovery.api._forms import FormError, form_body, read_form
from eco_discovery.api._problems import REDIS_DOWN
from eco_discovery.deps import IssuerDep, IssuerKeysDep
from eco_discovery.service.issuer import TokenRefused
from eco_shared.auth import PUBLIC, Principal, require
from eco_shared.models.discovery_auth import (
    IntrospectForm,
    Introspection,
    Jwks,
    TokenForm,
    TokenResponse,
    WhoAmI,
)
from eco_shared.problems import BadRequest, problem_responses

router = APIRouter(tags=["auth"])

NO_STORE = {"Cache-Control": "no-store", "Pragma": "no-cache"}
_ERROR_OF_FIELD = {"grant_type": "unsupported_grant_type", "audience": "invalid_target"}


@router.get(
    "/.well-known/jwks.json",
    response_model=Jwks,
    summary="The issuer's public signing keys (current and previous)",
    dependencies=[PUBLIC],
)
async def jwks(keys: IssuerKeysDep, response: Response) -> Jwks:
    response.headers["Cache-Control"] = "public, max-age=60"
    return Jwks.model_validate(keys.jwks())


@router.post(
    "/auth/token",
    response_model=TokenResponse,
    summary="Get a token: client credentials, or an RFC 8693 token exchange",
    dependencies=[PUBLIC],
    openapi_extra=form_body(TokenForm),
    responses=problem_responses(
        (
            400,
            "Refused (`error`: invalid_request, invalid_grant, invalid_target, "
            "unsupported_grant_type)",
        ),
        (401, "Client authentication failed (`error`: invalid_client)"),
        REDIS_DOWN,
    ),
)
async def token(request: Request, issuer: IssuerDep, response: Response) -> TokenResponse:
    try:
        form = await read_form(request, TokenForm)
    except FormError as exc:
        error = "invalid_request" if exc.missing else _ERROR_OF_FIELD.get(exc.field or "")
        raise TokenRefused(error or "invalid_request", str(exc)) from None
    answer = await issuer.token(form, client_host=request.client.host if request.client else None)
    response.headers.update(NO_STORE)
    return answer


@router.post(
    "/auth/introspect",
    response_model=Introspection,
    response_model_exclude_none=True,
    summary="RFC 7662: is a token active (a service asks about tokens meant for it)",
    openapi_extra=form_body(IntrospectForm),
    responses=problem_responses((400, "Not a form with a `token`"), REDIS_DOWN),
)
async def introspect(
    request: Request,
    issuer: IssuerDep,
    caller: Annotated[Principal, require("auth:introspect")],
    response: Response,
) -> Introspection:
    try:
        form = await read_form(request, IntrospectForm)
    except FormError as exc:
        raise BadRequest(str(exc), title="Malformed introspection request") from None
    response.headers.update(NO_STORE)
    return await issuer.introspect(caller, form.token)


@router.get("/auth/whoami", response_model=WhoAmI, summary="The caller, as its token says")
async def whoami(caller: Annotated[Principal, require()]) -> WhoAmI:
    return WhoAmI(
        subject=caller.subject,
        kind=caller.kind,
        scopes=sorted(caller.scopes),
        actors=list(caller.actors),
        acting_chain=caller.acting_chain(),
        key_id=caller.key_id,
        grant_id=caller.grant_id,
        audience=caller.audience,
        expires_at=datetime.fromtimestamp(caller.expires_at, UTC),
        limits=dict(caller.limits),
    )
