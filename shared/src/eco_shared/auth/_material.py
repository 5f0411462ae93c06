"""The local key material in `.eco/auth/` (mode 0700), created on first use.

    signing-keys.json   the issuer's ES256 keys, current first (0600; the issuer only)
    jwks.json           their public halves (any verifier may read it instead of asking)
    pepper              the HMAC pepper API keys are stored under (0600; the issuer only)
    master              derives every service's client secret (0600; the issuer and `eco up`)
    services/<name>     one service's client secret (0600)
    admin.key           the first admin API key, for the CLI (0600)

Compose and Kubernetes mount the same files as secrets; `ECO_AUTH_CLIENT_SECRET` gives a
service its secret directly.
"""

from __future__ import annotations

import base64
import contextlib
import fcntl
import hashlib
import hmac
import os
import secrets
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from eco_shared.auth._apikeys import ApiKey, new_key, parse_key
from eco_shared.auth._tokens import SigningKeys, new_signing_key, write_private


def client_secret(master: bytes, service: str) -> str:
    """A service's client secret, derived from the master secret and its name."""
    digest = hmac.new(master, f"client:{service}".encode(), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


@contextlib.contextmanager
def _locked(directory: Path) -> Iterator[None]:
    with open(directory / ".lock", "a+") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


@dataclass(frozen=True)
class AuthMaterial:
    """Paths into one `.eco/auth/` directory, and what they hold."""

    directory: Path

    @property
    def signing_keys_path(self) -> Path:
        return self.directory / "signing-keys.json"

    @property
    def jwks_path(self) -> Path:
        return self.directory / "jwks.json"

    @property
    def admin_key_path(self) -> Path:
        return self.directory / "admin.key"

    @property
    def redis_acl_path(self) -> Path:
        return self.directory / "redis.acl"

    def exists(self) -> bool:
        return self.signing_keys_path.is_file()

    def signing_keys(self) -> SigningKeys:
        return SigningKeys.load(self.signing_keys_path)

    def pepper(self) -> bytes:
        return (self.directory / "pepper").read_bytes()

    def master(self) -> bytes:
        return (self.directory / "master").read_bytes()

    def client_secret(self, service: str) -> str | None:
        """A service's secret: its own file, else derived from the master, else None."""
        own = self.directory / "services" / service
        if own.is_file():
            return own.read_text().strip()
        if (self.directory / "master").is_file():
            return client_secret(self.master(), service)
        return None

    def admin_key(self) -> ApiKey | None:
        if not self.admin_key_path.is_file():
            return None
        return parse_key(self.admin_key_path.read_text().strip())

    def rotate_signing_keys(self) -> SigningKeys:
        """Make a new current signing key; the previous one keeps verifying."""
        with _locked(self.directory):
            keys = self.signing_keys().rotated()
            keys.save(self.signing_keys_path, self.jwks_path)
        return keys


def ensure_material(directory: Path, *, services: tuple[str, ...] = ()) -> AuthMaterial:
    """Create whatever is missing in `directory` (0700), then return it.

    Safe to call from several processes at once (a file lock); existing files are kept.
    `services` get their own secret files (for a deployment that mounts one per service).
    """
    directory.mkdir(parents=True, exist_ok=True)
    os.chmod(directory, 0o700)
    material = AuthMaterial(directory)
    with _locked(directory):
        if not material.signing_keys_path.is_file():
            SigningKeys([new_signing_key()]).save(material.signing_keys_path, material.jwks_path)
        for name in ("pepper", "master"):
            if not (directory / name).is_file():
                path = directory / name
                fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
                with os.fdopen(fd, "wb") as out:
                    out.write(secrets.token_bytes(32))
        if services:
            (directory / "services").mkdir(mode=0o700, exist_ok=True)
            for name in services:
                path = directory / "services" / name
                if not path.is_file():
                    write_private(path, client_secret(material.master(), name))
        if not material.admin_key_path.is_file():
            write_private(material.admin_key_path, new_key().value + "\n")
    return material
