"""ES256 tokens: the signing key set, minting, and the one strict way to decode.

Only ES256 is ever accepted: `none` and every HMAC algorithm are refused before a key is
looked at (no key-confusion), every token carries exactly one audience, and `iss`, `exp`,
`nbf`, `iat` and `aud` are always required and checked.
"""

from __future__ import annotations

import json
import os
import secrets
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jwt
from cryptography.hazmat.primitives.asymmetric import ec
from jwt.algorithms import ECAlgorithm

ALGORITHM = "ES256"
ISSUER = "spiffe://eco.local"
MAX_LIFETIME_S = 300
LEEWAY_S = 5


class InvalidToken(Exception):
    """A token that must not be accepted; the message says why (safe to show the caller)."""


@dataclass(frozen=True)
class SigningKey:
    kid: str
    private: ec.EllipticCurvePrivateKey

    def public_jwk(self) -> dict[str, Any]:
        jwk: dict[str, Any] = json.loads(ECAlgorithm.to_jwk(self.private.public_key()))
        return {**jwk, "kid": self.kid, "alg": ALGORITHM, "use": "sig"}

    def private_jwk(self) -> dict[str, Any]:
        jwk: dict[str, Any] = json.loads(ECAlgorithm.to_jwk(self.private))
        return {**jwk, "kid": self.kid, "alg": ALGORITHM}


def new_signing_key() -> SigningKey:
    return SigningKey(secrets.token_hex(8), ec.generate_private_key(ec.SECP256R1()))


class SigningKeys:
    """The issuer's key set: the current key signs, the previous one still verifies."""

    def __init__(self, keys: list[SigningKey]) -> None:
        if not keys:
            raise ValueError("a signing key set needs at least one key")
        self.keys = keys

    @property
    def current(self) -> SigningKey:
        return self.keys[0]

    def jwks(self) -> dict[str, Any]:
        """The public JSON Web Key Set (current and previous keys)."""
        return {"keys": [k.public_jwk() for k in self.keys]}

    def rotated(self) -> SigningKeys:
        """A new current key; the old current stays as the previous, older ones go."""
        return SigningKeys([new_signing_key(), self.current])

    @classmethod
    def load(cls, path: Path) -> SigningKeys:
        data = json.loads(path.read_text())
        keys = []
        for jwk in data["keys"]:
            private = ECAlgorithm.from_jwk(json.dumps(jwk))
            if not isinstance(private, ec.EllipticCurvePrivateKey):
                raise ValueError(f"{path}: key {jwk.get('kid')} is not an EC private key")
            keys.append(SigningKey(str(jwk["kid"]), private))
        return cls(keys)

    def save(self, path: Path, jwks_path: Path | None = None) -> None:
        """Write the private set (mode 0600) and, optionally, the public JWKS beside it."""
        write_private(path, json.dumps({"keys": [k.private_jwk() for k in self.keys]}))
        if jwks_path is not None:
            tmp = jwks_path.with_suffix(".tmp")
            tmp.write_text(json.dumps(self.jwks()))
            os.replace(tmp, jwks_path)


def write_private(path: Path, text: str) -> None:
    """Write a secret file atomically, readable by its owner only."""
    tmp = path.with_name(path.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as out:
        out.write(text)
    os.replace(tmp, path)


def mint(
    key: SigningKey,
    *,
    subject: str,
    audience: str,
    scopes: frozenset[str] | set[str] | list[str],
    lifetime_s: int = MAX_LIFETIME_S,
    issuer: str = ISSUER,
    extra: Mapping[str, Any] | None = None,
    now: float | None = None,
) -> str:
    """Sign one access token for one audience (lifetime capped at five minutes)."""
    issued = int(now if now is not None else time.time())
    claims: dict[str, Any] = {
        "iss": issuer,
        "sub": subject,
        "aud": audience,
        "iat": issued,
        "nbf": issued,
        "exp": issued + min(lifetime_s, MAX_LIFETIME_S),
        "jti": secrets.token_hex(12),
        "scope": " ".join(sorted(scopes)),
        **(extra or {}),
    }
    return jwt.encode(claims, key.private, algorithm=ALGORITHM, headers={"kid": key.kid})


def unverified_kid(token: str) -> str:
    """The `kid` of a token whose header names ES256; InvalidToken for anything else."""
    try:
        header = jwt.get_unverified_header(token)
    except jwt.PyJWTError as exc:
        raise InvalidToken("the token is malformed") from exc
    if header.get("alg") != ALGORITHM:
        raise InvalidToken(f"the token's algorithm {header.get('alg')!r} is not accepted")
    kid = header.get("kid")
    if not isinstance(kid, str) or not kid:
        raise InvalidToken("the token names no signing key")
    return kid


def decode(token: str, public_key: Any, *, audience: str, issuer: str = ISSUER) -> dict[str, Any]:
    """Verify signature and claims; InvalidToken (with the reason) when anything is off."""
    try:
        claims: dict[str, Any] = jwt.decode(
            token,
            public_key,
            algorithms=[ALGORITHM],
            audience=audience,
            issuer=issuer,
            leeway=LEEWAY_S,
            options={"require": ["iss", "sub", "aud", "exp", "nbf", "iat"], "strict_aud": True},
        )
    except jwt.ExpiredSignatureError as exc:
        raise InvalidToken("the token has expired") from exc
    except jwt.InvalidAudienceError as exc:
        raise InvalidToken(f"the token is not meant for {audience}") from exc
    except jwt.InvalidIssuerError as exc:
        raise InvalidToken("the token's issuer is not trusted") from exc
    except jwt.InvalidSignatureError as exc:
        raise InvalidToken("the token's signature does not verify") from exc
    except jwt.PyJWTError as exc:
        raise InvalidToken(f"the token is invalid: {exc}") from exc
    if claims["exp"] - claims["iat"] > MAX_LIFETIME_S:
        raise InvalidToken("the token lives longer than five minutes")
    return claims


def public_keys(jwks: Mapping[str, Any]) -> dict[str, Any]:
    """kid -> public key, for the ES256 keys of a JWKS (anything else is ignored)."""
    keys: dict[str, Any] = {}
    for jwk in jwks.get("keys", []):
        if jwk.get("kty") != "EC" or jwk.get("alg", ALGORITHM) != ALGORITHM or "kid" not in jwk:
            continue
        key = ECAlgorithm.from_jwk(json.dumps({k: v for k, v in jwk.items() if k != "d"}))
        keys[str(jwk["kid"])] = key
    return keys
