"""Every query of experiments, exposures, outcomes and feedback (SQLite and PostgreSQL)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection

from eco_prompt_store.models import UTCDateTime
from eco_prompt_store.repository._tables import is_postgres

_JSON = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")
_meta = sa.MetaData()


experiments = sa.Table(
    "prompt_experiments",
    _meta,
    sa.Column("id", sa.String(36), primary_key=True),
    sa.Column("name", sa.String(200)),
    sa.Column("prompt", sa.String(128)),
    sa.Column("label", sa.String(64)),
    sa.Column("salt", sa.String(128)),
    sa.Column("status", sa.String(16)),
    sa.Column("arms", _JSON),
    sa.Column("min_sample", sa.Integer),
    sa.Column("metric", sa.String(32)),
    sa.Column("running_key", sa.String(200)),
    sa.Column("created_by", sa.String(255)),
    sa.Column("created_at", UTCDateTime),
    sa.Column("stopped_by", sa.String(255)),
    sa.Column("stopped_at", UTCDateTime),
    sa.Column("stop_reason", sa.Text),
    sa.Column("promoted_arm", sa.String(64)),
)
exposures = sa.Table(
    "prompt_exposures",
    _meta,
    sa.Column("experiment_id", sa.String(36), primary_key=True),
    sa.Column("unit_id", sa.String(255), primary_key=True),
    sa.Column("run_id", sa.String(255), primary_key=True),
    sa.Column("arm", sa.String(64)),
    sa.Column("at", UTCDateTime),
    sa.Column("recorded_at", UTCDateTime),
)
outcomes = sa.Table(
    "prompt_outcomes",
    _meta,
    sa.Column("experiment_id", sa.String(36), primary_key=True),
    sa.Column("run_id", sa.String(255), primary_key=True),
    sa.Column("arm", sa.String(64)),
    sa.Column("score", sa.Float),
    sa.Column("revisions", sa.Float),
    sa.Column("latency_ms", sa.Float),
    sa.Column("tokens", sa.Float),
    sa.Column("source", sa.String(16)),
    sa.Column("event_id", sa.String(64)),
    sa.Column("at", UTCDateTime),
)
feedback = sa.Table(
    "prompt_feedback",
    _meta,
    sa.Column("run_id", sa.String(255), primary_key=True),
    sa.Column("rating", sa.String(8)),
    sa.Column("score", sa.Float),
    sa.Column("event_id", sa.String(64)),
    sa.Column("at", UTCDateTime),
)


def running_key(prompt: str, label: str) -> str:
    """What the unique `running_key` holds while an experiment of (prompt, label) runs
    (neither a name nor a label can hold `@`)."""
    return f"{prompt}@{label}"


@dataclass(frozen=True, slots=True)
class ArmAggregate:
    """What the database sums for one arm; the statistics are made from these."""

    arm: str
    exposures: int = 0
    units: int = 0
    outcomes: int = 0
    score_n: int = 0
    score_sum: float = 0.0
    score_sumsq: float = 0.0
    revisions: float | None = None
    latency_ms: float | None = None
    tokens: float | None = None
    rated: int = 0
    up: int = 0
    feedback_score: float | None = None
    fallback: int = 0


def _insert(conn: AsyncConnection, table: sa.Table) -> Any:
    """The dialect's INSERT, which knows ON CONFLICT."""
    return (postgresql.insert if is_postgres(conn) else sqlite.insert)(table)


async def insert_experiment(conn: AsyncConnection, row: dict[str, Any]) -> None:
    """Store a new experiment (IntegrityError when another runs on the same label)."""
    await conn.execute(experiments.insert().values(**row))


async def get_experiment(conn: AsyncConnection, experiment_id: str) -> dict[str, Any] | None:
    """One experiment row as a dict, or None."""
    row = (
        await conn.execute(sa.select(experiments).where(experiments.c.id == experiment_id))
    ).first()
    return dict(row._mapping) if row else None


async def get_experiments(
    conn: AsyncConnection, experiment_ids: Sequence[str]
) -> dict[str, dict[str, Any]]:
    """Several experiments by id."""
    if not experiment_ids:
        return {}
    rows = await conn.execute(
        sa.select(experiments).where(experiments.c.id.in_(sorted(set(experiment_ids))))
    )
    return {row.id: dict(row._mapping) for row in rows}


async def running_experiment(
    conn: AsyncConnection, prompt: str, label: str
) -> dict[str, Any] | None:
    """The experiment running on (prompt, label), if any."""
    row = (
        await conn.execute(
            sa.select(experiments).where(experiments.c.running_key == running_key(prompt, label))
        )
    ).first()
    return dict(row._mapping) if row else None


async def list_experiments(
    conn: AsyncConnection,
    *,
    prompt: str | None,
    status: str | None,
    after: tuple[datetime, str] | None,
    limit: int,
) -> list[dict[str, Any]]:
    """Experiments newest first (by created_at, id), after the cursor's position."""
    query = sa.select(experiments)
    if prompt is not None:
        query = query.where(experiments.c.prompt == prompt)
    if status is not None:
        query = query.where(experiments.c.status == status)
    if after is not None:
        created = after[0]
        query = query.where(
            sa.tuple_(experiments.c.created_at, experiments.c.id) < sa.tuple_(created, after[1])
            if is_postgres(conn)
            else sa.or_(
                experiments.c.created_at < created,
                sa.and_(experiments.c.created_at == created, experiments.c.id < after[1]),
            )
        )
    query = query.order_by(experiments.c.created_at.desc(), experiments.c.id.desc()).limit(
        limit + 1
    )
    return [dict(row._mapping) for row in await conn.execute(query)]


async def stop_experiment(
    conn: AsyncConnection,
    experiment_id: str,
    *,
    by: str,
    at: datetime,
    reason: str | None,
    promoted_arm: str | None = None,
) -> bool:
    """Mark a running experiment stopped; False when it was not running."""
    result = await conn.execute(
        experiments.update()
        .where(experiments.c.id == experiment_id, experiments.c.status == "running")
        .values(
            status="stopped",
            running_key=None,
            stopped_by=by,
            stopped_at=at,
            stop_reason=reason,
            promoted_arm=promoted_arm,
        )
    )
    return bool(result.rowcount)


async def insert_exposures(conn: AsyncConnection, rows: list[dict[str, Any]]) -> int:
    """Record exposures, skipping those already recorded; how many were new."""
    if not rows:
        return 0
    statement = (
        _insert(conn, exposures)
        .values(rows)
        .on_conflict_do_nothing()
        .returning(exposures.c.experiment_id)  # rowcount is not reliable for multi-row inserts
    )
    return len((await conn.execute(statement)).all())


async def arms_of_runs(conn: AsyncConnection, run_id: str) -> list[tuple[str, str]]:
    """(experiment id, arm) of every exposure recorded under `run_id`."""
    rows = await conn.execute(
        sa.select(exposures.c.experiment_id, exposures.c.arm)
        .where(exposures.c.run_id == run_id)
        .distinct()
    )
    return [(row.experiment_id, row.arm) for row in rows]


async def upsert_outcome(conn: AsyncConnection, row: dict[str, Any]) -> None:
    """One run's outcome in one experiment; a redelivered event writes the same values."""
    statement = _insert(conn, outcomes).values(**row)
    keep = {k: statement.excluded[k] for k in row if k not in ("experiment_id", "run_id")}
    await conn.execute(
        statement.on_conflict_do_update(index_elements=["experiment_id", "run_id"], set_=keep)
    )


async def upsert_feedback(conn: AsyncConnection, row: dict[str, Any]) -> None:
    """A run's feedback; a later one (by event time) replaces an earlier one."""
    statement = _insert(conn, feedback).values(**row)
    keep = {k: statement.excluded[k] for k in row if k != "run_id"}
    await conn.execute(
        statement.on_conflict_do_update(
            index_elements=["run_id"], set_=keep, where=feedback.c.at <= statement.excluded.at
        )
    )


async def aggregate(conn: AsyncConnection, experiment_id: str) -> dict[str, ArmAggregate]:
    """Per-arm sums of exposures, distinct units, outcomes and feedback."""
    exposed = await conn.execute(
        sa.select(
            exposures.c.arm,
            sa.func.count().label("exposures"),
            sa.func.count(sa.distinct(exposures.c.unit_id)).label("units"),
        )
        .where(exposures.c.experiment_id == experiment_id)
        .group_by(exposures.c.arm)
    )
    found: dict[str, dict[str, Any]] = {
        row.arm: {"exposures": row.exposures, "units": row.units} for row in exposed
    }
    score = outcomes.c.score
    joined = outcomes.outerjoin(feedback, feedback.c.run_id == outcomes.c.run_id)
    up = sa.case(
        (feedback.c.rating == "up", 1),
        (sa.and_(feedback.c.rating.is_(None), feedback.c.score >= 0.5), 1),
        else_=0,
    )
    rated = sa.case(
        (sa.or_(feedback.c.rating.is_not(None), feedback.c.score.is_not(None)), 1), else_=0
    )
    fallback = sa.case((outcomes.c.source.in_(("cache", "stale", "snapshot", "seed")), 1), else_=0)
    rows = await conn.execute(
        sa.select(
            outcomes.c.arm,
            sa.func.count().label("outcomes"),
            sa.func.count(score).label("score_n"),
            sa.func.coalesce(sa.func.sum(score), 0.0).label("score_sum"),
            sa.func.coalesce(sa.func.sum(score * score), 0.0).label("score_sumsq"),
            sa.func.avg(outcomes.c.revisions).label("revisions"),
            sa.func.avg(outcomes.c.latency_ms).label("latency_ms"),
            sa.func.avg(outcomes.c.tokens).label("tokens"),
            sa.func.sum(rated).label("rated"),
            sa.func.sum(up).label("up"),
            sa.func.avg(feedback.c.score).label("feedback_score"),
            sa.func.sum(fallback).label("fallback"),
        )
        .select_from(joined)
        .where(outcomes.c.experiment_id == experiment_id)
        .group_by(outcomes.c.arm)
    )
    for row in rows:
        values = dict(row._mapping)
        arm = values.pop("arm")
        found.setdefault(arm, {}).update(values)
    return {arm: _aggregate(arm, values) for arm, values in found.items()}


def _aggregate(arm: str, values: dict[str, Any]) -> ArmAggregate:
    def count(key: str) -> int:
        return int(values.get(key) or 0)

    def number(key: str) -> float | None:
        value = values.get(key)
        return None if value is None else float(value)

    return ArmAggregate(
        arm=arm,
        exposures=count("exposures"),
        units=count("units"),
        outcomes=count("outcomes"),
        score_n=count("score_n"),
        score_sum=number("score_sum") or 0.0,
        score_sumsq=number("score_sumsq") or 0.0,
        revisions=number("revisions"),
        latency_ms=number("latency_ms"),
        tokens=number("tokens"),
        rated=count("rated"),
        up=count("up"),
        feedback_score=number("feedback_score"),
        fallback=count("fallback"),
    )
