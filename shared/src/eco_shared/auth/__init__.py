"""Identity and access for every service (DESIGN.md "Identity and access").

`_principal` is who is calling and how scopes match, `_tokens` the ES256 key set and the one
strict decoder, `_apikeys` the user API key format, `_material` the local `.eco/auth/`
directory, `_verifier` token verification with its caches, `_client` getting tokens
(client credentials, API keys, run grants), `_sync` a blocking client-credentials source
for threads (the span exporter), `_fastapi` what routes declare, `_service` what one
running service holds (`state.auth`).
"""

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
    authenticate,
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
    "authenticate",
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
