"""`GET /ingest-errors`: stream entries that were not valid records, with the reason."""

from __future__ import annotations

import json
from typing import Annotated

from fastapi import APIRouter, Query

from eco_log_collector import repository as repo
from eco_log_collector.api._params import parse_cursor
from eco_log_collector.deps import Engine
from eco_log_collector.models import IngestErrorOut, IngestErrorPage
from eco_log_collector.records import from_us

router = APIRouter(prefix="/ingest-errors", tags=["ingest errors"])


@router.get("", summary="Entries stored as parse errors, newest first")
async def list_ingest_errors(
    engine: Engine,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    cursor: Annotated[str | None, Query(max_length=200)] = None,
) -> IngestErrorPage:
    rows = await repo.query_ingest_errors(engine, limit, parse_cursor(cursor))
    more = len(rows) > limit
    rows = rows[:limit]
    items = []
    for row in rows:
        try:
            raw = json.loads(row["raw"])
        except ValueError:
            raw = {}
        items.append(
            IngestErrorOut(
                id=row["id"],
                event_id=row["event_id"],
                stream=row["stream"],
                entry_id=row["entry_id"],
                source=row["source"],
                reason=row["reason"],
                time=from_us(row["time_us"]),
                raw=raw if isinstance(raw, dict) else {"value": raw},
            )
        )
    next_cursor = repo.encode_cursor(rows[-1]["time_us"], rows[-1]["id"]) if more else None
    return IngestErrorPage(items=items, next_cursor=next_cursor)
