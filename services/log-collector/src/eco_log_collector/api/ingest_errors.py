"""`GET /ingest-errors`: stream entries that were not valid records, with the reason."""

from __future__ import annotations

from fastapi import APIRouter

from eco_log_collector.api._params import CursorQuery, LimitQuery
from eco_log_collector.api._scopes import LOGS_READ
from eco_log_collector.deps import LogCollectorDep
from eco_log_collector.models import IngestErrorPage
from eco_shared.problems import problem_responses

router = APIRouter(prefix="/ingest-errors", tags=["ingest errors"], dependencies=[LOGS_READ])


@router.get(
    "",
    summary="Entries stored as parse errors, newest first",
    responses=problem_responses((422, "A bad limit or cursor")),
)
async def list_ingest_errors(
    collector: LogCollectorDep, limit: LimitQuery = 100, cursor: CursorQuery = None
) -> IngestErrorPage:
    return await collector.queries.ingest_errors(limit=limit, cursor=cursor)
