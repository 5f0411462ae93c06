"""The token endpoint's grants, and introspection (the wire protocol is the docstring of
`eco_shared.auth._client`).

- client credentials: a service's secret (compared in constant time with the one derived
  for its name) -> a token as that service. For any audience but discovery the token is
  bound to the discovery lease: `instance_id` must name a registration of that service.
- token exchange, API key: a user's key -> a token as the key's owner, with the key's
  scopes, `key` and `limits`; lifetime capped at the key's expiry.
- token exchange, access token -> run grant; run grant -> a token acting for the user
  (`_grants`).
- token exchange, JWT: a Kubernetes service-account token -> a token as that service.
"""

from __future__ import annotations

import hmac
from collections.abc import Awaitable, Callable
from typing import Any

from eco_discovery.service.issuer._audit import Audit
from eco_discovery.service.issuer._grants import Grants
from eco_discovery.service.issuer._k8s import K8sRefused, K8sTokens
from eco_discovery.service.issuer._keys import KeyManager, KeyRefused
from eco_discovery.service.issuer._policy import (
    TokenRefused,
    is_service_name,
    narrowed,
    service_policy,
)
from eco_discovery.service.issuer._signing import IssuerKeys, unverified_audience
from eco_shared.auth import (
    ACCESS_TOKEN_TYPE,
    ADMIN,
    API_KEY_TYPE,
    JWT_TYPE,
    KEY_PATTERN,
    MAX_LIFETIME_S,
    RUN_GRANT_TYPE,
    AuthMaterial,
    InvalidToken,
    Principal,
    mint,
)
from eco_shared.auth import service_subject as spiffe_id
from eco_shared.models.discovery_auth import (
    CLIENT_CREDENTIALS,
    Introspection,
    TokenForm,
    TokenResponse,
)

# instance id -> the service name it is registered under (None: not registered)
LeaseOf = Callable[[str], Awaitable[str | None]]
AUDITED_ERRORS = frozenset({"invalid_client", "invalid_grant"})


class Issuer:
    """Mints tokens for `POST /auth/token` and answers `POST /auth/introspect`."""

    def __init__(
        self,
        keys: IssuerKeys,
        material: AuthMaterial,
        api_keys: KeyManager,
        grants: Grants,
        audit: Audit,
        lease_of: LeaseOf,
        k8s: K8sTokens | None = None,
    ) -> None:
        self.keys = keys
        self.material = material
        self.api_keys = api_keys
        self.grants = grants
        self.audit = audit
        self.lease_of = lease_of
        self.k8s = k8s

    def mint(
        self,
        *,
        subject: str,
        audience: str,
        scopes: frozenset[str],
        lifetime_s: float = MAX_LIFETIME_S,
        claims: dict[str, Any] | None = None,
    ) -> TokenResponse:
        lifetime = max(1, min(MAX_LIFETIME_S, int(lifetime_s)))
        token = mint(
            self.keys.current(),
            subject=subject,
            audience=audience,
            scopes=scopes,
            lifetime_s=lifetime,
            extra=claims,
        )
        return TokenResponse(
            access_token=token,
            token_type="Bearer",
            expires_in=lifetime,
            scope=" ".join(sorted(scopes)),
            issued_token_type=ACCESS_TOKEN_TYPE,
        )

    async def token(self, form: TokenForm, *, client_host: str | None = None) -> TokenResponse:
        """Answer one token request; TokenRefused (RFC 6749 error) when it is refused."""
        try:
            return await self._grant(form)
        except TokenRefused as exc:
            if exc.error in AUDITED_ERRORS:
                await self.audit.record("token.refused", _refusal(form, exc, client_host))
            raise

    async def _grant(self, form: TokenForm) -> TokenResponse:
        if form.grant_type == CLIENT_CREDENTIALS:
            client = self._client(form)
            return await self._service_token(client, form)
        if not form.subject_token or not form.subject_token_type:
            raise TokenRefused(
                "invalid_request", "a token exchange needs subject_token and subject_token_type"
            )
        if form.subject_token_type == API_KEY_TYPE:
            return await self._from_api_key(form)
        if form.subject_token_type == JWT_TYPE:
            return await self._from_k8s(form)
        client = self._client(form)
        if form.subject_token_type == ACCESS_TOKEN_TYPE:
            return await self.grants.issue(client, form)
        assert form.subject_token_type == RUN_GRANT_TYPE
        audience = _audience(form)
        delegation = await self.grants.redeem(client, form.subject_token, audience)
        return self.mint(
            subject=delegation.subject,
            audience=audience,
            scopes=narrowed(delegation.scopes, form.scope),
            lifetime_s=delegation.lifetime_s,
            claims=delegation.claims,
        )

    def _client(self, form: TokenForm) -> str:
        """The authenticated client's service name; invalid_client otherwise."""
        if not form.client_id or not form.client_secret:
            raise TokenRefused(
                "invalid_client", "client authentication is required (client_id, client_secret)"
            )
        expected = self.material.client_secret(form.client_id)
        if expected is None or not hmac.compare_digest(
            expected.encode(), form.client_secret.encode()
        ):
            raise TokenRefused("invalid_client", "client authentication failed")
        return form.client_id

    async def _bound_to_lease(self, service: str, audience: str, instance_id: str | None) -> None:
        """Tokens for other services only for an instance holding a discovery lease."""
        if audience == "discovery":
            return
        if not instance_id:
            raise TokenRefused(
                "invalid_grant",
                f"a token for {audience} needs instance_id, a registered instance of {service}",
            )
        if await self.lease_of(instance_id) != service:
            raise TokenRefused(
                "invalid_grant", f"instance {instance_id!r} is not registered as {service}"
            )

    async def _service_token(
        self, service: str, form: TokenForm, *, via: str | None = None
    ) -> TokenResponse:
        audience = _audience(form)
        await self._bound_to_lease(service, audience, form.instance_id)
        claims = {"via": via} if via else None
        return self.mint(
            subject=spiffe_id(service),
            audience=audience,
            scopes=narrowed(service_policy(service), form.scope),
            claims=claims,
        )

    async def _from_api_key(self, form: TokenForm) -> TokenResponse:
        audience = _audience(form)
        assert form.subject_token is not None
        try:
            record = await self.api_keys.authenticate(form.subject_token)
        except KeyRefused as exc:
            raise TokenRefused("invalid_grant", str(exc)) from None
        claims: dict[str, Any] = {"key": record.key_id}
        limits = record.limits()
        if limits:
            claims["limits"] = limits
        left = record.seconds_left()
        return self.mint(
            subject=record.owner,
            audience=audience,
            scopes=narrowed(frozenset(record.scopes), form.scope),
            lifetime_s=min(MAX_LIFETIME_S, left) if left is not None else MAX_LIFETIME_S,
            claims=claims,
        )

    async def _from_k8s(self, form: TokenForm) -> TokenResponse:
        if self.k8s is None:
            raise TokenRefused(
                "invalid_grant",
                "this issuer accepts no Kubernetes service-account tokens "
                "(ECO_AUTH_K8S_JWKS_URL is not set)",
            )
        assert form.subject_token is not None
        try:
            service = await self.k8s.service_of(form.subject_token)
        except K8sRefused as exc:
            raise TokenRefused("invalid_grant", str(exc)) from None
        if not is_service_name(service):
            raise TokenRefused("invalid_grant", f"{service!r} is not a service name")
        return await self._service_token(service, form, via="kubernetes")

    async def introspect(self, caller: Principal, token: str) -> Introspection:
        """RFC 7662. A service learns only about tokens meant for itself."""
        audience = unverified_audience(token)
        if audience is None or not (caller.has(ADMIN) or caller.service_name == audience):
            return Introspection(active=False)
        try:
            claims = self.keys.verify(token, audience=audience)
        except InvalidToken:
            return Introspection(active=False)
        key_id = claims.get("key")
        if isinstance(key_id, str) and not await self.api_keys.is_active(key_id):
            return Introspection(active=False)
        act = claims.get("act") if isinstance(claims.get("act"), dict) else None
        return Introspection(
            active=True,
            scope=str(claims.get("scope", "")),
            client_id=str(act["sub"]) if act and "sub" in act else str(claims["sub"]),
            sub=str(claims["sub"]),
            aud=audience,
            iss=str(claims["iss"]),
            exp=int(claims["exp"]),
            iat=int(claims["iat"]),
            nbf=int(claims["nbf"]),
            jti=str(claims["jti"]) if "jti" in claims else None,
            token_type="Bearer",
            act=act,
            key=key_id if isinstance(key_id, str) else None,
            grant=claims.get("grant") if isinstance(claims.get("grant"), str) else None,
            limits=claims.get("limits") if isinstance(claims.get("limits"), dict) else None,
        )


def _audience(form: TokenForm) -> str:
    if not form.audience:
        raise TokenRefused("invalid_request", "audience names the one service the token is for")
    return form.audience


def _refusal(form: TokenForm, exc: TokenRefused, client_host: str | None) -> dict[str, Any]:
    """What an audit entry says about a refused request: no secret, a key's id at most."""
    key_id = None
    if form.subject_token_type == API_KEY_TYPE and form.subject_token:
        found = KEY_PATTERN.fullmatch(form.subject_token)
        key_id = found.group(0)[4:16] if found else None
    return {
        "grant_type": form.grant_type,
        "subject_token_type": form.subject_token_type,
        "client_id": form.client_id,
        "audience": form.audience,
        "instance_id": form.instance_id,
        "key_id": key_id,
        "error": exc.error,
        "reason": exc.detail,
        "client": client_host,
    }
