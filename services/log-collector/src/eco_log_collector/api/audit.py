"""`GET /audit` (the audit trail, newest first) and `GET /audit/verify` (its hash chain)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from eco_log_collector.api._params import CursorQuery, LimitQuery, TimeQuery, time_window
from eco_log_collector.api._scopes import AUDIT_READ
from eco_log_collector.deps import LogCollectorDep
from eco_log_collector.models import AuditPage, AuditVerification
from eco_shared.problems import problem_responses

router = APIRouter(prefix="/audit", tags=["audit"], dependencies=[AUDIT_READ])


@router.get(
    "",
    summary="Security-relevant events (eco.audit), newest first",
    responses=problem_responses((422, "A bad filter, time, limit or cursor")),
)
async def list_audit(
    collector: LogCollectorDep,
    type: Annotated[
        str | None, Query(max_length=200, description="Only this type (`key.revoked`).")
    ] = None,
    subject: Annotated[
        str | None,
        Query(max_length=300, description="Only events whose subject or actor this is."),
    ] = None,
    since: TimeQuery = None,
    until: TimeQuery = None,
    limit: LimitQuery = 100,
    cursor: CursorQuery = None,
) -> AuditPage:
    since_us, until_us = time_window(since, until)
    return await collector.audit.page(
        type=type,
        subject=subject,
        since_us=since_us,
        until_us=until_us,
        limit=limit,
        cursor=cursor,
    )


@router.get("/verify", summary="Check the audit trail's hash chain from its first record")
async def verify_audit(collector: LogCollectorDep) -> AuditVerification:
    """`ok` false names the first record changed, missing or out of order (`first_bad_seq`)."""
    return await collector.audit.verify()
