"""What the registry's reads and scripts return, and how a stored instance hash is read."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from eco_shared.streams import as_text

INSTANCE_FIELDS = (
    "name",
    "instance_id",
    "base_url",
    "version",
    "tags",
    "meta",
    "ttl_ms",
    "registered_at",
    "last_heartbeat",
    "lease_expires_at",
    "lease",
    "check",
    "check_output",
    "check_time",
    "status",
    "critical_since",
    "caps_status",
    "caps_error",
    "caps_count",
    "caps_requested_at",
    "caps_time",
    "caps_version",
    "owner",
    "generation",
)


def ms_to_iso(value: Any) -> str | None:
    """Epoch milliseconds (as Redis returns them) to RFC 3339, None when absent."""
    if value in (None, "", b""):
        return None
    return (
        datetime.fromtimestamp(int(value) / 1000, UTC)
        .isoformat(timespec="milliseconds")
        .replace("+00:00", "Z")
    )


def record_of(row: list[Any]) -> dict[str, str]:
    """An HMGET of `INSTANCE_FIELDS` as a dict of the fields that are set."""
    return {f: as_text(v) for f, v in zip(INSTANCE_FIELDS, row, strict=True) if v is not None}


@dataclass(frozen=True)
class RegisterResult:
    created: bool
    changed: bool
    old_status: str
    status: str
    lease_expires_ms: int
    generation: int


@dataclass(frozen=True)
class HeartbeatResult:
    old_status: str
    status: str
    lease_expires_ms: int
    ttl_ms: int


@dataclass(frozen=True)
class Transition:
    instance_id: str
    name: str
    base_url: str
    old_status: str
    status: str
    output: str = ""


@dataclass(frozen=True)
class ReapResult:
    self_preservation: str  # "", "entered" or "exited"
    lapsed: int
    total: int
    criticals: list[Transition]
    evicted: list[Transition]


class RegistryFull(Exception):
    """`max_instances` are registered already."""


class IdentityConflict(Exception):
    """The instance id is bound to another name or owner (`field`, and what it holds)."""

    def __init__(self, field: str, current: str) -> None:
        super().__init__(f"the instance's {field} is {current!r}")
        self.field = field
        self.current = current


class StaleGeneration(Exception):
    """The heartbeat (or deregistration) names another registration than the current one."""

    def __init__(self, current: str) -> None:
        super().__init__(f"the current registration is generation {current or 'unknown'}")
        self.current = current
