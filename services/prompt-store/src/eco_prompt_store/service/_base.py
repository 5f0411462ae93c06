"""What every part of the prompt-store service shares: resources, views, errors."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import structlog
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from eco_prompt_store import repository as repo
from eco_prompt_store.settings import PromptStoreSettings
from eco_shared.models.prompt_store import LABEL_MOVED, Origin, Prompt, PromptVersion
from eco_shared.outbox import OutboxRelay
from eco_shared.problems import NotFound, field_error

log = structlog.get_logger("eco_prompt_store.service")


def now() -> datetime:
    """The current time (UTC)."""
    return datetime.now(UTC)


def prompt_view(prompt: repo.PromptRecord, labels: dict[str, int]) -> Prompt:
    return Prompt(
        name=prompt.name,
        description=prompt.description,
        tags=prompt.tags,
        kind=prompt.kind,
        created_at=prompt.created_at,
        created_by=prompt.created_by,
        latest_version=labels.get(repo.LATEST),
        labels=labels,
    )


def version_view(version: repo.VersionRecord, labels: list[str]) -> PromptVersion:
    return PromptVersion(
        name=version.name,
        version=version.version,
        sha256=version.sha256,
        template=version.template,
        syntax=version.syntax,
        variables=version.variables,
        config=version.config,
        message=version.message,
        author=version.author,
        created_at=version.created_at,
        origin=Origin.model_validate(version.origin) if version.origin else None,
        labels=labels,
    )


def prompt_not_found(name: str) -> NotFound:
    return NotFound("Prompt", name, f"No prompt named {name!r}.")


def version_not_found(name: str, number: int, last: int) -> NotFound:
    return NotFound(
        "Version",
        number,
        f"Prompt {name!r} has no version {number} (it has {last}).",
        last_version=last,
    )


def template_errors(
    problems: list[dict[str, Any]], where: str = "template"
) -> list[dict[str, Any]]:
    """Template problems as problem+json `errors[]`, each naming its variable or line."""
    errors = []
    for p in problems:
        variable = p.get("variable")
        field = f"variables.{variable}" if variable else where
        entry = field_error("body", field, p["message"], type=p["code"])
        extra: dict[str, Any] = {k: p[k] for k in ("variable", "line") if k in p}
        errors.append({**entry, **extra})
    return errors


def label_moved_event(
    name: str,
    label: str,
    version: int,
    previous: int | None,
    sha256: str,
    by: str,
    reason: str | None,
) -> dict[str, Any]:
    """The data of `prompt.label_moved`."""
    return {
        "name": name,
        "label": label,
        "version": version,
        "previous_version": previous,
        "sha256": sha256,
        "by": by,
        "reason": reason,
    }


class ServiceBase:
    """The database, the outbox relay and the settings every operation works with."""

    def __init__(
        self, engine: AsyncEngine, outbox: OutboxRelay, settings: PromptStoreSettings
    ) -> None:
        self.engine = engine
        self.outbox = outbox
        self.settings = settings
        # SQLite has one writer per file: writers queue here, not in SQLite's busy handler
        self._write_lock = asyncio.Lock() if engine.dialect.name == "sqlite" else None

    @contextlib.asynccontextmanager
    async def writing(self) -> AsyncIterator[AsyncConnection]:
        """One write transaction, committed when the block ends (the relay woken then)."""
        async with self._write_lock or contextlib.nullcontext(), self.outbox.begin() as conn:
            yield conn

    async def _prompt(self, conn: AsyncConnection, name: str) -> repo.PromptRecord:
        prompt = await repo.get_prompt(conn, name)
        if prompt is None:
            raise prompt_not_found(name)
        return prompt

    async def _version(
        self, conn: AsyncConnection, prompt: repo.PromptRecord, number: int
    ) -> repo.VersionRecord:
        version = await repo.get_version(conn, prompt.id, number)
        if version is None:
            raise version_not_found(prompt.name, number, prompt.last_version)
        return version

    async def _version_view(
        self, conn: AsyncConnection, version: repo.VersionRecord
    ) -> PromptVersion:
        labels = await repo.labels_at(conn, version.prompt_id, [version.version])
        return version_view(version, labels[version.version])

    async def _record_move(
        self,
        conn: AsyncConnection,
        prompt: repo.PromptRecord,
        label: str,
        target: repo.VersionRecord,
        expected: int | None,
        by: str,
        reason: str | None,
    ) -> bool:
        """Compare-and-swap `label` to `target` with its history and event; False when the
        label was not at `expected`."""
        moved = await repo.swap_label(
            conn,
            prompt_id=prompt.id,
            label=label,
            version=target.version,
            expected=expected,
            by=by,
            reason=reason,
            at=now(),
        )
        if moved:
            data = label_moved_event(
                prompt.name, label, target.version, expected, target.sha256, by, reason
            )
            await self.outbox.stage(conn, LABEL_MOVED, data)
        return moved
