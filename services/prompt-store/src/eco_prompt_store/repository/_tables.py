"""The tables the queries run on, and the records they hand back."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from eco_prompt_store.models import LabelMoveRow, LabelRow, PromptRow, PromptStoreTable, VersionRow
from eco_shared.outbox import outbox_table

prompts: sa.Table = PromptRow.__table__  # type: ignore[attr-defined]
versions: sa.Table = VersionRow.__table__  # type: ignore[attr-defined]
labels: sa.Table = LabelRow.__table__  # type: ignore[attr-defined]
moves: sa.Table = LabelMoveRow.__table__  # type: ignore[attr-defined]
OUTBOX_TABLE = "prompt_store_outbox"
# On the models' metadata, so a schema check holds it against 0001 like the rest.
outbox: sa.Table = outbox_table(OUTBOX_TABLE, PromptStoreTable.metadata)


def dumps(value: Any) -> str:
    """JSON text as stored: sorted keys, ASCII (so the stored text is one canonical form)."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"))


@dataclass(frozen=True)
class PromptRecord:
    id: int
    name: str
    description: str | None
    tags: list[str]
    kind: str
    last_version: int
    created_at: datetime
    created_by: str

    @classmethod
    def of(cls, row: Any) -> PromptRecord:
        return cls(**{**row, "tags": json.loads(row["tags"])})


@dataclass(frozen=True)
class VersionRecord:
    """A version row with its prompt's name."""

    id: int
    prompt_id: int
    name: str
    version: int
    sha256: str
    content_key: str
    template: str
    syntax: str
    variables: dict[str, Any]
    config: dict[str, Any]
    message: str | None
    author: str
    created_at: datetime
    origin: dict[str, Any] | None

    @classmethod
    def of(cls, row: Any) -> VersionRecord:
        origin = row["origin"]
        return cls(
            **{
                **row,
                "variables": json.loads(row["variables"]),
                "config": json.loads(row["config"]),
                "origin": json.loads(origin) if origin else None,
            }
        )


@dataclass(frozen=True)
class NewVersion:
    """What a write stores for one version (its number is claimed in the transaction)."""

    prompt_id: int
    sha256: str
    content_key: str
    template: str
    syntax: str
    variables: dict[str, Any]
    config: dict[str, Any]
    message: str | None
    author: str
    created_at: datetime
    origin: dict[str, Any] | None


@dataclass(frozen=True)
class LabelRecord:
    prompt_id: int
    label: str
    version: int
    previous_version: int | None
    moved_by: str
    moved_at: datetime
    reason: str | None


@dataclass(frozen=True)
class MoveRecord:
    id: int
    prompt_id: int
    label: str
    from_version: int | None
    to_version: int
    by: str
    reason: str | None
    at: datetime


class NameTaken(Exception):
    """Another prompt has this name (the transaction is void)."""


VERSION_COLUMNS = (*versions.c, prompts.c.name)


def is_postgres(conn: AsyncConnection) -> bool:
    """Whether `conn` talks to PostgreSQL (else SQLite)."""
    return conn.dialect.name == "postgresql"
