"""Prompts, their versions, labels, the label-move history and the outbox.

Revision ID: 0001
Revises:
Create Date: 2026-12-01
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from eco_prompt_store.models import UTCDateTime
from eco_shared.outbox import create_outbox_table, drop_outbox_table

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

OUTBOX = "prompt_store_outbox"


def upgrade() -> None:
    op.create_table(
        "prompts",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("name", sa.String(length=128), nullable=False),
        sa.Column("description", sa.Text(), nullable=True),
        sa.Column("tags", sa.Text(), nullable=False),
        sa.Column("kind", sa.String(length=8), nullable=False),
        sa.Column("last_version", sa.Integer(), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("created_by", sa.String(length=255), nullable=False),
        sa.UniqueConstraint("name", name="uq_prompts_name"),
    )
    op.create_table(
        "prompt_versions",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("prompt_id", sa.Integer(), sa.ForeignKey("prompts.id"), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("content_key", sa.String(length=64), nullable=False),
        sa.Column("template", sa.Text(), nullable=False),
        sa.Column("syntax", sa.String(length=16), nullable=False),
        sa.Column("variables", sa.Text(), nullable=False),
        sa.Column("config", sa.Text(), nullable=False),
        sa.Column("message", sa.Text(), nullable=True),
        sa.Column("author", sa.String(length=255), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("origin", sa.Text(), nullable=True),
        sa.UniqueConstraint("prompt_id", "version", name="uq_prompt_versions_prompt_version"),
        sa.UniqueConstraint("prompt_id", "content_key", name="uq_prompt_versions_content"),
    )
    op.create_index("ix_prompt_versions_sha256", "prompt_versions", ["sha256"])
    op.create_table(
        "prompt_labels",
        sa.Column("prompt_id", sa.Integer(), sa.ForeignKey("prompts.id"), primary_key=True),
        sa.Column("label", sa.String(length=64), primary_key=True),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("previous_version", sa.Integer(), nullable=True),
        sa.Column("moved_by", sa.String(length=255), nullable=False),
        sa.Column("moved_at", UTCDateTime(), nullable=False),
        sa.Column("reason", sa.Text(), nullable=True),
    )
    op.create_index("ix_prompt_labels_prompt_version", "prompt_labels", ["prompt_id", "version"])
    op.create_table(
        "prompt_label_moves",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("prompt_id", sa.Integer(), sa.ForeignKey("prompts.id"), nullable=False),
        sa.Column("label", sa.String(length=64), nullable=False),
        sa.Column("from_version", sa.Integer(), nullable=True),
        sa.Column("to_version", sa.Integer(), nullable=False),
        sa.Column("by", sa.String(length=255), nullable=False),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("at", UTCDateTime(), nullable=False),
    )
    op.create_index(
        "ix_prompt_label_moves_label", "prompt_label_moves", ["prompt_id", "label", "id"]
    )
    create_outbox_table(OUTBOX)


def downgrade() -> None:
    drop_outbox_table(OUTBOX)
    op.drop_index("ix_prompt_label_moves_label", table_name="prompt_label_moves")
    op.drop_table("prompt_label_moves")
    op.drop_index("ix_prompt_labels_prompt_version", table_name="prompt_labels")
    op.drop_table("prompt_labels")
    op.drop_index("ix_prompt_versions_sha256", table_name="prompt_versions")
    op.drop_table("prompt_versions")
    op.drop_table("prompts")
