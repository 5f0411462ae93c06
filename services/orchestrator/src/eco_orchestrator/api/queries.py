"""`/queries` and `/execute-query`: natural-language queries in, runs out."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Request, Response

from eco_orchestrator.access import bearer_token
from eco_orchestrator.api._problems import DELEGATION, DOC_STORE_FAILED, QUERY_REFUSED
from eco_orchestrator.deps import OrchestratorDep, SettingsDep
from eco_shared.adapters.orchestrator import (
    ExecuteQuery,
    ExecuteResult,
    QueryAccepted,
    QueryCreate,
)
from eco_shared.auth import Principal, require
from eco_shared.problems import ProblemError, ValidationProblem, field_error, problem_responses

router = APIRouter(tags=["queries"])
Creator = Annotated[Principal, require("runs:create")]


def _accepted(request: Request, run_id: str, status: str) -> QueryAccepted:
    base = str(request.base_url).rstrip("/")
    return QueryAccepted(
        run_id=run_id,
        status=status,
        status_url=f"{base}/runs/{run_id}",
        events_url=f"{base}/runs/{run_id}/events",
    )


@router.post(
    "/queries",
    status_code=202,
    summary="Run a natural-language query as a durable workflow",
    openapi_extra={"x-eco-intent": "run a natural-language query as a workflow"},
    responses=problem_responses(
        *QUERY_REFUSED, *DELEGATION, (503, "The run queue or the issuer is unavailable")
    ),
)
async def create_query(
    body: QueryCreate,
    request: Request,
    response: Response,
    orchestrator: OrchestratorDep,
    caller: Creator,
) -> QueryAccepted:
    run = await orchestrator.submit(body, caller, bearer_token(request))
    response.headers["Location"] = f"/runs/{run.id}"
    return _accepted(request, run.id, run.status)


@router.post(
    "/execute-query",
    summary="Run a query and wait for its stored document",
    responses=problem_responses(
        *QUERY_REFUSED,
        *DELEGATION,
        *DOC_STORE_FAILED,
        (409, "The run ended cancelled"),
        (422, "The query is invalid, or needs clarification (`workflows`, `services`)"),
        (502, "The run failed, or the doc store answered with an error"),
        (503, "The run queue, the issuer or the doc store is unavailable"),
        (504, "The run did not finish within `execute_timeout_s`"),
    ),
)
async def execute_query(
    body: ExecuteQuery,
    request: Request,
    orchestrator: OrchestratorDep,
    settings: SettingsDep,
    caller: Creator,
) -> ExecuteResult:
    run = await orchestrator.submit(body, caller, bearer_token(request))
    run = await orchestrator.wait(run.id, settings.execute_timeout_s)
    if run.status == "needs_clarification":
        clarification = (run.result or {}).get("clarification") or {}
        message = clarification.get("message") or "The query needs clarification."
        raise ValidationProblem(
            [field_error("body", "query", message)],
            message,
            title="Query needs clarification",
            run_id=run.id,
            workflows=clarification.get("workflows"),
            services=clarification.get("services"),
        )
    if run.status != "completed" or not run.document_id:
        raise ProblemError(
            502 if run.status == "failed" else 409,
            run.error or f"The run ended {run.status}.",
            title=f"Run {run.status}",
            run_id=run.id,
        )
    provenance = await orchestrator.provenance_of(run, run.document_id, None)
    return ExecuteResult(
        run_id=run.id,
        status=run.status,
        document_id=run.document_id,
        download_url=str((run.result or {}).get("download_url") or ""),
        provenance=provenance,
        trace_id=run.trace_id,
    )
