"""All storage of this service (every Redis command is here): signed-in sessions.

A session is one Redis hash under `console:session:<sha256 of the cookie value>`, so the
cookie itself is never a key anyone can list; its TTL is the idle expiry, pushed forward on
every use, and never past the absolute expiry written at sign-in.
"""

from __future__ import annotations

import hashlib
import secrets
import time
from dataclasses import dataclass

import redis.asyncio as aioredis


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
            "api_key": session.api_key,
            "subject": session.subject,
            "key_id": session.key_id,
            "scopes": " ".join(session.scopes),
            "csrf": session.csrf,
            "created_at": repr(session.created_at),
            "expires_at": repr(session.expires_at),
        }
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
        expires_at = float(raw["expires_at"])
        left = expires_at - time.time()
        if left <= 0:
            await self.redis.delete(key)
            return None
        await self.redis.expire(key, max(1, int(min(self.idle_s, left))))
        return Session(
            id=session_id,
            api_key=raw["api_key"],
            subject=raw["subject"],
            key_id=raw.get("key_id", ""),
            scopes=tuple(raw.get("scopes", "").split()),
            csrf=raw["csrf"],
            created_at=float(raw["created_at"]),
            expires_at=expires_at,
        )

    async def delete(self, session_id: str) -> None:
        await self.redis.delete(self._key(session_id))
