"""Labels: compare-and-swap moves with their history, rollback, resolution."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Awaitable, Callable

from sqlalchemy.ext.asyncio import AsyncConnection

from eco_prompt_store import repository as repo
from eco_prompt_store.service._base import ServiceBase, log
from eco_prompt_store.service._paging import cut, decode_position
from eco_shared.auth import Principal
from eco_shared.models.prompt_store import (
    ExperimentDefinition,
    Label,
    LabelMove,
    LabelMovePage,
    LabelMoveRequest,
    PromptVersion,
    Resolution,
    RollbackRequest,
)
from eco_shared.problems import BadRequest, Conflict, NotFound

# Run in the moving transaction (an experiment stopped by its promotion, say).
AlsoInTransaction = Callable[[AsyncConnection], Awaitable[None]]


def label_not_found(name: str, label: str) -> NotFound:
    return NotFound("Label", label, f"Prompt {name!r} has no label {label!r}.")


def _label(name: str, record: repo.LabelRecord) -> Label:
    return Label(
        name=name,
        label=record.label,
        version=record.version,
        previous_version=record.previous_version,
        moved_by=record.moved_by,
        moved_at=record.moved_at,
        reason=record.reason,
    )


def resolution_etag(resolution: Resolution) -> str:
    """A hash of what a client renders and assigns with: the version's content and the
    experiment's id, status and arms (not which other labels point at the version)."""
    v = resolution.version
    whole = {
        "version": [v.name, v.version, v.sha256, v.syntax, v.config],
        "variables": {k: s.model_dump(exclude_unset=True) for k, s in v.variables.items()},
        "experiment": resolution.experiment.model_dump(
            mode="json", exclude={"arms": {"__all__": {"version": {"labels"}}}}
        )
        if resolution.experiment
        else None,
    }
    return hashlib.sha256(json.dumps(whole, sort_keys=True).encode()).hexdigest()


class LabelOps(ServiceBase):
    """Every move is a compare-and-swap in SQL, recorded, and announced through the outbox."""

    async def move_label(
        self,
        caller: Principal,
        name: str,
        label: str,
        body: LabelMoveRequest,
        *,
        also: AlsoInTransaction | None = None,
    ) -> Label:
        """Point `label` at `body.version` if it still points at `body.expected_version`."""
        if label == repo.LATEST:
            raise BadRequest(
                "`latest` follows the newest version by itself; it cannot be moved by hand.",
                title="Label not movable",
            )
        async with self.writing() as conn:
            prompt = await self._prompt(conn, name)
            target = await self._version(conn, prompt, body.version)
            moved = await self._record_move(
                conn, prompt, label, target, body.expected_version, caller.subject, body.reason
            )
            if not moved:
                current = await repo.get_label(conn, prompt.id, label)
                now_at = current.version if current else None
                where = f"version {now_at}" if now_at else "nothing"
                raise Conflict(
                    f"Label {label!r} points at {where}, not at the expected"
                    f" {body.expected_version}; read it and retry.",
                    title="Label moved meanwhile",
                    current_version=now_at,
                )
            if also is not None:
                await also(conn)
            record = await repo.get_label(conn, prompt.id, label)
        assert record is not None
        log.info("label_moved", name=name, label=label, version=body.version, by=caller.subject)
        return _label(name, record)

    async def rollback(
        self, caller: Principal, name: str, label: str, body: RollbackRequest
    ) -> Label:
        """Move `label` back to where its last recorded move took it from."""
        async with self.engine.connect() as conn:
            prompt = await self._prompt(conn, name)
            current = await repo.get_label(conn, prompt.id, label)
            if current is None:
                raise label_not_found(name, label)
            moves = await repo.list_moves(conn, prompt.id, label, before_id=None, limit=1)
        last = moves[0] if moves else None
        if body.expected_version is not None and body.expected_version != current.version:
            raise Conflict(
                f"Label {label!r} points at version {current.version}, not at the expected"
                f" {body.expected_version}.",
                title="Label moved meanwhile",
                current_version=current.version,
            )
        if last is None or last.from_version is None or last.to_version != current.version:
            raise Conflict(
                f"Label {label!r} has no earlier version to go back to.",
                title="Nothing to roll back",
                current_version=current.version,
            )
        reason = body.reason or f"rollback from version {current.version}"
        move = LabelMoveRequest(
            version=last.from_version, expected_version=current.version, reason=reason
        )
        return await self.move_label(caller, name, label, move)

    async def history(
        self, name: str, label: str, *, cursor: str | None, limit: int
    ) -> LabelMovePage:
        before = decode_position(cursor)
        async with self.engine.connect() as conn:
            prompt = await self._prompt(conn, name)
            rows = await repo.list_moves(conn, prompt.id, label, before_id=before, limit=limit + 1)
            if not rows and before is None and await repo.get_label(conn, prompt.id, label) is None:
                raise label_not_found(name, label)
        page, next_cursor = cut(rows, limit, lambda m: m.id)
        items = [
            LabelMove(
                name=name,
                label=m.label,
                from_version=m.from_version,
                to_version=m.to_version,
                by=m.by,
                reason=m.reason,
                at=m.at,
            )
            for m in page
        ]
        return LabelMovePage(items=items, next_cursor=next_cursor)

    async def get_label_version(self, name: str, label: str) -> PromptVersion:
        async with self.engine.connect() as conn:
            return await self._labelled(conn, name, label)

    async def _labelled(self, conn: AsyncConnection, name: str, label: str) -> PromptVersion:
        prompt = await self._prompt(conn, name)
        record = await repo.get_label(conn, prompt.id, label)
        if record is None:
            raise label_not_found(name, label)
        return await self._version_view(conn, await self._version(conn, prompt, record.version))

    async def resolution(self, name: str, label: str) -> tuple[Resolution, str]:
        """The label's version and its running experiment, with their ETag."""
        async with self.engine.connect() as conn:
            version = await self._labelled(conn, name, label)
            experiment = await self.experiment_for_resolution(conn, name, label)
        resolved = Resolution(name=name, label=label, version=version, experiment=experiment)
        return resolved, resolution_etag(resolved)

    async def experiment_for_resolution(
        self, conn: AsyncConnection, name: str, label: str
    ) -> ExperimentDefinition | None:
        """The running experiment of (prompt, label): none until experiments override it."""
        return None
