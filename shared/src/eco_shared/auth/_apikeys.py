"""User API keys: `eco_<key id>_<secret><checksum>`, recognisable and never stored in clear.

A key is `eco_`, a 12-character key id that stays the same across rotations, `_`, a
32-character random secret and a 6-character CRC32 checksum of everything before it, all
base62 (GitHub's token format does the same): a secret scanner or our log redaction can
tell a real key from a look-alike without asking the issuer, and a typo is caught before a
lookup. Only `HMAC-SHA256(pepper, key)` is stored; the pepper lives in a file, not in Redis.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
import zlib
from dataclasses import dataclass

ALPHABET = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
PREFIX = "eco_"
ID_LEN = 12
SECRET_LEN = 32
CHECKSUM_LEN = 6
KEY_PATTERN = re.compile(
    rf"\beco_[0-9A-Za-z]{{{ID_LEN}}}_[0-9A-Za-z]{{{SECRET_LEN + CHECKSUM_LEN}}}\b"
)


class MalformedKey(ValueError):
    """Not an API key of this ecosystem (wrong shape or checksum)."""


def _base62(number: int, width: int) -> str:
    digits = []
    for _ in range(width):
        number, rest = divmod(number, 62)
        digits.append(ALPHABET[rest])
    return "".join(reversed(digits))


def _random(length: int) -> str:
    return "".join(secrets.choice(ALPHABET) for _ in range(length))


def _checksum(body: str) -> str:
    return _base62(zlib.crc32(body.encode()), CHECKSUM_LEN)


@dataclass(frozen=True)
class ApiKey:
    """A parsed key: its stable id and the whole secret string."""

    key_id: str
    value: str

    def __repr__(self) -> str:  # never the secret in a log or a traceback
        return f"ApiKey(key_id={self.key_id!r})"


def new_key(key_id: str | None = None) -> ApiKey:
    """A fresh key; pass `key_id` to rotate (same id, new secret)."""
    key_id = key_id or _random(ID_LEN)
    body = f"{PREFIX}{key_id}_{_random(SECRET_LEN)}"
    return ApiKey(key_id, body + _checksum(body))


def parse_key(value: str) -> ApiKey:
    """Check a key's shape and checksum; MalformedKey when it is not one of ours."""
    if not KEY_PATTERN.fullmatch(value):
        raise MalformedKey("not an eco API key")
    body, checksum = value[:-CHECKSUM_LEN], value[-CHECKSUM_LEN:]
    if not hmac.compare_digest(_checksum(body), checksum):
        raise MalformedKey("the API key's checksum does not match")
    return ApiKey(value[len(PREFIX) : len(PREFIX) + ID_LEN], value)


def key_hash(pepper: bytes, value: str) -> str:
    """What is stored for a key: HMAC-SHA256 under the pepper, hex."""
    return hmac.new(pepper, value.encode(), hashlib.sha256).hexdigest()


def redact_keys(text: str) -> str:
    """Replace every API key in `text` by its id (`eco_<id>_…`)."""
    return KEY_PATTERN.sub(lambda m: m.group(0)[: len(PREFIX) + ID_LEN] + "_…", text)
