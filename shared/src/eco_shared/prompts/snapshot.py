"""The copies of prompts the client keeps: in memory (`Entry`, serving `ResolvedPrompt`s),
on disk (`Snapshot`), and in code (`Seed`).

The snapshot holds the last good resolution of every label the client used: one JSON
file, replaced atomically (written beside itself, fsynced, renamed), so a crash mid-write
leaves the previous snapshot whole. On load every version's sha256 is computed again from
its template; an entry whose bytes do not match what it claims is dropped with a warning,
never served.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import structlog

from eco_shared.prompts import template
from eco_shared.provenance import PromptSource

__all__ = [
    "FORMAT",
    "Entry",
    "ResolvedPrompt",
    "Seed",
    "Snapshot",
    "SnapshotEntry",
    "resolution_versions",
    "sha256_text",
]

log = structlog.get_logger(__name__)

FORMAT = 1


def sha256_text(text: str) -> str:
    """The hex sha256 of a text's UTF-8 bytes (what the store names a version by)."""
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def resolution_versions(resolution: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    """Every version a resolution carries: the label's, then each experiment arm's."""
    versions = [resolution["version"]]
    experiment = resolution.get("experiment")
    if experiment:
        versions += [arm["version"] for arm in experiment["arms"]]
    return versions


def _intact(resolution: Mapping[str, Any]) -> bool:
    try:
        return all(
            isinstance(v["template"], str) and sha256_text(v["template"]) == v["sha256"]
            for v in resolution_versions(resolution)
        )
    except (KeyError, TypeError):
        return False


@dataclass(frozen=True, slots=True)
class Seed:
    """A prompt shipped in code: the last resort, and what the store is seeded with."""

    name: str
    text: str
    syntax: template.Syntax = "mustache"
    variables: Mapping[str, Any] = field(default_factory=dict)
    config: Mapping[str, Any] = field(default_factory=dict)
    description: str = ""

    @property
    def sha256(self) -> str:
        return sha256_text(self.text)


@dataclass(frozen=True, slots=True)
class ResolvedPrompt:
    """The bytes a label resolved to, where they came from, and the experiment arm."""

    name: str
    version: int | None  # None for a seed: it has no store version
    sha256: str
    text: str
    syntax: template.Syntax
    variables: Mapping[str, Any]
    config: Mapping[str, Any]
    label: str
    source: PromptSource
    experiment_id: str | None = None
    experiment_arm: str | None = None


def _prompt(
    version: Mapping[str, Any], label: str, source: PromptSource, arm: str | None, exp: str | None
) -> ResolvedPrompt:
    return ResolvedPrompt(
        name=version["name"],
        version=int(version["version"]),
        sha256=version["sha256"],
        text=version["template"],
        syntax=version.get("syntax") or "mustache",
        # a null field of a declaration is an unset one (`default: null` is no default)
        variables={
            k: {f: v for f, v in spec.items() if v is not None}
            for k, spec in (version.get("variables") or {}).items()
        },
        config=version.get("config") or {},
        label=label,
        source=source,
        experiment_id=exp,
        experiment_arm=arm,
    )


@dataclass(slots=True)
class Entry:
    """One label's resolution, with the prompts it serves prebuilt for its current source."""

    resolution: dict[str, Any]
    etag: str | None
    label: str
    expires_at: float
    source: PromptSource = "cache"
    invalid: bool = False  # the label moved: revalidate before serving it again
    plain: ResolvedPrompt | None = None
    experiment_id: str | None = None
    salt: str = ""
    arms: tuple[tuple[str, float], ...] = ()
    by_arm: dict[str, ResolvedPrompt] = field(default_factory=dict)

    def serve_as(self, source: PromptSource) -> Entry:
        """Rebuild the served prompts for `source` (`cache`, `stale`, `snapshot`)."""
        self.source = source
        self.plain = _prompt(self.resolution["version"], self.label, source, None, None)
        experiment = self.resolution.get("experiment")
        if experiment and experiment.get("status", "running") == "running":
            self.experiment_id = str(experiment["id"])
            self.salt = str(experiment.get("salt") or experiment["id"])
            self.arms = tuple((a["name"], float(a["weight"])) for a in experiment["arms"])
            self.by_arm = {
                a["name"]: _prompt(a["version"], self.label, source, a["name"], self.experiment_id)
                for a in experiment["arms"]
            }
        else:
            self.experiment_id, self.arms, self.by_arm = None, (), {}
        return self


@dataclass(frozen=True, slots=True)
class SnapshotEntry:
    """One label's last good resolution (the store's JSON) and the ETag it came with."""

    resolution: dict[str, Any]
    etag: str | None


class Snapshot:
    """The snapshot file at `path` (its directory is made on the first write)."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def load(self) -> dict[tuple[str, str], SnapshotEntry]:
        """The intact entries by (prompt, label); a missing or unreadable file is empty."""
        try:
            raw = json.loads(self.path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return {}
        except (OSError, ValueError) as exc:
            log.warning("prompt_snapshot_unreadable", path=str(self.path), error=str(exc))
            return {}
        entries: dict[tuple[str, str], SnapshotEntry] = {}
        items = raw.get("entries") if isinstance(raw, dict) else None
        for item in items if isinstance(items, list) else []:
            try:
                resolution = item["resolution"]
                key = (str(resolution["name"]), str(resolution["label"]))
            except (KeyError, TypeError):
                log.warning("prompt_snapshot_entry_dropped", reason="malformed")
                continue
            if not _intact(resolution):
                log.warning(
                    "prompt_snapshot_entry_dropped",
                    prompt=key[0],
                    label=key[1],
                    reason="sha256 mismatch",
                )
                continue
            etag = item.get("etag")
            entries[key] = SnapshotEntry(resolution, etag if isinstance(etag, str) else None)
        return entries

    def write(self, entries: Mapping[tuple[str, str], SnapshotEntry]) -> None:
        """Replace the file with `entries`, atomically."""
        body = {
            "format": FORMAT,
            "written_at": datetime.now(UTC).isoformat(),
            "entries": [
                {"resolution": e.resolution, "etag": e.etag}
                for _, e in sorted(entries.items(), key=lambda kv: kv[0])
            ],
        }
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{self.path.name}.", dir=self.path.parent)
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as f:
                json.dump(body, f, ensure_ascii=False, separators=(",", ":"))
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp, self.path)
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
            raise
