"""The issuer's signing keys, read from `.eco/auth/signing-keys.json` and re-read when the
file changes, so `AuthMaterial.rotate_signing_keys()` takes effect without a restart."""

from __future__ import annotations

import os
import threading
from typing import Any

import jwt
import structlog

from eco_shared.auth import (
    AuthMaterial,
    InvalidToken,
    SigningKey,
    SigningKeys,
    decode,
    unverified_kid,
)

log = structlog.get_logger(__name__)


class IssuerKeys:
    """The current signing key set; a changed file (mtime, size, inode) is read again."""

    def __init__(self, material: AuthMaterial) -> None:
        self.path = material.signing_keys_path
        self._lock = threading.Lock()
        self._stamp: tuple[int, int, int] | None = None
        self._keys: SigningKeys | None = None
        self._jwks: dict[str, Any] = {"keys": []}
        self.keys()

    def _current_stamp(self) -> tuple[int, int, int]:
        st = os.stat(self.path)
        return (st.st_mtime_ns, st.st_size, st.st_ino)

    def keys(self) -> SigningKeys:
        """The key set as the file says now (the last good one if it cannot be read)."""
        try:
            stamp = self._current_stamp()
        except OSError:
            if self._keys is None:
                raise
            return self._keys
        if stamp != self._stamp or self._keys is None:
            with self._lock:
                if stamp != self._stamp or self._keys is None:
                    try:
                        keys = SigningKeys.load(self.path)
                    except (OSError, ValueError, KeyError) as exc:
                        if self._keys is None:
                            raise
                        log.warning("signing_keys_unreadable", error=str(exc)[:200])
                        return self._keys
                    self._keys, self._jwks, self._stamp = keys, keys.jwks(), stamp
                    log.info("signing_keys_loaded", kids=[k.kid for k in keys.keys])
        return self._keys

    def current(self) -> SigningKey:
        """The key new tokens are signed with."""
        return self.keys().current

    def jwks(self) -> dict[str, Any]:
        """The public JWKS: the current key first, then the previous one."""
        self.keys()
        return self._jwks

    def verify(self, token: str, audience: str) -> dict[str, Any]:
        """The claims of a token this issuer signed for `audience`; InvalidToken otherwise."""
        kid = unverified_kid(token)
        key = next((k for k in self.keys().keys if k.kid == kid), None)
        if key is None:
            raise InvalidToken("the token is signed by a key the issuer does not publish")
        return decode(token, key.private.public_key(), audience=audience)


def unverified_audience(token: str) -> str | None:
    """The single `aud` a token claims, before anything is verified (None if it has not one)."""
    try:
        claims = jwt.decode(token, options={"verify_signature": False})
    except jwt.PyJWTError:
        return None
    aud = claims.get("aud")
    return aud if isinstance(aud, str) else None
