"""An index on `spans.span_id`, so `GET /spans/{span_id}` finds a span's trace without a scan.

Revision ID: 0003
Revises: 0002
"""

from __future__ import annotations

from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_spans_span_id", "spans", ["span_id"])


def downgrade() -> None:
    op.drop_index("ix_spans_span_id", table_name="spans")
