"""Tables (SQLModel) of the prompt store.

The wire models live in `eco_shared.models.prompt_store` (shared with the adapter). JSON
values (tags, variables, config, origin) are kept as JSON text, so any string in them
(a NUL, say) is stored as written on SQLite and PostgreSQL alike.
"""

from __future__ import annotations

from datetime import UTC, datetime

import sqlalchemy as sa
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import registry
from sqlmodel import Field as SQLField
from sqlmodel import SQLModel

MAX_SUBJECT_CHARS = 255


class UTCDateTime(sa.types.TypeDecorator[datetime]):
    """Aware UTC datetimes in and out, on SQLite (which stores them naive) as on PostgreSQL."""

    impl = sa.DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        value = value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


class PromptStoreTable(SQLModel, registry=registry()):
    """Base of the prompt store's tables: their own metadata, so Alembic sees only ours."""


class PromptRow(PromptStoreTable, table=True):
    """A prompt: its name, what it is for, and how many versions it has had."""

    __tablename__ = "prompts"
    __table_args__ = (sa.UniqueConstraint("name", name="uq_prompts_name"),)

    id: int | None = SQLField(default=None, primary_key=True)
    name: str = SQLField(max_length=128, nullable=False)
    description: str | None = SQLField(default=None, sa_type=sa.Text, nullable=True)
    tags: str = SQLField(default="[]", sa_type=sa.Text, nullable=False)
    kind: str = SQLField(max_length=8, nullable=False)
    # the highest version number handed out (0: none yet); claimed by UPDATE ... RETURNING
    last_version: int = SQLField(default=0, nullable=False)
    created_at: datetime = SQLField(sa_type=UTCDateTime, nullable=False)
    created_by: str = SQLField(max_length=MAX_SUBJECT_CHARS, nullable=False)


class VersionRow(PromptStoreTable, table=True):
    """One immutable version: the exact template bytes, their hash, variables and config.

    `content_key` hashes (template, syntax, variables, config): posting the same again
    finds this row rather than adding one.
    """

    __tablename__ = "prompt_versions"
    __table_args__ = (
        sa.UniqueConstraint("prompt_id", "version", name="uq_prompt_versions_prompt_version"),
        sa.UniqueConstraint("prompt_id", "content_key", name="uq_prompt_versions_content"),
        sa.Index("ix_prompt_versions_sha256", "sha256"),
    )

    id: int | None = SQLField(default=None, primary_key=True)
    prompt_id: int = SQLField(foreign_key="prompts.id", nullable=False)
    version: int = SQLField(nullable=False)
    sha256: str = SQLField(max_length=64, nullable=False)
    content_key: str = SQLField(max_length=64, nullable=False)
    template: str = SQLField(sa_type=sa.Text, nullable=False)
    syntax: str = SQLField(max_length=16, nullable=False)
    variables: str = SQLField(default="{}", sa_type=sa.Text, nullable=False)
    config: str = SQLField(default="{}", sa_type=sa.Text, nullable=False)
    message: str | None = SQLField(default=None, sa_type=sa.Text, nullable=True)
    author: str = SQLField(max_length=MAX_SUBJECT_CHARS, nullable=False)
    created_at: datetime = SQLField(sa_type=UTCDateTime, nullable=False)
    origin: str | None = SQLField(default=None, sa_type=sa.Text, nullable=True)


class LabelRow(PromptStoreTable, table=True):
    """Where a label points now; moved only by a compare-and-swap UPDATE."""

    __tablename__ = "prompt_labels"
    __table_args__ = (sa.Index("ix_prompt_labels_prompt_version", "prompt_id", "version"),)

    prompt_id: int = SQLField(foreign_key="prompts.id", primary_key=True)
    label: str = SQLField(max_length=64, primary_key=True)
    version: int = SQLField(nullable=False)
    previous_version: int | None = SQLField(default=None, nullable=True)
    moved_by: str = SQLField(max_length=MAX_SUBJECT_CHARS, nullable=False)
    moved_at: datetime = SQLField(sa_type=UTCDateTime, nullable=False)
    reason: str | None = SQLField(default=None, sa_type=sa.Text, nullable=True)


class LabelMoveRow(PromptStoreTable, table=True):
    """Every move of every label, appended in the moving transaction."""

    __tablename__ = "prompt_label_moves"
    __table_args__ = (sa.Index("ix_prompt_label_moves_label", "prompt_id", "label", "id"),)

    id: int | None = SQLField(default=None, primary_key=True)
    prompt_id: int = SQLField(foreign_key="prompts.id", nullable=False)
    label: str = SQLField(max_length=64, nullable=False)
    from_version: int | None = SQLField(default=None, nullable=True)
    to_version: int = SQLField(nullable=False)
    by: str = SQLField(max_length=MAX_SUBJECT_CHARS, nullable=False)
    reason: str | None = SQLField(default=None, sa_type=sa.Text, nullable=True)
    at: datetime = SQLField(sa_type=UTCDateTime, nullable=False)
