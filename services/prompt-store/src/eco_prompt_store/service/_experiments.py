"""Experiments: create, list, stop, results, promote; exposures; the resolution's definition.

An experiment splits one label of one prompt across versions by weight. Clients assign
arms themselves from the definition the resolution carries (`eco_shared.prompts.assign`),
so the store records what they report (exposures) and what runs report (outcomes), and
promotes an arm only when someone asks: a promotion is an ordinary, recorded label move.
"""

from __future__ import annotations

import base64
import math
import secrets
import struct
import uuid
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

from eco_prompt_store import repository as repo
from eco_prompt_store.repository import _experiments as exp_repo
from eco_prompt_store.service import _outcomes
from eco_prompt_store.service._base import now
from eco_prompt_store.service._labels import LabelOps
from eco_shared.auth import Principal
from eco_shared.models.prompt_experiments import (
    Experiment,
    ExperimentCreate,
    ExperimentPage,
    ExperimentResults,
    ExposureBatch,
    ExposuresAccepted,
    PromoteRequest,
    Promotion,
)
from eco_shared.models.prompt_store import (
    LATEST,
    ExperimentArmDefinition,
    ExperimentDefinition,
    LabelMoveRequest,
)
from eco_shared.problems import Conflict, NotFound, ValidationProblem, field_error
from eco_shared.prompts.assign import assign

WEIGHT_TOLERANCE = 1e-9
# a page position (created_at in microseconds since the epoch, the experiment's UUID) as
# 24 bytes of urlsafe base64: every string of the pattern is a position to read on from
EXPERIMENT_CURSOR_PATTERN = r"^[A-Za-z0-9_-]{32}$"
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def encode_experiment_cursor(created_at: datetime, experiment_id: str) -> str:
    """The cursor for the experiments after this one (newest first)."""
    micros = (created_at - _EPOCH) // timedelta(microseconds=1)
    raw = struct.pack(">q", micros) + uuid.UUID(experiment_id).bytes
    return base64.urlsafe_b64encode(raw).decode()


def decode_experiment_cursor(cursor: str) -> tuple[datetime, str]:
    """The position a cursor of `EXPERIMENT_CURSOR_PATTERN` holds (times clamped to the
    range a datetime can hold)."""
    raw = base64.urlsafe_b64decode(cursor)
    (micros,) = struct.unpack(">q", raw[:8])
    try:
        created = _EPOCH + timedelta(microseconds=micros)
    except OverflowError:
        created = (datetime.max if micros > 0 else datetime.min).replace(tzinfo=UTC)
    return created, str(uuid.UUID(bytes=raw[8:]))


def _public(row: dict[str, Any]) -> Experiment:
    return Experiment.model_validate({k: v for k, v in row.items() if k != "running_key"})


def _not_running(experiment_id: str) -> Conflict:
    return Conflict(f"Experiment {experiment_id} is not running.", title="Experiment not running")


def _check_arms(body: ExperimentCreate) -> None:
    """Weights that sum to 1 and distinct names, else a 422 naming what is wrong."""
    errors = []
    total = math.fsum(arm.weight for arm in body.arms)
    if abs(total - 1.0) > WEIGHT_TOLERANCE:
        errors.append(
            field_error("body", "arms", f"the weights sum to {total!r}; they must sum to 1")
        )
    seen: set[str] = set()
    for i, arm in enumerate(body.arms):
        if arm.name in seen:
            errors.append(field_error("body", f"arms.{i}.name", f"{arm.name!r} is taken"))
        seen.add(arm.name)
    if not any(arm.weight > 0 for arm in body.arms):
        errors.append(field_error("body", "arms", "at least one arm needs a positive weight"))
    if body.label == LATEST:
        errors.append(
            field_error("body", "label", "`latest` moves by itself; experiment on another label")
        )
    if errors:
        raise ValidationProblem(errors)


class ExperimentOps(LabelOps):
    """Experiments and their exposures; promotion moves a label through `LabelOps`, and the
    resolution gains the running experiment (so this class comes before `LabelOps`)."""

    async def create_experiment(self, caller: Principal, body: ExperimentCreate) -> Experiment:
        """Store a running experiment after checking its arms, versions and label."""
        _check_arms(body)
        async with self.writing() as conn:
            prompt = await self._prompt(conn, body.prompt)
            missing = [
                field_error(
                    "body", f"arms.{i}.version", f"{body.prompt} has no version {a.version}"
                )
                for i, a in enumerate(body.arms)
                if await repo.get_version(conn, prompt.id, a.version) is None
            ]
            if missing:
                raise ValidationProblem(missing)
            if await repo.get_label(conn, prompt.id, body.label) is None:
                raise ValidationProblem.field(
                    "body", "label", f"{body.prompt} has no label {body.label!r}; move it first"
                )
            if await exp_repo.running_experiment(conn, body.prompt, body.label) is not None:
                raise self._running(body.prompt, body.label)
            row = {
                "id": str(uuid.uuid4()),
                "name": body.name,
                "prompt": body.prompt,
                "label": body.label,
                "salt": body.salt or secrets.token_hex(16),
                "status": "running",
                "arms": [a.model_dump() for a in body.arms],
                "min_sample": body.min_sample,
                "metric": body.metric,
                "running_key": exp_repo.running_key(body.prompt, body.label),
                "created_by": caller.subject,
                "created_at": now(),
            }
            try:
                await exp_repo.insert_experiment(conn, row)
            except IntegrityError:  # another create won the race for this label
                raise self._running(body.prompt, body.label) from None
        return _public(row)

    @staticmethod
    def _running(prompt: str, label: str) -> Conflict:
        return Conflict(
            f"an experiment already runs on {prompt}@{label}; stop or promote it first",
            title="Experiment already running",
        )

    async def list_experiments(
        self, *, prompt: str | None, status: str | None, cursor: str | None, limit: int
    ) -> ExperimentPage:
        after = decode_experiment_cursor(cursor) if cursor else None
        async with self.engine.connect() as conn:
            rows = await exp_repo.list_experiments(
                conn, prompt=prompt, status=status, after=after, limit=limit
            )
        page = rows[:limit]
        next_cursor = (
            encode_experiment_cursor(page[-1]["created_at"], page[-1]["id"])
            if len(rows) > limit
            else None
        )
        return ExperimentPage(items=[_public(r) for r in page], next_cursor=next_cursor)

    async def _row(self, conn: AsyncConnection, experiment_id: str) -> dict[str, Any]:
        row = await exp_repo.get_experiment(conn, experiment_id)
        if row is None:
            raise NotFound("Experiment", experiment_id)
        return row

    async def get_experiment(self, experiment_id: str) -> Experiment:
        async with self.engine.connect() as conn:
            return _public(await self._row(conn, experiment_id))

    async def stop_experiment(
        self, caller: Principal, experiment_id: str, reason: str | None
    ) -> Experiment:
        """Stop a running experiment (the label stays where it points); 409 if not running."""
        async with self.writing() as conn:
            await self._row(conn, experiment_id)
            stopped = await exp_repo.stop_experiment(
                conn, experiment_id, by=caller.subject, at=now(), reason=reason
            )
            if not stopped:
                raise _not_running(experiment_id)
            return _public(await self._row(conn, experiment_id))

    async def experiment_results(self, experiment_id: str) -> ExperimentResults:
        async with self.engine.connect() as conn:
            row = await self._row(conn, experiment_id)
            sums = await exp_repo.aggregate(conn, experiment_id)
        return _outcomes.results(row, sums)

    async def promote(
        self, caller: Principal, experiment_id: str, body: PromoteRequest
    ) -> Promotion:
        """Move the label to the arm's version through the store's compare-and-swap move
        (recorded, announced) and stop the experiment in the same transaction."""
        async with self.engine.connect() as conn:
            row = await self._row(conn, experiment_id)
            prompt = await self._prompt(conn, row["prompt"])
            current = await repo.get_label(conn, prompt.id, row["label"])
        if row["status"] != "running":
            raise _not_running(experiment_id)
        arm = next((a for a in row["arms"] if a["name"] == body.arm), None)
        if arm is None:
            names = [a["name"] for a in row["arms"]]
            raise ValidationProblem.field("body", "arm", f"no arm {body.arm!r}; arms: {names}")
        expected = (
            body.expected_version
            if "expected_version" in body.model_fields_set
            else (current.version if current else None)
        )
        reason = body.reason or f"promoted arm {body.arm} of experiment {row['name']}"

        async def stop(conn: AsyncConnection) -> None:
            stopped = await exp_repo.stop_experiment(
                conn,
                experiment_id,
                by=caller.subject,
                at=now(),
                reason=reason,
                promoted_arm=arm["name"],
            )
            if not stopped:  # stopped or promoted meanwhile: the move is void too
                raise _not_running(experiment_id)

        move = LabelMoveRequest(version=arm["version"], expected_version=expected, reason=reason)
        label = await self.move_label(caller, row["prompt"], row["label"], move, also=stop)
        return Promotion(experiment=await self.get_experiment(experiment_id), label=label)

    async def experiment_for_resolution(
        self, conn: AsyncConnection, name: str, label: str
    ) -> ExperimentDefinition | None:
        """The experiment running on (name, label) with its arms' versions (None when none
        runs): what a client needs to assign arms and render while the store is away."""
        row = await exp_repo.running_experiment(conn, name, label)
        if row is None:
            return None
        prompt = await self._prompt(conn, name)
        arms = []
        for arm in row["arms"]:
            version = await self._version(conn, prompt, arm["version"])
            arms.append(
                ExperimentArmDefinition(
                    name=arm["name"],
                    weight=arm["weight"],
                    version=await self._version_view(conn, version),
                )
            )
        return ExperimentDefinition(
            id=row["id"],
            name=row["name"],
            prompt=row["prompt"],
            label=row["label"],
            salt=row["salt"],
            status=row["status"],
            arms=arms,
        )

    async def record_exposures(self, batch: ExposureBatch) -> ExposuresAccepted:
        """Record the batch (idempotent); 422 naming items of unknown experiments or arms, or
        whose arm is not the one the experiment's salt assigns to the unit."""
        recorded_at = now()
        async with self.writing() as conn:
            known = await exp_repo.get_experiments(
                conn, [item.experiment_id for item in batch.items]
            )
            errors = _exposure_errors(batch, known)
            if errors:
                raise ValidationProblem(errors)
            new = await exp_repo.insert_exposures(
                conn,
                [
                    {
                        "experiment_id": item.experiment_id,
                        "unit_id": item.unit_id,
                        "run_id": item.run_id or "",
                        "arm": item.arm,
                        "at": item.at,
                        "recorded_at": recorded_at,
                    }
                    for item in _unique(batch)
                ],
            )
        return ExposuresAccepted(accepted=len(batch.items), new=new)


def _unique(batch: ExposureBatch) -> Sequence[Any]:
    """The batch without repeats of one (experiment, unit, run): the first one counts."""
    seen: dict[tuple[str, str, str], Any] = {}
    for item in batch.items:
        seen.setdefault((item.experiment_id, item.unit_id, item.run_id or ""), item)
    return list(seen.values())


def _exposure_errors(
    batch: ExposureBatch, known: dict[str, dict[str, Any]]
) -> list[dict[str, Any]]:
    errors = []
    for i, item in enumerate(batch.items):
        experiment = known.get(item.experiment_id)
        if experiment is None:
            errors.append(field_error("body", f"items.{i}.experiment_id", "no such experiment"))
            continue
        arms = [(a["name"], float(a["weight"])) for a in experiment["arms"]]
        if item.arm not in {name for name, _ in arms}:
            errors.append(field_error("body", f"items.{i}.arm", f"no arm {item.arm!r}"))
        elif assign(experiment["salt"], item.unit_id, arms) != item.arm:
            errors.append(
                field_error(
                    "body",
                    f"items.{i}.arm",
                    f"unit {item.unit_id!r} is assigned to another arm under this salt",
                )
            )
    return errors
