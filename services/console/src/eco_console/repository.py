"""All storage of this service (every Redis command is here): signed-in sessions.

A session is one Redis hash under `console:session:<sha256 of the cookie value>`, so the
cookie itself is never a key anyone can list; its TTL is the idle expiry, pushed forward on
every use, and never past the absolute expiry written at sign-in.

The user's API key is sealed (AES-256-GCM) under a key derived by HKDF-SHA256 from the
session id, which only the browser's cookie holds, with the Redis key and the hash's other
fields as associated data: a copy of Redis alone opens no API key, and a hash moved under
another session id or altered in place does not open either (the session then counts as
unknown, and the user signs in again).
"""

from __future__ import annotations

import base64
import hashlib
import json
import secrets
import time
from dataclasses import dataclass

import redis.asyncio as aioredis
import structlog
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

log = structlog.get_logger(__name__)

SEAL_INFO = b"eco-console session api_key v1"
NONCE_BYTES = 12
SEALED_FIELD = "api_key_sealed"


@dataclass(frozen=True, slots=True)
class Session:
    """A signed-in user: who, with which key, and the CSRF token of their forms."""

    id: str
    api_key: str
    subject: str
    key_id: str
    scopes: tuple[str, ...]
    csrf: str
    created_at: float
    expires_at: float


def new_secret() -> str:
    """A random, URL-safe secret (session ids, CSRF tokens)."""
    return secrets.token_urlsafe(32)


def _seal_key(session_id: str) -> AESGCM:
    derived = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=SEAL_INFO).derive(
        session_id.encode()
    )
    return AESGCM(derived)


def bound_to(redis_key: str, fields: dict[str, str]) -> bytes:
    """The associated data of a seal: the Redis key and the hash's plain fields."""
    plain = {k: v for k, v in fields.items() if k != SEALED_FIELD}
    return json.dumps([redis_key, plain], sort_keys=True, separators=(",", ":")).encode()


def seal(session_id: str, associated: bytes, secret: str) -> str:
    """`secret` sealed for this session id and associated data: base64url(nonce || ciphertext)."""
    nonce = secrets.token_bytes(NONCE_BYTES)
    sealed = _seal_key(session_id).encrypt(nonce, secret.encode(), associated)
    return base64.urlsafe_b64encode(nonce + sealed).decode()


def unseal(session_id: str, associated: bytes, value: str) -> str | None:
    """The sealed secret, or None when it was tampered with or sealed for another session."""
    try:
        raw = base64.urlsafe_b64decode(value.encode())
        if len(raw) <= NONCE_BYTES:
            return None
        opened = _seal_key(session_id).decrypt(raw[:NONCE_BYTES], raw[NONCE_BYTES:], associated)
        return opened.decode()
    except (InvalidTag, ValueError):
        return None


class SessionRepository:
    """Sessions in Redis under the console's own namespace (`prefix` + `console:session:`)."""

    def __init__(self, redis: aioredis.Redis, prefix: str, *, idle_s: int, absolute_s: int) -> None:
        self.redis = redis
        self.prefix = prefix
        self.idle_s = idle_s
        self.absolute_s = absolute_s

    def _key(self, session_id: str) -> str:
        return self.prefix + hashlib.sha256(session_id.encode()).hexdigest()

    async def create(
        self, *, api_key: str, subject: str, key_id: str, scopes: list[str]
    ) -> Session:
        now = time.time()
        session = Session(
            id=new_secret(),
            api_key=api_key,
            subject=subject,
            key_id=key_id,
            scopes=tuple(scopes),
            csrf=new_secret(),
            created_at=now,
            expires_at=now + self.absolute_s,
        )
        key = self._key(session.id)
        fields = {
            "subject": session.subject,
            "key_id": session.key_id,
            "scopes": " ".join(session.scopes),
            "csrf": session.csrf,
            "created_at": repr(session.created_at),
            "expires_at": repr(session.expires_at),
        }
        fields[SEALED_FIELD] = seal(session.id, bound_to(key, fields), session.api_key)
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.hset(key, mapping=fields)
            pipe.expire(key, min(self.idle_s, self.absolute_s))
            await pipe.execute()
        return session

    async def get(self, session_id: str) -> Session | None:
        """The live session, its idle expiry pushed forward; None when unknown or expired."""
        if not session_id or len(session_id) > 128:
            return None
        key = self._key(session_id)
        raw = {k.decode(): v.decode() for k, v in (await self.redis.hgetall(key)).items()}
        if not raw:
            return None
        api_key = unseal(session_id, bound_to(key, raw), raw.get(SEALED_FIELD, ""))
        if api_key is None:
            # not this session's hash (copied or altered): it opens for nobody, so drop it
            log.warning("console_session_unsealable", session_key=key)
            await self.redis.delete(key)
            return None
        expires_at = float(raw["expires_at"])
        left = expires_at - time.time()
        if left <= 0:
            await self.redis.delete(key)
            return None
        await self.redis.expire(key, max(1, int(min(self.idle_s, left))))
        return Session(
            id=session_id,
            api_key=api_key,
            subject=raw["subject"],
            key_id=raw.get("key_id", ""),
            scopes=tuple(raw.get("scopes", "").split()),
            csrf=raw["csrf"],
            created_at=float(raw["created_at"]),
            expires_at=expires_at,
        )

    async def delete(self, session_id: str) -> None:
        await self.redis.delete(self._key(session_id))
