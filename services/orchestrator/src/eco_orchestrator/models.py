"""The run table. The wire models (requests, `RunPublic`, ...) live in the adapter module
`eco_shared.adapters.orchestrator`, which the routes import them from."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import JSON, Column, DateTime, Text
from sqlmodel import Field as SQLField
from sqlmodel import SQLModel

from eco_shared.adapters.orchestrator import RunPublic

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
    document_id: str | None = SQLField(default=None, max_length=64, index=True)
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
    # who the run is for (the verified caller's subject), never the body's claimed user_id
    owner: str | None = SQLField(default=None, max_length=200, index=True)
    # the scopes the owner held when the run was created: which tools it is offered
    scopes: list[str] | None = SQLField(default=None, sa_column=Column(JSON))
    # the run grant the issuer bound to this run (a credential: never shown, never on the bus)
    run_grant: str | None = SQLField(default=None, sa_column=Column(Text))
    grant_expires_at: datetime | None = SQLField(
        default=None, sa_column=Column(DateTime(timezone=True))
    )

    def public(self) -> RunPublic:
        """The public view of this run (without its grant)."""
        data = self.model_dump(exclude={"run_grant", "grant_expires_at", "scopes"})
        data["run_id"] = data.pop("id")
        data["download_url"] = (self.result or {}).get("download_url")
        return RunPublic.model_validate(data)
