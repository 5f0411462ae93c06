"""Runs: the table, the request bodies and the public shapes."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, Literal

from pydantic import BaseModel, Field, field_validator
from sqlalchemy import JSON, Column, DateTime
from sqlmodel import Field as SQLField
from sqlmodel import SQLModel

Format = Literal["markdown", "json", "html", "txt", "csv", "pdf"]
RunStatus = Literal[
    "queued",
    "running",
    "waiting_review",
    "completed",
    "failed",
    "cancelled",
    "needs_clarification",
]
TERMINAL: frozenset[str] = frozenset({"completed", "failed", "cancelled", "needs_clarification"})


def utcnow() -> datetime:
    """Aware UTC now."""
    return datetime.now(UTC)


class RunBase(SQLModel):
    query: str
    format: str = "markdown"
    user_id: str | None = None
    review: bool = False


class Run(RunBase, table=True):
    """One query's execution: its record outlives its checkpoints."""

    __tablename__ = "orchestrator_runs"

    id: str = SQLField(primary_key=True, max_length=64)
    status: str = SQLField(default="queued", index=True, max_length=32)
    format_explicit: bool = False
    workflow: str | None = SQLField(default=None, max_length=64)
    current_node: str | None = SQLField(default=None, max_length=64)
    result: dict[str, Any] | None = SQLField(default=None, sa_column=Column(JSON))
    error: str | None = None
    document_id: str | None = SQLField(default=None, max_length=64)
    trace_id: str | None = SQLField(default=None, max_length=32)
    executed_by: str | None = SQLField(default=None, max_length=200)
    executions: int = 0
    timings: dict[str, Any] | None = SQLField(default=None, sa_column=Column(JSON))
    checkpoints_pruned: bool = False
    created_at: datetime = SQLField(
        default_factory=utcnow, sa_column=Column(DateTime(timezone=True), index=True)
    )
    updated_at: datetime = SQLField(
        default_factory=utcnow, sa_column=Column(DateTime(timezone=True))
    )
    started_at: datetime | None = SQLField(default=None, sa_column=Column(DateTime(timezone=True)))
    finished_at: datetime | None = SQLField(
        default=None, sa_column=Column(DateTime(timezone=True), index=True)
    )


class QueryCreate(BaseModel):
    """A natural-language query to run."""

    query: str = Field(min_length=1, description="What to do, in plain words.")
    format: Format = "markdown"
    user_id: str | None = Field(default=None, max_length=200)
    review: bool = Field(default=False, description="Pause for approval before storing.")

    @field_validator("query")
    @classmethod
    def _not_blank(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("query must not be blank")
        return value.strip()


class ExecuteQuery(QueryCreate):
    """A query whose result the caller waits for (the seed's contract)."""

    review: bool = False


class QueryAccepted(BaseModel):
    """The 202 answer: where to follow the run."""

    run_id: str
    status: str
    status_url: str
    events_url: str


class RunPublic(BaseModel):
    """A run as the API shows it."""

    run_id: str
    status: str
    query: str
    format: str
    user_id: str | None
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
    created_at: datetime
    updated_at: datetime
    started_at: datetime | None
    finished_at: datetime | None

    @classmethod
    def of(cls, run: Run) -> RunPublic:
        """The public view of a stored run."""
        data = run.model_dump()
        data["run_id"] = data.pop("id")
        return cls.model_validate(data)


class RunPage(BaseModel):
    """A page of runs, newest first."""

    items: list[RunPublic]
    total: int
    page: int
    page_size: int


class ResumeRequest(BaseModel):
    """The reviewer's verdict on a paused run."""

    approve: bool
    edits: str | None = Field(
        default=None, max_length=1_000_000, description="Replacement markdown content."
    )
    comment: str | None = Field(default=None, max_length=2000)


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
