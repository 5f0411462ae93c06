"""The run table and its indexes.

A database that the old `create_all` start-up made already has them: the table is then
left as it is (only a missing index is added) and the revision is just recorded.

Revision ID: 0001
Revises:
Create Date: 2025-01-01
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TABLE = "orchestrator_runs"
INDEXES = (
    ("ix_orchestrator_runs_status", "status"),
    ("ix_orchestrator_runs_created_at", "created_at"),
    ("ix_orchestrator_runs_finished_at", "finished_at"),
)


def _string(length: int | None = None) -> sqlmodel.AutoString:
    return sqlmodel.AutoString(length=length)


def upgrade() -> None:
    inspector = sa.inspect(op.get_bind())
    existing: set[str] = set()
    if inspector.has_table(TABLE):
        existing = {str(index["name"]) for index in inspector.get_indexes(TABLE)}
    else:
        op.create_table(
            TABLE,
            sa.Column("query", _string(), nullable=False),
            sa.Column("format", _string(), nullable=False),
            sa.Column("user_id", _string(), nullable=True),
            sa.Column("review", sa.Boolean(), nullable=False),
            sa.Column("id", _string(64), nullable=False),
            sa.Column("status", _string(32), nullable=False),
            sa.Column("format_explicit", sa.Boolean(), nullable=False),
            sa.Column("workflow", _string(64), nullable=True),
            sa.Column("current_node", _string(64), nullable=True),
            sa.Column("result", sa.JSON(), nullable=True),
            sa.Column("error", _string(), nullable=True),
            sa.Column("document_id", _string(64), nullable=True),
            sa.Column("trace_id", _string(32), nullable=True),
            sa.Column("executed_by", _string(200), nullable=True),
            sa.Column("executions", sa.Integer(), nullable=False),
            sa.Column("timings", sa.JSON(), nullable=True),
            sa.Column("checkpoints_pruned", sa.Boolean(), nullable=False),
            sa.Column("created_at", sa.DateTime(timezone=True), nullable=True),
            sa.Column("updated_at", sa.DateTime(timezone=True), nullable=True),
            sa.Column("started_at", sa.DateTime(timezone=True), nullable=True),
            sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
            sa.PrimaryKeyConstraint("id"),
        )
    for name, column in INDEXES:
        if name not in existing:
            op.create_index(name, TABLE, [column])


def downgrade() -> None:
    for name, _ in INDEXES:
        op.drop_index(name, table_name=TABLE)
    op.drop_table(TABLE)
