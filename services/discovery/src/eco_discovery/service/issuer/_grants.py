"""Run grants: a user's token, exchanged by the service it was meant for, for a grant bound
to one run; the grant, redeemed by that same service only, for tokens acting for the user.

A grant is `ecogrant_<id>_<secret>`; only its HMAC under the pepper is stored (24 h). Every
redemption checks the user's API key again, so revoking the key (or its expiry) stops a
run from acting for its user at its next call.
"""

from __future__ import annotations

import hmac
import json
import re
import secrets
import time
from dataclasses import dataclass
from typing import Any

from eco_discovery.repository import KeyStore
from eco_discovery.service.issuer._audit import Audit
from eco_discovery.service.issuer._keys import KeyManager
from eco_discovery.service.issuer._policy import TokenRefused, service_policy
from eco_discovery.service.issuer._signing import IssuerKeys
from eco_shared.auth import MAX_LIFETIME_S, RUN_GRANT_TYPE, InvalidToken, key_hash, narrow
from eco_shared.auth import service_subject as spiffe_id
from eco_shared.models.discovery_auth import TokenForm, TokenResponse

GRANT_PREFIX = "ecogrant_"
_GRANT = re.compile(r"^ecogrant_([0-9a-f]{24})_([A-Za-z0-9_-]{43})$")


@dataclass(frozen=True)
class Delegation:
    """What a redeemed grant lets the client mint: the user's subject, narrowed scopes."""

    subject: str
    scopes: frozenset[str]
    claims: dict[str, Any]
    lifetime_s: int


class Grants:
    """Issues run grants and redeems them."""

    def __init__(
        self,
        store: KeyStore,
        pepper: bytes,
        keys: IssuerKeys,
        api_keys: KeyManager,
        audit: Audit,
        *,
        ttl_s: float,
    ) -> None:
        self.store = store
        self._pepper = pepper
        self.keys = keys
        self.api_keys = api_keys
        self.audit = audit
        self.ttl_s = ttl_s

    async def issue(self, client: str, form: TokenForm) -> TokenResponse:
        """A user's access token (meant for `client`) -> a grant for the run in `resource`."""
        if form.requested_token_type != RUN_GRANT_TYPE:
            raise TokenRefused(
                "invalid_request",
                f"an access token is exchanged only for a run grant: "
                f"requested_token_type={RUN_GRANT_TYPE}",
            )
        if not form.resource:
            raise TokenRefused("invalid_request", "resource=urn:eco:run:<id> names the run")
        assert form.subject_token is not None
        try:
            claims = self.keys.verify(form.subject_token, audience=client)
        except InvalidToken as exc:
            raise TokenRefused(
                "invalid_grant", f"the subject token is not a valid token for {client}: {exc}"
            ) from None
        key_id = claims.get("key") if isinstance(claims.get("key"), str) else None
        ttl_s = self.ttl_s
        if key_id is not None:
            record = await self.api_keys.record(key_id)
            if record is None or record.status() != "active":
                raise TokenRefused("invalid_grant", "the user's API key is no longer valid")
            left = record.seconds_left()
            ttl_s = min(ttl_s, left) if left is not None else ttl_s
        scopes = sorted(set(str(claims.get("scope", "")).split()))
        grant_id = secrets.token_hex(12)
        value = f"{GRANT_PREFIX}{grant_id}_{secrets.token_urlsafe(32)}"
        limits = claims.get("limits") if isinstance(claims.get("limits"), dict) else {}
        await self.store.create_grant(
            grant_id,
            {
                "hash": key_hash(self._pepper, value),
                "client": client,
                "sub": str(claims["sub"]),
                "scopes": scopes,
                "key_id": key_id or "",
                "act": claims.get("act") if isinstance(claims.get("act"), dict) else None,
                "limits": limits,
                "resource": form.resource,
                "created_at": str(int(time.time() * 1000)),
            },
            ttl_s,
        )
        await self.audit.record(
            "grant.issued",
            {
                "grant_id": grant_id,
                "sub": str(claims["sub"]),
                "client": client,
                "resource": form.resource,
                "key_id": key_id,
                "scopes": scopes,
            },
        )
        return TokenResponse(
            access_token=value,
            token_type="N_A",
            expires_in=max(1, int(ttl_s)),
            scope=" ".join(scopes),
            issued_token_type=RUN_GRANT_TYPE,
        )

    async def redeem(self, client: str, value: str, audience: str) -> Delegation:
        """A grant held by `client` -> what a token for `audience` acting for its user may say.

        Its scopes are those both the client's policy and the grant hold, plus the target
        service's own `<audience>:read` / `<audience>:write` where the user holds them (a
        service added from the template, whose scopes no policy names)."""
        match = _GRANT.fullmatch(value)
        if match is None:
            raise TokenRefused("invalid_grant", "not a run grant")
        grant_id = match.group(1)
        found = await self.store.grant(grant_id)
        if found is None or not hmac.compare_digest(
            key_hash(self._pepper, value), found[0].get("hash", "")
        ):
            raise TokenRefused("invalid_grant", "the run grant is unknown or has expired")
        fields, ttl_left = found
        if fields.get("client") != client:
            raise TokenRefused("invalid_grant", "the run grant was issued to another client")
        lifetime = min(float(MAX_LIFETIME_S), ttl_left)
        key_id = fields.get("key_id") or None
        limits: dict[str, Any] = json.loads(fields.get("limits") or "{}")
        if key_id is not None:
            record = await self.api_keys.record(key_id)
            status = record.status() if record is not None else "revoked"
            if record is None or status != "active":
                raise TokenRefused(
                    "invalid_grant",
                    f"the user's API key has been {status}: the run may not act for its user",
                )
            limits = record.limits()
            left = record.seconds_left()
            lifetime = min(lifetime, left) if left is not None else lifetime
        act: dict[str, Any] = {"sub": spiffe_id(client)}
        prior = json.loads(fields.get("act") or "null")
        if isinstance(prior, dict):
            act["act"] = prior
        claims: dict[str, Any] = {"act": act, "grant": grant_id}
        if fields.get("resource"):
            # the run the grant is bound to, so a service can record it from a verified token
            claims["resource"] = fields["resource"]
        if key_id is not None:
            claims["key"] = key_id
        if limits:
            claims["limits"] = limits
        return Delegation(
            subject=fields["sub"],
            scopes=narrow(
                {*service_policy(client), f"{audience}:read", f"{audience}:write"},
                json.loads(fields.get("scopes", "[]")),
            ),
            claims=claims,
            lifetime_s=max(1, int(lifetime)),
        )
