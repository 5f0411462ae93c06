"""Where the local key material and the token issuer are, answered without pydantic.

`EcoSettings` takes its aliases and defaults for these fields from here, and its
`auth_path` and `issuer_url` are `auth_path()` and `issuer_url()` below: one rule for both.
`Locations.from_env` reads the same fields from the environment the way EcoSettings does
(its aliases, names case-insensitive, empty values ignored, no `.env` file), so a
short-lived client such as the `eco` CLI finds its admin key without importing
pydantic-settings; a test holds its answers equal to EcoSettings' for several environments.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

DATA_DIR_ENV = ("ECO_DATA_DIR", "data_dir")
DISCOVERY_URL_ENV = ("ECO_DISCOVERY_URL", "discovery_url")
AUTH_DIR_ENV = ("ECO_AUTH_DIR", "auth_dir")
AUTH_ISSUER_ENV = ("ECO_AUTH_ISSUER", "auth_issuer")
DEFAULT_DATA_DIR = Path(".eco")
DEFAULT_DISCOVERY_URL = "http://127.0.0.1:5045"


def auth_path(data_dir: Path, auth_dir: Path | None) -> Path:
    """The directory of the local key material: `auth_dir`, else `<data_dir>/auth`."""
    return auth_dir if auth_dir is not None else data_dir / "auth"


def issuer_url(discovery_url: str, auth_issuer: str | None) -> str:
    """Where the token issuer answers: `auth_issuer`, else discovery."""
    return (auth_issuer or discovery_url).rstrip("/")


def env_value(names: Sequence[str], environ: Mapping[str, str] | None = None) -> str | None:
    """The first of `names` set in the environment, as pydantic-settings finds it for
    `EcoSettings` (`case_sensitive=False`, `env_ignore_empty=True`)."""
    env = {k.lower(): v for k, v in (os.environ if environ is None else environ).items() if v != ""}
    for name in names:
        value = env.get(name.lower())
        if value is not None:
            return value
    return None


@dataclass(frozen=True, slots=True)
class Locations:
    """The fields of `EcoSettings` that say where things are."""

    data_dir: Path
    discovery_url: str
    auth_dir: Path | None
    auth_issuer: str | None

    @classmethod
    def from_env(
        cls, environ: Mapping[str, str] | None = None, *, data_dir: Path | None = None
    ) -> Locations:
        """What `EcoSettings(data_dir=data_dir)` would say (`data_dir` given overrides the
        environment, as an init argument does)."""
        if data_dir is None:
            data_dir = Path(env_value(DATA_DIR_ENV, environ) or DEFAULT_DATA_DIR)
        auth_dir = env_value(AUTH_DIR_ENV, environ)
        return cls(
            data_dir=data_dir,
            discovery_url=env_value(DISCOVERY_URL_ENV, environ) or DEFAULT_DISCOVERY_URL,
            auth_dir=Path(auth_dir) if auth_dir is not None else None,
            auth_issuer=env_value(AUTH_ISSUER_ENV, environ),
        )

    @property
    def auth_path(self) -> Path:
        """The directory of the local key material."""
        return auth_path(self.data_dir, self.auth_dir)

    @property
    def issuer_url(self) -> str:
        """Where the token issuer answers."""
        return issuer_url(self.discovery_url, self.auth_issuer)
