"""A transactional outbox: events staged in the write's own transaction, published by a relay.

`stage(conn, table, type, data)` inserts the event into the service's outbox table on the
caller's connection, so the event exists if and only if the write it announces commits.
`OutboxRelay` publishes the unpublished rows in order, each with the event id it was staged
under, and marks them published: a row published twice (a relay that died between XADD
and UPDATE, two SQLite relays) reaches consumers as the same event id, which they already
de-duplicate (delivery is at least once anyway). While Redis is down the rows wait and
the relay backs off; nothing is lost.

The relay wakes at once when a transaction opened with `relay.begin()` commits, and polls
every `poll_interval_s` for rows staged elsewhere (another replica, a process that died
before its relay ran). On PostgreSQL each batch is claimed with `FOR UPDATE SKIP LOCKED`,
so several replicas relay at once without publishing the same rows together; on SQLite
run one relay per database file. Published rows are deleted after `retention_s`.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
from collections.abc import AsyncIterator, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import sqlalchemy as sa
import structlog
from alembic import op
from opentelemetry import context as otel_context
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, AsyncSession
from sqlalchemy.schema import SchemaItem

from eco_shared.bus import EVENTS, EventBus, new_event_id
from eco_shared.telemetry import extract_context, inject_traceparent

__all__ = [
    "OutboxRelay",
    "create_outbox_table",
    "drop_outbox_table",
    "outbox_table",
    "stage",
]

log = structlog.get_logger(__name__)

_ERROR_CHARS = 2000


def _columns(name: str) -> list[SchemaItem]:
    # Integer on SQLite: only INTEGER PRIMARY KEY is the autoincrementing rowid there.
    return [
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            primary_key=True,
            autoincrement=True,
        ),
        sa.Column("event_id", sa.String(64), nullable=False),
        sa.Column("type", sa.String(255), nullable=False),
        sa.Column("data", sa.JSON(), nullable=False),
        sa.Column("traceparent", sa.String(64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("published_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("attempts", sa.Integer(), nullable=False, server_default="0"),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.UniqueConstraint("event_id", name=f"uq_{name}_event_id"),
    ]


def _index_name(name: str) -> str:
    # (published_at, id) serves both "unpublished, in order" and pruning by age.
    return f"ix_{name}_published_at_id"


def outbox_table(name: str, metadata: sa.MetaData | None = None) -> sa.Table:
    """The outbox table `name` (e.g. `doc_store_outbox`), on `metadata` or a private one."""
    table = sa.Table(name, metadata if metadata is not None else sa.MetaData(), *_columns(name))
    sa.Index(_index_name(name), table.c.published_at, table.c.id)
    return table


def create_outbox_table(name: str) -> None:
    """Create the outbox table `name` from inside an Alembic migration's `upgrade()`."""
    op.create_table(name, *_columns(name))
    op.create_index(_index_name(name), name, ["published_at", "id"])


def drop_outbox_table(name: str) -> None:
    """Drop the outbox table `name` from inside an Alembic migration's `downgrade()`."""
    op.drop_index(_index_name(name), table_name=name)
    op.drop_table(name)


async def stage(
    conn: AsyncConnection | AsyncSession, table: sa.Table, type: str, data: Mapping[str, Any]
) -> str:
    """Write one event into `table` in the caller's transaction; return its event id.

    The current span's `traceparent` is kept, so the event joins the write's trace when
    the relay publishes it.
    """
    return (await stage_many(conn, table, [(type, data, None)]))[0]


async def stage_many(
    conn: AsyncConnection | AsyncSession,
    table: sa.Table,
    events: Sequence[tuple[str, Mapping[str, Any], otel_context.Context | None]],
) -> list[str]:
    """Write several `(type, data, context)` events in one statement, in the caller's
    transaction and in this order; return their event ids.

    Each keeps the `traceparent` of its own `context` (None: the current one), so events
    written together for several requests still join each request's own trace.
    """
    now = datetime.now(UTC)
    rows: list[dict[str, Any]] = [
        {
            "event_id": new_event_id(),
            "type": type,
            "data": dict(data),
            "traceparent": inject_traceparent({}, context=context).get("traceparent", ""),
            "created_at": now,
            "attempts": 0,
        }
        for type, data, context in events
    ]
    if rows:
        await conn.execute(table.insert(), rows)
    return [str(row["event_id"]) for row in rows]


def _rfc3339(value: datetime) -> str:
    if value.tzinfo is None:  # SQLite hands back the naive UTC it stored
        value = value.replace(tzinfo=UTC)
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


class OutboxRelay:
    """Publish the rows of one outbox table to the bus, in order, and mark them published."""

    def __init__(
        self,
        engine: AsyncEngine,
        table: sa.Table,
        bus: EventBus,
        *,
        stream: str = EVENTS,
        batch_size: int = 100,
        poll_interval_s: float = 2.0,
        backoff_min_s: float = 0.2,
        backoff_max_s: float = 5.0,
        retention_s: float = 86_400.0,
        prune_interval_s: float = 300.0,
    ) -> None:
        if batch_size < 1 or poll_interval_s <= 0 or backoff_min_s <= 0 or retention_s < 0:
            raise ValueError("batch_size >= 1, poll and backoff > 0, retention >= 0")
        self.engine = engine
        self.table = table
        self.bus = bus
        self.stream = stream
        self.batch_size = batch_size
        self.poll_interval_s = poll_interval_s
        self.backoff_min_s = backoff_min_s
        self.backoff_max_s = max(backoff_max_s, backoff_min_s)
        self.retention_s = retention_s
        self.prune_interval_s = prune_interval_s
        self.published = 0
        self._wake = asyncio.Event()
        self._stop = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    async def stage(
        self, conn: AsyncConnection | AsyncSession, type: str, data: Mapping[str, Any]
    ) -> str:
        """`stage` into this relay's table (in the caller's transaction)."""
        return await stage(conn, self.table, type, data)

    async def stage_many(
        self,
        conn: AsyncConnection | AsyncSession,
        events: Sequence[tuple[str, Mapping[str, Any], otel_context.Context | None]],
    ) -> list[str]:
        """`stage_many` into this relay's table (in the caller's transaction)."""
        return await stage_many(conn, self.table, events)

    @contextlib.asynccontextmanager
    async def begin(self) -> AsyncIterator[AsyncConnection]:
        """`engine.begin()` that wakes the relay once the transaction has committed."""
        async with self.engine.begin() as conn:
            yield conn
        self.notify()

    def notify(self) -> None:
        """Something was committed to the outbox: publish now rather than at the next poll."""
        self._wake.set()

    @property
    def running(self) -> bool:
        """Whether the relay's task is alive."""
        return self._task is not None and not self._task.done()

    def start(self) -> None:
        """Start relaying on the running loop (rows left by an earlier process go first)."""
        if self.running:
            raise RuntimeError("the outbox relay is already running")
        self._stop.clear()
        self._wake.set()
        self._task = asyncio.create_task(self._run(), name=f"eco-outbox-{self.table.name}")

    async def stop(self, timeout_s: float = 5.0) -> None:
        """Publish what is staged (for up to `timeout_s`), then end the task; the rest waits."""
        task, self._task = self._task, None
        if task is None:
            return
        self._stop.set()
        self._wake.set()
        try:
            await asyncio.wait_for(asyncio.shield(task), timeout_s)
        except TimeoutError:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)

    async def pending(self) -> int:
        """How many staged events are not yet published."""
        t = self.table
        query = sa.select(sa.func.count()).select_from(t).where(t.c.published_at.is_(None))
        async with self.engine.connect() as conn:
            return int((await conn.execute(query)).scalar_one())

    async def relay_once(self) -> int:
        """Publish one batch of unpublished rows, oldest first; return how many were published.

        A publish that fails leaves its row (and the rest of the batch) unpublished, with the
        attempt and the error recorded, and raises.
        """
        t = self.table
        query = (
            sa.select(t.c.id, t.c.event_id, t.c.type, t.c.data, t.c.traceparent, t.c.created_at)
            .where(t.c.published_at.is_(None))
            .order_by(t.c.id)
            .limit(self.batch_size)
        )
        async with self.engine.connect() as conn:
            if conn.dialect.name == "postgresql":
                # Claimed until the commit below: another replica skips these rows.
                query = query.with_for_update(skip_locked=True)
            rows = (await conn.execute(query)).all()
            if not rows:
                await conn.rollback()
                return 0
            done: list[int] = []
            try:
                for row in rows:
                    await self._publish(row)
                    done.append(row.id)
            except Exception as exc:
                await self._mark(conn, done)
                failed = rows[len(done)].id
                await conn.execute(
                    t.update()
                    .where(t.c.id == failed)
                    .values(attempts=t.c.attempts + 1, last_error=f"{exc!r}"[:_ERROR_CHARS])
                )
                await conn.commit()
                self.published += len(done)
                raise
            await self._mark(conn, done)
            await conn.commit()
        self.published += len(done)
        return len(done)

    async def prune(self) -> int:
        """Delete rows published more than `retention_s` ago; return how many."""
        t = self.table
        cutoff = datetime.now(UTC) - timedelta(seconds=self.retention_s)
        removed = 0
        while True:
            batch = (
                sa.select(t.c.id)
                .where(t.c.published_at.is_not(None), t.c.published_at < cutoff)
                .limit(1000)
                .scalar_subquery()
            )
            async with self.engine.begin() as conn:
                result = await conn.execute(t.delete().where(t.c.id.in_(batch)))
            count = result.rowcount or 0
            removed += count
            if count < 1000:
                return removed

    async def _publish(self, row: Any) -> None:
        # The send span (and so every consumer's span) joins the trace of the write.
        token = (
            otel_context.attach(extract_context({"traceparent": row.traceparent}))
            if row.traceparent
            else None
        )
        try:
            await self.bus.publish(
                row.type,
                row.data,
                stream=self.stream,
                id=row.event_id,
                time=_rfc3339(row.created_at),
            )
        finally:
            if token is not None:
                otel_context.detach(token)

    async def _mark(self, conn: AsyncConnection, ids: Sequence[int]) -> None:
        if ids:
            t = self.table
            now = datetime.now(UTC)
            await conn.execute(t.update().where(t.c.id.in_(ids)).values(published_at=now))

    async def _run(self) -> None:
        backoff = self.backoff_min_s
        failing = False
        loop = asyncio.get_running_loop()
        next_prune = loop.time()
        while True:
            self._wake.clear()
            try:
                count = await self.relay_once()
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # noqa: BLE001 - Redis or the database away: wait, retry
                if not failing:
                    log.warning("outbox_relay_failing", table=self.table.name, error=repr(exc))
                failing = True
                # Full jitter, so replicas coming back together do not retry in step; a
                # commit does not cut the wait short (the outage has not), a stop does.
                with contextlib.suppress(TimeoutError):
                    delay = random.uniform(self.backoff_min_s, backoff)
                    await asyncio.wait_for(self._stop.wait(), delay)
                if self._stop.is_set():
                    return
                backoff = min(backoff * 2, self.backoff_max_s)
                continue
            if failing:
                log.info("outbox_relay_recovered", table=self.table.name)
                failing = False
            backoff = self.backoff_min_s
            if count == self.batch_size:
                continue  # more may be waiting
            if self._stop.is_set():
                return
            if loop.time() >= next_prune:
                next_prune = loop.time() + self.prune_interval_s
                try:
                    await self.prune()
                except Exception as exc:  # noqa: BLE001
                    log.warning("outbox_prune_failed", table=self.table.name, error=repr(exc))
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), self.poll_interval_s)
