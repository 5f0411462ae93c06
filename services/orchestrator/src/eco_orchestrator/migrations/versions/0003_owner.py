"""Who a run belongs to, what it may do, and the grant it acts for its owner with.

`owner` is the verified caller's subject (`user:<id>`, or a service's SPIFFE id); runs
created before this revision keep `owner` NULL and are seen only by callers holding
`runs:read:all` (or `admin`). `scopes` are the owner's scopes at creation (which tools its
planner is offered), `run_grant` the issuer's run grant (read by whichever replica executes
the run) and `grant_expires_at` when the issuer said it expires; `document_id` is indexed
for finding the run that made a document. A database made by
`create_all` with these columns already is left as it is.

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-10
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TABLE = "orchestrator_runs"
INDEXES = (
    ("ix_orchestrator_runs_owner", "owner"),
    ("ix_orchestrator_runs_document_id", "document_id"),
)
COLUMNS = (
    ("owner", lambda: sqlmodel.AutoString(length=200)),
    ("scopes", sa.JSON),
    ("run_grant", sa.Text),
    ("grant_expires_at", lambda: sa.DateTime(timezone=True)),
)


def upgrade() -> None:
    inspector = sa.inspect(op.get_bind())
    existing = {str(c["name"]) for c in inspector.get_columns(TABLE)}
    with op.batch_alter_table(TABLE) as batch:
        for name, kind in COLUMNS:
            if name not in existing:
                batch.add_column(sa.Column(name, kind(), nullable=True))
    indexes = {str(i["name"]) for i in inspector.get_indexes(TABLE)}
    for name, column in INDEXES:
        if name not in indexes:
            op.create_index(name, TABLE, [column])


def downgrade() -> None:
    for name, _ in INDEXES:
        op.drop_index(name, table_name=TABLE)
    with op.batch_alter_table(TABLE) as batch:
        for name, _ in reversed(COLUMNS):
            batch.drop_column(name)
