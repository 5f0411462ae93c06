"""The key material on this machine: what `eco up` creates, and what the CLI calls with.

The first `eco up` creates `.eco/auth/` (0700, `eco_shared.auth.ensure_material`): the
issuer's signing keys, the pepper, the master secret every client secret and Redis password
derives from, and one admin API key, `admin.key`, printed once. The CLI authenticates with
`ECO_API_KEY` when set, else with that admin key, exchanged per audience at the issuer
(`ECO_AUTH_ISSUER`, else discovery).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from eco_cli import acl
from eco_shared import locations

if TYPE_CHECKING:
    from eco_shared.auth import AuthMaterial
    from eco_shared.settings import EcoSettings


def settings_for(data_dir: Path) -> EcoSettings:
    """The shared settings as `eco up` reads them (the environment, with this data dir)."""
    from eco_shared.settings import EcoSettings  # pydantic-settings: not on the read path

    return EcoSettings(data_dir=data_dir.resolve())


def locations_for(data_dir: Path) -> locations.Locations:
    """Where `settings_for(data_dir)` says the key material and the issuer are (without
    loading the settings: a read command only needs these)."""
    return locations.Locations.from_env(data_dir=data_dir.resolve())


@dataclass(frozen=True)
class Prepared:
    material: AuthMaterial
    # the admin key when this call created it: shown once, never again
    new_admin_key: str | None


def prepare(data_dir: Path, services: tuple[str, ...] = ()) -> Prepared:
    """Create whatever key material is missing; say whether the admin key is new."""
    from eco_shared.auth import ensure_material  # signing keys: only where material is made

    directory = locations_for(data_dir).auth_path.resolve()
    had_key = (directory / "admin.key").is_file()
    material = ensure_material(directory, services=services)
    key = None if had_key else material.admin_key()
    return Prepared(material, key.value if key is not None else None)


def api_key(data_dir: Path) -> str | None:
    """The CLI's API key: `ECO_API_KEY`, else the admin key `eco up` created, else None."""
    given = os.environ.get("ECO_API_KEY", "").strip()
    if given:
        return given
    path = locations_for(data_dir).auth_path / "admin.key"
    try:
        return path.read_text().strip() or None
    except (FileNotFoundError, PermissionError):
        return None


def issuer_url(data_dir: Path, discovery_url: str) -> str:
    """Where tokens come from: `ECO_AUTH_ISSUER`, else discovery."""
    return locations.issuer_url(discovery_url, locations_for(data_dir).auth_issuer)


def init_deployment(
    directory: Path,
    env_dir: Path,
    services: tuple[str, ...],
    *,
    redis_url: str,
    prefix: str = "",
) -> Prepared:
    """Key material for compose or Kubernetes: what `ensure_material` makes (a secret file
    per service), the Redis ACL file, and one env file per service (`<env_dir>/<name>.env`:
    its `ECO_REDIS_URL` with its own Redis user, and its `ECO_AUTH_CLIENT_SECRET`)."""
    from eco_shared.auth import ensure_material

    directory = directory.resolve()
    had_key = (directory / "admin.key").is_file()
    material = ensure_material(directory, services=services)
    master = material.master()
    acl.write_acl(material.redis_acl_path, master, services, prefix)
    env_dir.mkdir(parents=True, exist_ok=True)
    os.chmod(env_dir, 0o700)
    for name in services:
        url = acl.with_credentials(redis_url, name, acl.password(master, name))
        secret = material.client_secret(name)
        acl.write_private(
            env_dir / f"{name}.env", f"ECO_REDIS_URL={url}\nECO_AUTH_CLIENT_SECRET={secret}\n"
        )
    key = None if had_key else material.admin_key()
    return Prepared(material, key.value if key is not None else None)


AUTH_OFF_WARNING = (
    "ECO_AUTH=off: authentication is off and every caller is treated as a local admin; "
    "only for hacking on this machine (every service binds to 127.0.0.1)"
)
