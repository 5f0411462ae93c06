"""Identity and access for every service (DESIGN.md "Identity and access").

`_principal` is who is calling and how scopes match, `_tokens` the ES256 key set and the one
strict decoder, `_apikeys` the user API key format, `_material` the local `.eco/auth/`
directory, `_verifier` token verification with its caches, `_client` getting tokens
(client credentials, API keys, run grants), `_sync` a blocking client-credentials source
for threads (the span exporter), `_fastapi` what routes declare, `_service` what one
running service holds (`state.auth`).

The names below are loaded on first use (PEP 562): a client that needs only `ApiKeyTokens`
(the `eco` CLI) does not import FastAPI, Redis and the JWT stack with it. Type checkers read
the imports under `TYPE_CHECKING`; `_WHERE` says the same at run time, and a test holds the
two equal.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from eco_shared.auth._apikeys import (
        KEY_PATTERN,
        ApiKey,
        MalformedKey,
        key_hash,
        new_key,
        parse_key,
        redact_keys,
    )
    from eco_shared.auth._client import (
        ACCESS_TOKEN_TYPE,
        API_KEY_TYPE,
        JWT_TYPE,
        RUN_GRANT_TYPE,
        TOKEN_EXCHANGE,
        ApiKeyTokens,
        BearerAuth,
        ServiceTokens,
        TokenError,
        TokenProvider,
        acting_for,
        current_grant,
    )
    from eco_shared.auth._fastapi import (
        PUBLIC,
        InsufficientScope,
        Unauthorized,
        auth_openapi,
        check_routes_declared,
        require,
        undeclared_routes,
    )
    from eco_shared.auth._material import AuthMaterial, client_secret, ensure_material
    from eco_shared.auth._principal import (
        ADMIN,
        SERVICE_SUBJECT_PREFIX,
        TRUST_DOMAIN,
        Principal,
        holds,
        narrow,
        scope_covers,
        service_subject,
        user_subject,
    )
    from eco_shared.auth._service import LOCAL_PRINCIPAL, REVOCATIONS_CHANNEL, ServiceAuth
    from eco_shared.auth._sync import SyncServiceTokens, service_secret
    from eco_shared.auth._tokens import (
        ALGORITHM,
        ISSUER,
        MAX_LIFETIME_S,
        InvalidToken,
        SigningKey,
        SigningKeys,
        decode,
        mint,
        new_signing_key,
        unverified_kid,
    )
    from eco_shared.auth._verifier import JwksSource, KeyCheckUnavailable, Verifier

_WHERE: dict[str, str] = {
    "KEY_PATTERN": "_apikeys",
    "ApiKey": "_apikeys",
    "MalformedKey": "_apikeys",
    "key_hash": "_apikeys",
    "new_key": "_apikeys",
    "parse_key": "_apikeys",
    "redact_keys": "_apikeys",
    "ACCESS_TOKEN_TYPE": "_client",
    "API_KEY_TYPE": "_client",
    "JWT_TYPE": "_client",
    "RUN_GRANT_TYPE": "_client",
    "TOKEN_EXCHANGE": "_client",
    "ApiKeyTokens": "_client",
    "BearerAuth": "_client",
    "ServiceTokens": "_client",
    "TokenError": "_client",
    "TokenProvider": "_client",
    "acting_for": "_client",
    "current_grant": "_client",
    "PUBLIC": "_fastapi",
    "InsufficientScope": "_fastapi",
    "Unauthorized": "_fastapi",
    "auth_openapi": "_fastapi",
    "check_routes_declared": "_fastapi",
    "require": "_fastapi",
    "undeclared_routes": "_fastapi",
    "AuthMaterial": "_material",
    "client_secret": "_material",
    "ensure_material": "_material",
    "ADMIN": "_principal",
    "SERVICE_SUBJECT_PREFIX": "_principal",
    "TRUST_DOMAIN": "_principal",
    "Principal": "_principal",
    "holds": "_principal",
    "narrow": "_principal",
    "scope_covers": "_principal",
    "service_subject": "_principal",
    "user_subject": "_principal",
    "LOCAL_PRINCIPAL": "_service",
    "REVOCATIONS_CHANNEL": "_service",
    "ServiceAuth": "_service",
    "SyncServiceTokens": "_sync",
    "service_secret": "_sync",
    "ALGORITHM": "_tokens",
    "ISSUER": "_tokens",
    "MAX_LIFETIME_S": "_tokens",
    "InvalidToken": "_tokens",
    "SigningKey": "_tokens",
    "SigningKeys": "_tokens",
    "decode": "_tokens",
    "mint": "_tokens",
    "new_signing_key": "_tokens",
    "unverified_kid": "_tokens",
    "JwksSource": "_verifier",
    "KeyCheckUnavailable": "_verifier",
    "Verifier": "_verifier",
}


def __getattr__(name: str) -> Any:
    module = _WHERE.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{module}"), name)
    globals()[name] = value  # later reads skip this function
    return value


def __dir__() -> list[str]:
    return sorted([*globals(), *_WHERE])


__all__ = [
    "ACCESS_TOKEN_TYPE",
    "ADMIN",
    "ALGORITHM",
    "API_KEY_TYPE",
    "ISSUER",
    "JWT_TYPE",
    "KEY_PATTERN",
    "LOCAL_PRINCIPAL",
    "MAX_LIFETIME_S",
    "PUBLIC",
    "REVOCATIONS_CHANNEL",
    "RUN_GRANT_TYPE",
    "SERVICE_SUBJECT_PREFIX",
    "TOKEN_EXCHANGE",
    "TRUST_DOMAIN",
    "ApiKey",
    "ApiKeyTokens",
    "AuthMaterial",
    "BearerAuth",
    "InsufficientScope",
    "InvalidToken",
    "JwksSource",
    "KeyCheckUnavailable",
    "MalformedKey",
    "Principal",
    "ServiceAuth",
    "ServiceTokens",
    "SigningKey",
    "SigningKeys",
    "SyncServiceTokens",
    "TokenError",
    "TokenProvider",
    "Unauthorized",
    "Verifier",
    "acting_for",
    "auth_openapi",
    "check_routes_declared",
    "client_secret",
    "current_grant",
    "decode",
    "ensure_material",
    "holds",
    "key_hash",
    "mint",
    "narrow",
    "new_key",
    "new_signing_key",
    "parse_key",
    "redact_keys",
    "require",
    "scope_covers",
    "service_secret",
    "service_subject",
    "undeclared_routes",
    "unverified_kid",
    "user_subject",
]
