"""Typed client of the orchestrator: queries in, runs and documents out."""

from __future__ import annotations

from typing import Any, Literal

import httpx
from pydantic import BaseModel

from eco_shared import sse
from eco_shared.adapters._base import BaseServiceAdapter, operation

Format = Literal["markdown", "json", "html", "txt", "csv", "pdf"]


class QueryAccepted(BaseModel):
    """The answer to `POST /queries`."""

    run_id: str
    status: str
    status_url: str
    events_url: str


class RunInfo(BaseModel):
    """A run: status, current node, result, error."""

    run_id: str
    status: str
    query: str
    format: str
    user_id: str | None = None
    review: bool = False
    workflow: str | None = None
    current_node: str | None = None
    result: dict[str, Any] | None = None
    error: str | None = None
    document_id: str | None = None
    trace_id: str | None = None
    executed_by: str | None = None
    executions: int = 0
    timings: dict[str, Any] | None = None


class RunList(BaseModel):
    """A page of runs, newest first."""

    items: list[RunInfo]
    total: int
    page: int
    page_size: int


class ExecuteResult(BaseModel):
    """The seed's contract: the stored document and its provenance."""

    run_id: str
    status: str
    document_id: str
    download_url: str
    provenance: dict[str, Any]
    trace_id: str | None = None


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

    @operation("POST", "/queries", body=True)
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

    @operation("POST", "/execute-query", body=True)
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

    @operation("GET", "/runs/{run_id}")
    async def get_run(self, run_id: str) -> RunInfo:
        """One run."""
        response = await self._request(
            "GET", "/runs/{run_id}", operation="get_run", path_params={"run_id": run_id}
        )
        return RunInfo.model_validate(response.json())

    @operation("GET", "/runs", query=("status", "user_id", "page", "page_size"))
    async def list_runs(
        self,
        *,
        status: str | None = None,
        user_id: str | None = None,
        page: int = 1,
        page_size: int = 50,
    ) -> RunList:
        """Runs, newest first, filtered by status and user."""
        params: dict[str, Any] = {"page": page, "page_size": page_size}
        if status is not None:
            params["status"] = status
        if user_id is not None:
            params["user_id"] = user_id
        response = await self._request("GET", "/runs", operation="list_runs", params=params)
        return RunList.model_validate(response.json())

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

    @operation("POST", "/runs/{run_id}/cancel")
    async def cancel_run(self, run_id: str) -> dict[str, Any]:
        """Cancel a run."""
        response = await self._request(
            "POST",
            "/runs/{run_id}/cancel",
            operation="cancel_run",
            path_params={"run_id": run_id},
            ok=(202,),
        )
        body: dict[str, Any] = response.json()
        return body

    @operation("POST", "/runs/{run_id}/resume", body=True)
    async def resume_run(
        self, run_id: str, *, approve: bool, edits: str | None = None, comment: str | None = None
    ) -> RunInfo:
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
        return RunInfo.model_validate(response.json())

    @operation("GET", "/documents/{document_id}/provenance", query=("format",))
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
