"""Group commit for creates: the creates waiting together are written in one transaction.

SQLite has one writer at a time, and every statement through the async driver is a hop to
its thread and back, so a create's own transaction spent most of its time in hops (16 ms
held for 5 statements under load). Creates that arrive while a transaction is being written
queue, and the next transaction writes all of them with one statement per table. Each
caller is answered only after that transaction has committed (a 201 still means stored),
and its event is staged under its own request's trace. When one of them reuses an
`Idempotency-Key` the transaction is void and each create of that group is written alone,
so only the reused key fails.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from opentelemetry import context as otel_context
from sqlalchemy.ext.asyncio import AsyncConnection

from eco_doc_store import repository as repo
from eco_doc_store.search import IndexEntry, IndexText

MAX_BATCH = 64


@dataclass
class PendingCreate:
    """One create waiting for its transaction."""

    document: repo.NewDocument
    version: repo.NewVersion
    text: IndexText
    event: dict[str, Any]
    context: otel_context.Context = field(default_factory=otel_context.get_current)
    done: asyncio.Future[None] = field(
        default_factory=lambda: asyncio.get_running_loop().create_future()
    )


Transaction = Callable[[], contextlib.AbstractAsyncContextManager[AsyncConnection]]
# `OutboxRelay.stage_many`: (type, data, the request's context) events in one statement
StageMany = Callable[
    [AsyncConnection, Sequence[tuple[str, Mapping[str, Any], otel_context.Context | None]]],
    Awaitable[Any],
]


class CreateBatcher:
    """Write pending creates in as few transactions as they allow (see the module)."""

    def __init__(self, transaction: Transaction, stage_many: StageMany, max_batch: int = MAX_BATCH):
        self._transaction = transaction
        self._stage_many = stage_many
        self._max_batch = max_batch
        self._pending: list[PendingCreate] = []
        self._writer: asyncio.Task[None] | None = None

    async def create(self, item: PendingCreate) -> None:
        """Store `item`; return once its transaction has committed (or raise its error)."""
        self._pending.append(item)
        if self._writer is None or self._writer.done():
            self._writer = asyncio.create_task(self._write_all(), name="doc-store-creates")
        # shielded: a caller that goes away does not cancel the others' transaction
        await asyncio.shield(item.done)

    async def drain(self) -> None:
        """Wait until every create submitted so far is written (at shutdown)."""
        while self._writer is not None and not self._writer.done():
            await asyncio.shield(self._writer)

    async def _write_all(self) -> None:
        batch: list[PendingCreate] = []
        try:
            while self._pending:
                batch = self._pending[: self._max_batch]
                del self._pending[: self._max_batch]
                try:
                    await self._write(batch)
                except repo.IdempotencyKeyTaken:
                    for item in batch:
                        await self._write_one(item)
                except Exception as exc:  # noqa: BLE001 - the callers get it; the writer goes on
                    for item in batch:
                        _settle(item, exc)
                else:
                    for item in batch:
                        _settle(item, None)
        except BaseException as exc:  # cancelled: nobody is left waiting for an answer
            for item in [*batch, *self._pending]:
                _settle(item, exc)
            self._pending.clear()
            raise

    async def _write_one(self, item: PendingCreate) -> None:
        try:
            await self._write([item])
        except Exception as exc:  # noqa: BLE001 - its caller gets it
            _settle(item, exc)
        else:
            _settle(item, None)

    async def _write(self, batch: list[PendingCreate]) -> None:
        async with self._transaction() as conn:
            await repo.insert_documents(conn, [i.document for i in batch])
            ids = await repo.insert_versions(conn, [i.version for i in batch])
            await repo.index_documents(
                conn,
                [
                    IndexEntry(
                        document_id=i.document.document_id,
                        search_id=vid,
                        version_id=vid,
                        owner=i.document.owner,
                        created_at=i.document.now,
                        text=i.text,
                    )
                    for i, vid in zip(batch, ids, strict=True)
                ],
            )
            await self._stage_many(
                conn, [("document.stored", item.event, item.context) for item in batch]
            )


def _settle(item: PendingCreate, error: BaseException | None) -> None:
    if item.done.done():
        return
    if error is None:
        item.done.set_result(None)
    else:
        item.done.set_exception(error)
