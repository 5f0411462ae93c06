"""API keys: created for a principal, listed, rotated, revoked, and checked when presented.

A key never holds more than its creator: its scopes are the creator's unless narrowed (asking
for a scope the creator lacks is 403), and when the creator's own token came from a key,
the new key inherits that key's model allowlist, budget, rate and expiry as upper bounds.
Only `HMAC-SHA256(pepper, key)` is stored; after a rotation the old secret's HMAC is kept
until its grace period ends.
"""

from __future__ import annotations

import hmac
import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from eco_discovery.repository import KeyStore
from eco_discovery.service.issuer._audit import Audit
from eco_shared.auth import (
    ADMIN,
    ApiKey,
    InsufficientScope,
    MalformedKey,
    Principal,
    key_hash,
    new_key,
    parse_key,
    user_subject,
)
from eco_shared.models.discovery_auth import (
    KeyCreate,
    KeyCreated,
    KeyList,
    KeyPublic,
    KeyRotate,
    KeyStatus,
)
from eco_shared.problems import NotFound

BOOTSTRAP_OWNER = user_subject("admin")


def now_ms() -> int:
    return int(time.time() * 1000)


def _when(ms: int | None) -> datetime | None:
    return None if ms is None else datetime.fromtimestamp(ms / 1000, UTC)


def _iso(ms: int | None) -> str | None:
    when = _when(ms)
    return when.isoformat(timespec="milliseconds").replace("+00:00", "Z") if when else None


def _int(fields: dict[str, str], name: str) -> int | None:
    value = fields.get(name)
    return int(value) if value not in (None, "") else None


class KeyRefused(Exception):
    """A presented key that must not be accepted; the message says why."""


@dataclass(frozen=True)
class KeyRecord:
    """One stored API key."""

    key_id: str
    name: str
    owner: str
    scopes: tuple[str, ...]
    models: tuple[str, ...] | None
    budget_tokens: int | None
    rpm: int | None
    created_at_ms: int
    created_by: str
    expires_at_ms: int | None
    rotated_at_ms: int | None
    prev_until_ms: int | None
    revoked_at_ms: int | None
    hash: str
    prev_hash: str | None

    @classmethod
    def of(cls, fields: dict[str, str]) -> KeyRecord:
        models = fields.get("models")
        return cls(
            key_id=fields["key_id"],
            name=fields.get("name", ""),
            owner=fields["owner"],
            scopes=tuple(json.loads(fields.get("scopes", "[]"))),
            models=tuple(json.loads(models)) if models else None,
            budget_tokens=_int(fields, "budget_tokens"),
            rpm=_int(fields, "rpm"),
            created_at_ms=_int(fields, "created_at") or 0,
            created_by=fields.get("created_by", ""),
            expires_at_ms=_int(fields, "expires_at"),
            rotated_at_ms=_int(fields, "rotated_at"),
            prev_until_ms=_int(fields, "prev_until"),
            revoked_at_ms=_int(fields, "revoked_at"),
            hash=fields.get("hash", ""),
            prev_hash=fields.get("prev_hash") or None,
        )

    def status(self, now: int | None = None) -> KeyStatus:
        if self.revoked_at_ms is not None:
            return "revoked"
        if self.expires_at_ms is not None and self.expires_at_ms <= (now or now_ms()):
            return "expired"
        return "active"

    def limits(self) -> dict[str, Any]:
        """The `limits` claim of tokens minted from this key (absent limits left out)."""
        limits: dict[str, Any] = {}
        if self.models is not None:
            limits["models"] = list(self.models)
        if self.rpm is not None:
            limits["rpm"] = self.rpm
        if self.budget_tokens is not None:
            limits["budget_tokens"] = self.budget_tokens
        return limits

    def seconds_left(self, now: int | None = None) -> float | None:
        if self.expires_at_ms is None:
            return None
        return max(0.0, (self.expires_at_ms - (now or now_ms())) / 1000)

    def public(self) -> KeyPublic:
        now = now_ms()
        grace = self.prev_until_ms if self.prev_hash and (self.prev_until_ms or 0) > now else None
        return KeyPublic(
            key_id=self.key_id,
            name=self.name,
            owner=self.owner,
            scopes=list(self.scopes),
            models=list(self.models) if self.models is not None else None,
            budget_tokens=self.budget_tokens,
            rpm=self.rpm,
            status=self.status(now),
            created_at=_when(self.created_at_ms) or datetime.now(UTC),
            created_by=self.created_by,
            expires_at=_when(self.expires_at_ms),
            rotated_at=_when(self.rotated_at_ms),
            previous_secret_valid_until=_when(grace),
            revoked_at=_when(self.revoked_at_ms),
        )


def _bounded(mine: int | None, creator: int | None) -> int | None:
    if creator is None:
        return mine
    return creator if mine is None else min(mine, creator)


class KeyManager:
    """The `/auth/keys` operations, and the check of a presented key."""

    def __init__(
        self,
        store: KeyStore,
        pepper: bytes,
        audit: Audit,
        *,
        revocations_channel: str,
        on_revoked: Callable[[str], None] | None = None,
    ) -> None:
        self.store = store
        self._pepper = pepper
        self.audit = audit
        self.revocations_channel = revocations_channel
        # the issuer's own verifier forgets the key's status at once (others hear PUBLISH)
        self.on_revoked = on_revoked

    async def record(self, key_id: str) -> KeyRecord | None:
        fields = await self.store.get(key_id)
        return KeyRecord.of(fields) if fields else None

    async def _visible(self, caller: Principal, key_id: str) -> KeyRecord:
        """The key if the caller may see it; 404 otherwise, exactly as for an unknown id."""
        record = await self.record(key_id)
        if record is None or not (record.owner == caller.owner or caller.sees_all("auth:keys")):
            raise NotFound("API key", key_id, f"No API key {key_id}.")
        return record

    async def _live(self, caller: Principal, key_id: str) -> KeyRecord:
        """A visible key that is not revoked (a revoked key reads as deleted: 404)."""
        record = await self._visible(caller, key_id)
        if record.revoked_at_ms is not None:
            revoked = _iso(record.revoked_at_ms)
            raise NotFound(
                "API key",
                key_id,
                f"API key {key_id} was revoked at {revoked}.",
                title="API key revoked",
                revoked_at=revoked,
            )
        return record

    async def _creator_key(self, caller: Principal) -> KeyRecord | None:
        return await self.record(caller.key_id) if caller.key_id else None

    async def create(self, caller: Principal, body: KeyCreate) -> KeyCreated:
        """A new key owned by the caller; 403 when it asks for a scope the caller lacks."""
        scopes = sorted(set(body.scopes)) if body.scopes is not None else sorted(caller.scopes)
        missing = [s for s in scopes if not caller.has(s)]
        if missing:
            raise InsufficientScope(scopes, missing)
        now = now_ms()
        expiry = [int(body.expires_at.timestamp() * 1000)] if body.expires_at else []
        if body.ttl_s is not None:
            expiry.append(now + int(body.ttl_s * 1000))
        models = list(dict.fromkeys(body.models)) if body.models is not None else None
        budget, rpm = body.budget_tokens, body.rpm
        creator = await self._creator_key(caller)
        if creator is not None:
            if creator.expires_at_ms is not None:
                expiry.append(creator.expires_at_ms)
            if creator.models is not None:
                allowed = creator.models
                models = [m for m in models if m in allowed] if models is not None else [*allowed]
            budget = _bounded(budget, creator.budget_tokens)
            rpm = _bounded(rpm, creator.rpm)
        fields: dict[str, str] = {
            "name": body.name,
            "owner": caller.owner,
            "scopes": json.dumps(scopes),
            "created_at": str(now),
            "created_by": caller.subject,
        }
        if expiry:
            fields["expires_at"] = str(min(expiry))
        if models is not None:
            fields["models"] = json.dumps(models)
        if budget is not None:
            fields["budget_tokens"] = str(budget)
        if rpm is not None:
            fields["rpm"] = str(rpm)
        key = await self._store_new(caller.owner, fields)
        record = await self.record(key.key_id)
        assert record is not None
        await self.audit.record(
            "key.created",
            {
                "key_id": key.key_id,
                "owner": record.owner,
                "scopes": list(record.scopes),
                "by": caller.subject,
                "acting_chain": caller.acting_chain(),
                "expires_at": _iso(record.expires_at_ms),
            },
        )
        return KeyCreated(**record.public().model_dump(), key=key.value)

    async def _store_new(self, owner: str, fields: dict[str, str]) -> ApiKey:
        for _ in range(3):  # 62^12 ids: a collision is a curiosity, retried
            key = new_key()
            record = {
                "key_id": key.key_id,
                **fields,
                "hash": key_hash(self._pepper, key.value),
            }
            if await self.store.create(key.key_id, owner, record):
                return key
        raise RuntimeError("could not allocate an API key id")

    async def list(self, caller: Principal, *, include_revoked: bool = False) -> KeyList:
        """The caller's keys (everyone's for `auth:keys:all` or admin)."""
        everyone = caller.sees_all("auth:keys")
        ids = await self.store.ids(None if everyone else caller.owner)
        records = [KeyRecord.of(f) for f in await self.store.many(ids)]
        items = [
            r.public()
            for r in sorted(records, key=lambda r: (r.created_at_ms, r.key_id))
            if include_revoked or r.revoked_at_ms is None
        ]
        return KeyList(items=items)

    async def get(self, caller: Principal, key_id: str) -> KeyPublic:
        return (await self._live(caller, key_id)).public()

    async def rotate(self, caller: Principal, key_id: str, body: KeyRotate) -> KeyCreated:
        """A new secret for the same key id; the old one works for `grace_s` more."""
        await self._live(caller, key_id)
        key = new_key(key_id)
        now = now_ms()
        until = now + int(body.grace_s * 1000)
        if not await self.store.rotate(key_id, key_hash(self._pepper, key.value), until, now):
            await self._live(caller, key_id)  # revoked meanwhile: its 404
            raise NotFound("API key", key_id, f"No API key {key_id}.")
        record = await self.record(key_id)
        assert record is not None
        await self.audit.record(
            "key.rotated",
            {
                "key_id": key_id,
                "owner": record.owner,
                "scopes": list(record.scopes),
                "by": caller.subject,
                "grace_s": body.grace_s,
            },
        )
        return KeyCreated(**record.public().model_dump(), key=key.value)

    async def revoke(self, caller: Principal, key_id: str) -> None:
        """Revoke at once, and tell every service (idempotent: a revoked key stays so)."""
        record = await self._visible(caller, key_id)
        if await self.store.revoke(key_id, now_ms(), caller.subject) != 1:
            return
        if self.on_revoked is not None:
            self.on_revoked(key_id)
        await self.store.announce_revocation(self.revocations_channel, key_id)
        await self.audit.record(
            "key.revoked",
            {
                "key_id": key_id,
                "owner": record.owner,
                "scopes": list(record.scopes),
                "by": caller.subject,
            },
        )

    async def authenticate(self, value: str) -> KeyRecord:
        """The record of a presented key; KeyRefused unless it is valid right now."""
        try:
            parsed = parse_key(value)
        except MalformedKey as exc:
            raise KeyRefused(str(exc)) from None
        record = await self.record(parsed.key_id)
        if record is None:
            raise KeyRefused("the API key is not valid")
        presented = key_hash(self._pepper, parsed.value)
        now = now_ms()
        current = hmac.compare_digest(presented, record.hash)
        previous = (
            record.prev_hash is not None
            and hmac.compare_digest(presented, record.prev_hash)
            and (record.prev_until_ms or 0) > now
        )
        if not (current or previous):
            if record.prev_hash is not None and hmac.compare_digest(presented, record.prev_hash):
                raise KeyRefused("the API key was rotated and its old secret's grace period ended")
            raise KeyRefused("the API key is not valid")
        status = record.status(now)
        if status != "active":
            raise KeyRefused(f"the API key has been {status}")
        return record

    async def is_active(self, key_id: str) -> bool:
        """Whether tokens naming this key may still be honoured."""
        record = await self.record(key_id)
        return record is not None and record.status() == "active"

    async def bootstrap(self, key: ApiKey) -> bool:
        """Make sure the admin key exists (idempotent; a revoked one stays revoked)."""
        fields = {
            "key_id": key.key_id,
            "name": "bootstrap admin",
            "owner": BOOTSTRAP_OWNER,
            "scopes": json.dumps([ADMIN]),
            "created_at": str(now_ms()),
            "created_by": "bootstrap",
            "hash": key_hash(self._pepper, key.value),
        }
        created = await self.store.create(key.key_id, BOOTSTRAP_OWNER, fields)
        if created:
            await self.audit.record(
                "key.created",
                {
                    "key_id": key.key_id,
                    "owner": BOOTSTRAP_OWNER,
                    "scopes": [ADMIN],
                    "by": "bootstrap",
                },
            )
        return created
