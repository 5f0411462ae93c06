"""Every query on labels and their history, on a connection the caller owns.

A label moves only by compare-and-swap in SQL: `UPDATE ... WHERE version = :expected`
(or an INSERT that does nothing when the label exists), so of two moves made with the
same `expected_version` exactly one changes a row, on SQLite and PostgreSQL alike; the
loser sees no row changed and nothing of its transaction is kept.
"""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection

from eco_prompt_store.repository._tables import (
    LabelRecord,
    MoveRecord,
    is_postgres,
    labels,
    moves,
)


async def get_label(conn: AsyncConnection, prompt_id: int, label: str) -> LabelRecord | None:
    query = sa.select(labels).where(labels.c.prompt_id == prompt_id, labels.c.label == label)
    row = (await conn.execute(query)).mappings().first()
    return LabelRecord(**row) if row else None


async def swap_label(
    conn: AsyncConnection,
    *,
    prompt_id: int,
    label: str,
    version: int,
    expected: int | None,
    by: str,
    reason: str | None,
    at: datetime,
) -> bool:
    """Point `label` at `version` if it points at `expected` now (None: if it does not
    exist); append the move to the history. False when the label was elsewhere."""
    values = {
        "version": version,
        "previous_version": expected,
        "moved_by": by,
        "moved_at": at,
        "reason": reason,
    }
    if expected is None:
        dialect = postgresql if is_postgres(conn) else sqlite
        statement = (
            dialect.insert(labels)
            .values(prompt_id=prompt_id, label=label, **values)
            .on_conflict_do_nothing(index_elements=["prompt_id", "label"])
            .returning(labels.c.version)
        )
    else:
        statement = (
            labels.update()
            .where(
                labels.c.prompt_id == prompt_id,
                labels.c.label == label,
                labels.c.version == expected,
            )
            .values(**values)
        )
    result = await conn.execute(statement)
    # an INSERT's rowcount is not reliable on every driver: RETURNING says what it wrote
    changed = result.first() is not None if expected is None else result.rowcount == 1
    if not changed:
        return False
    await conn.execute(
        moves.insert().values(
            prompt_id=prompt_id,
            label=label,
            from_version=expected,
            to_version=version,
            by=by,
            reason=reason,
            at=at,
        )
    )
    return True


async def list_moves(
    conn: AsyncConnection, prompt_id: int, label: str, *, before_id: int | None, limit: int
) -> list[MoveRecord]:
    """Moves of a label, newest first."""
    query = sa.select(moves).where(moves.c.prompt_id == prompt_id, moves.c.label == label)
    if before_id is not None:
        query = query.where(moves.c.id < before_id)
    rows = await conn.execute(query.order_by(moves.c.id.desc()).limit(limit))
    return [MoveRecord(**r) for r in rows.mappings()]
