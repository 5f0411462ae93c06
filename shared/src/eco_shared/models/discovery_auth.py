"""Wire models of the issuer in discovery: API keys, tokens, introspection, whoami.

The issuer answers with these models and `eco_shared.adapters.discovery` reads them back, so
the two cannot disagree on a field. The token endpoint's form (`TokenForm`) and the RFC 7662
introspection form are form-encoded (`application/x-www-form-urlencoded`), as OAuth says.
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field

from eco_shared.auth import ACCESS_TOKEN_TYPE, API_KEY_TYPE, JWT_TYPE, RUN_GRANT_TYPE

CLIENT_CREDENTIALS = "client_credentials"
TOKEN_EXCHANGE = "urn:ietf:params:oauth:grant-type:token-exchange"

# `admin`, or `<service>:<action>[:<qualifier>]` (DESIGN.md "Identity and access")
SCOPE_PATTERN = r"^(admin|[a-z][a-z0-9-]{0,31}(:[A-Za-z0-9._-]{1,64}){1,3})$"
# what an audience (a service of the ecosystem) may be called
SERVICE_NAME_PATTERN = r"^[a-z][a-z0-9-]{0,62}$"
RUN_RESOURCE_PATTERN = r"^urn:eco:run:[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$"
KEY_ID_PATTERN = r"^[0-9A-Za-z]{12}$"
RFC3339_PATTERN = (
    r"^[0-9]{4}-(?:0[1-9]|1[0-2])-(?:0[1-9]|[12][0-9]|3[01])[Tt](?:[01][0-9]|2[0-3])"
    r":[0-5][0-9]:[0-5][0-9](?:\.[0-9]+)?(?:[Zz]|[+-](?:[01][0-9]|2[0-3]):[0-5][0-9])$"
)
_RFC3339 = re.compile(RFC3339_PATTERN)
MAX_KEY_TTL_S = 10 * 365 * 86400.0
MAX_GRACE_S = 7 * 86400.0

Scope = Annotated[str, Field(min_length=1, max_length=128, pattern=SCOPE_PATTERN)]
ModelName = Annotated[str, Field(min_length=1, max_length=200)]
KeyStatus = Literal["active", "expired", "revoked"]


def _rfc3339(value: Any) -> Any:
    if isinstance(value, datetime):
        if value.tzinfo is None:
            raise ValueError("a date-time needs a time zone offset (RFC 3339)")
        return value
    if not isinstance(value, str) or not _RFC3339.fullmatch(value):
        raise ValueError("not an RFC 3339 date-time with an offset, e.g. 2026-01-31T12:00:00Z")
    return datetime.fromisoformat(value.upper().replace("Z", "+00:00"))


RFC3339Datetime = Annotated[datetime, BeforeValidator(_rfc3339)]


def _integral(value: Any) -> Any:
    return int(value) if isinstance(value, float) and value.is_integer() else value


# JSON Schema's integer includes 5.0, which strict validation alone would refuse (limits go
# before the validator, so the schema shows them)
Budget = Annotated[int, Field(ge=0, le=10**12), BeforeValidator(_integral)]
Rate = Annotated[int, Field(ge=1, le=10**6), BeforeValidator(_integral)]


class KeyCreate(BaseModel):
    """`POST /auth/keys`: a new API key for the caller."""

    model_config = ConfigDict(strict=True, extra="forbid")

    name: str = Field(min_length=1, max_length=100, description="What the key is for.")
    scopes: list[Scope] | None = Field(
        default=None,
        max_length=64,
        description="Default: the creator's own scopes. Never more than the creator holds "
        "(asking for more is 403).",
    )
    models: list[ModelName] | None = Field(
        default=None, max_length=100, description="The LLM models the key may use; any if absent."
    )
    expires_at: RFC3339Datetime | None = Field(
        default=None, description="When the key stops working (with `ttl_s`: the earlier)."
    )
    ttl_s: float | None = Field(
        default=None, gt=0, le=MAX_KEY_TTL_S, description="Lifetime from now, in seconds."
    )
    budget_tokens: Budget | None = Field(default=None, description="LLM tokens the key may spend.")
    rpm: Rate | None = Field(default=None, description="Requests per minute.")


class KeyRotate(BaseModel):
    """`POST /auth/keys/{key_id}/rotate`: a new secret under the same key id."""

    model_config = ConfigDict(strict=True, extra="forbid")

    grace_s: float = Field(
        default=0,
        ge=0,
        le=MAX_GRACE_S,
        description="How long the old secret keeps working (0: not at all).",
    )


class KeyPublic(BaseModel):
    """An API key as its owner sees it: never its secret, never its hash."""

    key_id: str
    name: str
    owner: str
    scopes: list[str]
    models: list[str] | None = None
    budget_tokens: int | None = None
    rpm: int | None = None
    status: KeyStatus
    created_at: datetime
    created_by: str
    expires_at: datetime | None = None
    rotated_at: datetime | None = None
    previous_secret_valid_until: datetime | None = None
    revoked_at: datetime | None = None


class KeyCreated(KeyPublic):
    """A key with its secret: shown once, at creation and at each rotation."""

    key: str = Field(description="The secret (`eco_<key id>_…`); it is not shown again.")


class KeyList(BaseModel):
    items: list[KeyPublic]


class TokenForm(BaseModel):
    """`POST /auth/token` (form-encoded): RFC 6749 client credentials, RFC 8693 exchange."""

    model_config = ConfigDict(extra="ignore")

    grant_type: Literal["client_credentials", "urn:ietf:params:oauth:grant-type:token-exchange"]
    client_id: str | None = Field(default=None, max_length=64, pattern=SERVICE_NAME_PATTERN)
    client_secret: str | None = Field(default=None, max_length=512)
    audience: str | None = Field(
        default=None,
        max_length=63,
        pattern=SERVICE_NAME_PATTERN,
        description="The one service the token is for.",
    )
    instance_id: str | None = Field(
        default=None,
        max_length=128,
        description="The caller's registered instance (needed for any audience but discovery).",
    )
    scope: str | None = Field(default=None, max_length=4096, description="Narrow the scopes.")
    subject_token: str | None = Field(default=None, max_length=16384)
    subject_token_type: (
        Literal[
            "urn:eco:params:oauth:token-type:api-key",
            "urn:ietf:params:oauth:token-type:access_token",
            "urn:eco:params:oauth:token-type:run-grant",
            "urn:ietf:params:oauth:token-type:jwt",
        ]
        | None
    ) = None
    requested_token_type: (
        Literal[
            "urn:ietf:params:oauth:token-type:access_token",
            "urn:eco:params:oauth:token-type:run-grant",
        ]
        | None
    ) = None
    resource: str | None = Field(default=None, max_length=150, pattern=RUN_RESOURCE_PATTERN)


class TokenResponse(BaseModel):
    """RFC 6749 / RFC 8693: what the token endpoint answers."""

    access_token: str
    token_type: Literal["Bearer", "N_A"]
    expires_in: int
    scope: str
    issued_token_type: str = ACCESS_TOKEN_TYPE


class IntrospectForm(BaseModel):
    """`POST /auth/introspect` (form-encoded, RFC 7662)."""

    model_config = ConfigDict(extra="ignore")

    token: str = Field(min_length=1, max_length=16384)
    token_type_hint: str | None = Field(default=None, max_length=64)


class Introspection(BaseModel):
    """RFC 7662: whether a token is active and, when it is, what it says."""

    active: bool
    scope: str | None = None
    client_id: str | None = None
    sub: str | None = None
    aud: str | None = None
    iss: str | None = None
    exp: int | None = None
    iat: int | None = None
    nbf: int | None = None
    jti: str | None = None
    token_type: str | None = None
    act: dict[str, Any] | None = None
    key: str | None = None
    grant: str | None = None
    limits: dict[str, Any] | None = None


class WhoAmI(BaseModel):
    """`GET /auth/whoami`: the caller's principal, as the token says it."""

    subject: str
    kind: Literal["user", "service"]
    scopes: list[str]
    actors: list[str]
    acting_chain: list[str]
    key_id: str | None = None
    grant_id: str | None = None
    audience: str
    expires_at: datetime
    limits: dict[str, Any]


class Jwks(BaseModel):
    """The issuer's public signing keys (current first, then the previous one)."""

    keys: list[dict[str, Any]]


__all__ = [
    "ACCESS_TOKEN_TYPE",
    "API_KEY_TYPE",
    "CLIENT_CREDENTIALS",
    "JWT_TYPE",
    "KEY_ID_PATTERN",
    "MAX_GRACE_S",
    "MAX_KEY_TTL_S",
    "RUN_GRANT_TYPE",
    "RUN_RESOURCE_PATTERN",
    "SCOPE_PATTERN",
    "SERVICE_NAME_PATTERN",
    "TOKEN_EXCHANGE",
    "Introspection",
    "IntrospectForm",
    "Jwks",
    "KeyCreate",
    "KeyCreated",
    "KeyList",
    "KeyPublic",
    "KeyRotate",
    "KeyStatus",
    "Scope",
    "TokenForm",
    "TokenResponse",
    "WhoAmI",
]
