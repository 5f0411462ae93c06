"""Typed client of the orchestrator, and its wire models: queries in, runs and documents out.

The orchestrator's routes use these request and response models themselves, so the two
cannot drift apart.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any, Literal

import httpx
from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StrictBool

from eco_shared import sse
from eco_shared.adapters._base import BaseServiceAdapter, operation
from eco_shared.models.orchestrator import (
    WorkflowGraph,
    WorkflowList,
)

# "zip" is stored as markdown and downloaded from the doc store as an RO-Crate bundle
Format = Literal["markdown", "json", "html", "txt", "csv", "pdf", "zip"]
RunStatus = Literal[
    "queued",
    "running",
    "waiting_review",
    "completed",
    "failed",
    "cancelled",
    "needs_clarification",
]
# the default of ECO_ORCHESTRATOR_MAX_QUERY_CHARS, so the schema says what the service enforces
MAX_QUERY_CHARS = 2000
# a schema-valid resume body stays under the 1 MiB body limit even when every character is
# JSON-escaped astral (12 bytes)
MAX_EDITS_CHARS = 80_000


def _utc(value: datetime) -> datetime:
    # SQLite hands datetimes back naive; they were written as UTC
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


UtcDatetime = Annotated[datetime, AfterValidator(_utc)]


class QueryCreate(BaseModel):
    """A natural-language query to run."""

    query: str = Field(
        min_length=1,
        description="What to do, in plain words (at most the service's `max_query_chars`).",
        # not blank: \x1c-\x1f are whitespace to Python, not to the Rust regex pydantic uses
        pattern=r"[^\s\x1c-\x1f]",
        json_schema_extra={"maxLength": MAX_QUERY_CHARS},
    )
    format: Format = "markdown"
    user_id: str | None = Field(default=None, max_length=200)
    review: StrictBool = Field(default=False, description="Pause for approval before storing.")


class ExecuteQuery(QueryCreate):
    """A query whose result the caller waits for (the seed's contract)."""

    review: StrictBool = False


class QueryAccepted(BaseModel):
    """The 202 answer to `POST /queries`: where to follow the run."""

    run_id: str
    status: str
    status_url: str
    events_url: str


class RunPublic(BaseModel):
    """A run as the API shows it: status, current node, result, error."""

    run_id: str
    status: RunStatus
    query: str
    format: str
    owner: str | None = Field(
        default=None,
        description="Who the run belongs to: the caller's verified subject (`user:<id>`).",
    )
    user_id: str | None = Field(description="The `user_id` the request claimed (only a claim).")
    review: bool
    workflow: str | None
    current_node: str | None
    result: dict[str, Any] | None
    error: str | None
    document_id: str | None
    trace_id: str | None
    executed_by: str | None
    executions: int
    timings: dict[str, Any] | None
    checkpoints_pruned: bool
    download_url: str | None = Field(
        default=None, description="Where the stored document is fetched (in the run's format)."
    )
    created_at: UtcDatetime
    updated_at: UtcDatetime
    started_at: UtcDatetime | None
    finished_at: UtcDatetime | None


class RunPage(BaseModel):
    """A page of runs, newest first."""

    items: list[RunPublic]
    total: int
    page: int
    page_size: int
    next_cursor: str | None = Field(
        default=None, description="Pass back as `cursor` for the next page; absent on the last."
    )


class RunChange(BaseModel):
    """One change of `GET /runs/watch`: a run was created or its status changed."""

    cursor: str = Field(description="The SSE id: resume after it with `Last-Event-ID`.")
    type: str = Field(description="The `run.*` event that announced it (`run.created`, ...).")
    run_id: str
    status: RunStatus
    owner: str | None = None
    time: str = Field(description="When the change was published (RFC 3339).")


class ResumeRequest(BaseModel):
    """The reviewer's verdict on a paused run."""

    approve: StrictBool
    edits: str | None = Field(
        default=None, max_length=MAX_EDITS_CHARS, description="Replacement markdown content."
    )
    comment: str | None = Field(default=None, max_length=2000)


class _Feedback(BaseModel):
    model_config = ConfigDict(extra="forbid")

    comment: str | None = Field(default=None, max_length=2000)


class RatingFeedback(_Feedback):
    """A thumb up or down on a finished run."""

    rating: Literal["up", "down"]


class ScoreFeedback(_Feedback):
    """A score in 0..1 of a finished run."""

    score: Annotated[float, Field(strict=True, ge=0, le=1)]


# one verdict a request: a rating or a score, never both (extra fields are refused)
FeedbackRequest = RatingFeedback | ScoreFeedback


class FeedbackAccepted(BaseModel):
    """The 202 answer to feedback: it is on its way to the prompt store as `run.feedback`."""

    run_id: str
    rating: Literal["up", "down"] | None
    score: float | None


class CancelAccepted(BaseModel):
    """What a cancel request did."""

    run_id: str
    status: str


class ExecuteResult(BaseModel):
    """The seed's contract: the stored document and how it was made."""

    run_id: str
    status: str
    document_id: str
    download_url: str
    provenance: dict[str, Any]
    trace_id: str | None


class RunEvent(BaseModel):
    """One server-sent event of a run."""

    id: str
    event: str
    data: dict[str, Any]


def parse_sse(text: str) -> list[RunEvent]:
    """The run events of a server-sent events body."""
    return [RunEvent(id=e.id, event=e.event, data=e.json()) for e in sse.parse_sse(text)]


class OrchestratorAdapter(BaseServiceAdapter):
    """The orchestrator, found through discovery."""

    service_name = "orchestrator"

    @operation("POST", "/queries", body=True, response=QueryAccepted)
    async def submit_query(
        self,
        query: str,
        *,
        format: Format | None = None,
        user_id: str | None = None,
        review: bool = False,
    ) -> QueryAccepted:
        """Queue a natural-language query; returns where to follow the run."""
        body: dict[str, Any] = {"query": query, "review": review}
        if format is not None:
            body["format"] = format
        if user_id is not None:
            body["user_id"] = user_id
        response = await self._request(
            "POST", "/queries", operation="create_query", json=body, ok=(202,)
        )
        return QueryAccepted.model_validate(response.json())

    @operation("POST", "/execute-query", body=True, response=ExecuteResult)
    async def execute_query(
        self,
        query: str,
        *,
        format: Format = "markdown",
        user_id: str | None = None,
        timeout_s: float = 180.0,
    ) -> ExecuteResult:
        """Run a query and wait for its stored document (the seed's contract)."""
        body = {"query": query, "format": format, "user_id": user_id}
        response = await self._request(
            "POST",
            "/execute-query",
            operation="execute_query",
            json=body,
            ok=(200,),
            timeout=httpx.Timeout(10.0, read=timeout_s),
        )
        return ExecuteResult.model_validate(response.json())

    @operation("GET", "/runs/{run_id}", response=RunPublic)
    async def get_run(self, run_id: str) -> RunPublic:
        """One run."""
        response = await self._request(
            "GET", "/runs/{run_id}", operation="get_run", path_params={"run_id": run_id}
        )
        return RunPublic.model_validate(response.json())

    @operation(
        "GET",
        "/runs",
        query=("status", "user_id", "owner", "cursor", "page", "page_size"),
        response=RunPage,
    )
    async def list_runs(
        self,
        *,
        status: str | None = None,
        user_id: str | None = None,
        owner: str | None = None,
        page: int = 1,
        page_size: int = 50,
        cursor: str | None = None,
    ) -> RunPage:
        """The caller's runs (everyone's with `runs:read:all`), newest first, filtered by
        status, claimed user and owner; `cursor` (a page's `next_cursor`) pages on by key."""
        params: dict[str, Any] = {"page_size": page_size}
        if cursor is not None:
            params["cursor"] = cursor
        else:
            params["page"] = page
        if status is not None:
            params["status"] = status
        if user_id is not None:
            params["user_id"] = user_id
        if owner is not None:
            params["owner"] = owner
        response = await self._request("GET", "/runs", operation="list_runs", params=params)
        return RunPage.model_validate(response.json())

    @operation("GET", "/runs/{run_id}/events", query=("after",))
    async def run_events(
        self, run_id: str, *, after: str | None = None, timeout_s: float = 180.0
    ) -> list[RunEvent]:
        """The run's events after `after`, read until the run finishes."""
        headers = {"Last-Event-ID": after} if after else {}
        response = await self._request(
            "GET",
            "/runs/{run_id}/events",
            operation="run_events",
            path_params={"run_id": run_id},
            headers=headers,
            timeout=httpx.Timeout(10.0, read=timeout_s),
        )
        return parse_sse(response.text)

    @operation("POST", "/runs/{run_id}/cancel", response=CancelAccepted)
    async def cancel_run(self, run_id: str) -> CancelAccepted:
        """Cancel a run."""
        response = await self._request(
            "POST",
            "/runs/{run_id}/cancel",
            operation="cancel_run",
            path_params={"run_id": run_id},
            ok=(202,),
        )
        return CancelAccepted.model_validate(response.json())

    @operation("POST", "/runs/{run_id}/resume", body=True, response=RunPublic)
    async def resume_run(
        self, run_id: str, *, approve: bool, edits: str | None = None, comment: str | None = None
    ) -> RunPublic:
        """Approve (optionally with edited markdown) or reject a run paused for review."""
        body: dict[str, Any] = {"approve": approve}
        if edits is not None:
            body["edits"] = edits
        if comment is not None:
            body["comment"] = comment
        response = await self._request(
            "POST",
            "/runs/{run_id}/resume",
            operation="resume_run",
            path_params={"run_id": run_id},
            json=body,
            ok=(202,),
        )
        return RunPublic.model_validate(response.json())

    @operation("POST", "/runs/{run_id}/feedback", body=True, response=FeedbackAccepted)
    async def feedback(
        self,
        run_id: str,
        *,
        rating: Literal["up", "down"] | None = None,
        score: float | None = None,
        comment: str | None = None,
    ) -> FeedbackAccepted:
        """Rate a finished run (`rating` up/down, or a `score` in 0..1), for the prompt
        store's experiment outcomes."""
        body: dict[str, Any] = {"rating": rating} if score is None else {"score": score}
        if comment is not None:
            body["comment"] = comment
        response = await self._request(
            "POST",
            "/runs/{run_id}/feedback",
            operation="run_feedback",
            path_params={"run_id": run_id},
            json=body,
            ok=(202,),
        )
        return FeedbackAccepted.model_validate(response.json())

    @operation("GET", "/workflows", response=WorkflowList)
    async def list_workflows(self) -> WorkflowList:
        """The workflows, each with a one-line description."""
        response = await self._request("GET", "/workflows", operation="list_workflows")
        return WorkflowList.model_validate(response.json())

    @operation("GET", "/workflows/{name}/graph", response=WorkflowGraph)
    async def workflow_graph(self, name: str) -> WorkflowGraph:
        """A workflow's graph: its nodes and edges, subgraphs expanded."""
        response = await self._request(
            "GET",
            "/workflows/{name}/graph",
            operation="workflow_graph",
            path_params={"name": name},
        )
        return WorkflowGraph.model_validate(response.json())

    @operation(
        "GET",
        "/documents/{document_id}/provenance",
        query=("format",),
        response=dict[str, Any],
    )
    async def document_provenance(
        self, document_id: str, *, format: Literal["json", "prov-json"] | None = None
    ) -> dict[str, Any]:
        """A document's provenance record (from the doc store)."""
        params = {"format": format} if format else {}
        response = await self._request(
            "GET",
            "/documents/{document_id}/provenance",
            operation="document_provenance",
            path_params={"document_id": document_id},
            params=params,
        )
        body: dict[str, Any] = response.json()
        return body
