"""Logs, events, spans and ingest errors.

Revision ID: 0001
Revises:
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "log_records",
        sa.Column("id", BigId, primary_key=True, autoincrement=True),
        sa.Column("event_id", sa.String(64), nullable=False),
        sa.Column("time_us", sa.BigInteger(), nullable=False),
        sa.Column("service", sa.String(200), nullable=False),
        sa.Column("level", sa.String(16), nullable=False),
        sa.Column("level_no", sa.SmallInteger(), nullable=False),
        sa.Column("message", sa.Text(), nullable=False),
        sa.Column("logger", sa.String(200)),
        sa.Column("trace_id", sa.String(32)),
        sa.Column("span_id", sa.String(16)),
        sa.Column("request_id", sa.String(100)),
        sa.Column("attributes", sa.Text(), nullable=False),
        sa.Column("received_us", sa.BigInteger(), nullable=False),
        sa.UniqueConstraint("event_id", name="uq_log_records_event_id"),
    )
    op.create_index("ix_log_records_time", "log_records", ["time_us", "id"])
    op.create_index("ix_log_records_service_time", "log_records", ["service", "time_us"])
    op.create_index("ix_log_records_trace", "log_records", ["trace_id"])

    op.create_table(
        "bus_events",
        sa.Column("id", BigId, primary_key=True, autoincrement=True),
        sa.Column("event_id", sa.String(200), nullable=False),
        sa.Column("type", sa.String(200), nullable=False),
        sa.Column("source", sa.String(200), nullable=False),
        sa.Column("time_us", sa.BigInteger(), nullable=False),
        sa.Column("trace_id", sa.String(32)),
        sa.Column("span_id", sa.String(16)),
        sa.Column("entry_id", sa.String(64)),
        sa.Column("data", sa.Text(), nullable=False),
        sa.Column("received_us", sa.BigInteger(), nullable=False),
        sa.UniqueConstraint("event_id", name="uq_bus_events_event_id"),
    )
    op.create_index("ix_bus_events_time", "bus_events", ["time_us", "id"])
    op.create_index("ix_bus_events_type_time", "bus_events", ["type", "time_us"])
    op.create_index("ix_bus_events_trace", "bus_events", ["trace_id"])

    op.create_table(
        "spans",
        sa.Column("id", BigId, primary_key=True, autoincrement=True),
        sa.Column("trace_id", sa.String(32), nullable=False),
        sa.Column("span_id", sa.String(16), nullable=False),
        sa.Column("parent_span_id", sa.String(16)),
        sa.Column("service", sa.String(200), nullable=False),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("start_ns", sa.BigInteger(), nullable=False),
        sa.Column("end_ns", sa.BigInteger(), nullable=False),
        sa.Column("duration_ms", sa.Float(), nullable=False),
        sa.Column("status_code", sa.String(8), nullable=False),
        sa.Column("status_message", sa.Text()),
        sa.Column("attributes", sa.Text(), nullable=False),
        sa.Column("events", sa.Text(), nullable=False),
        sa.Column("received_us", sa.BigInteger(), nullable=False),
        sa.UniqueConstraint("trace_id", "span_id", name="uq_spans_trace_span"),
    )
    op.create_index("ix_spans_start", "spans", ["start_ns"])
    op.create_index("ix_spans_service_start", "spans", ["service", "start_ns"])

    op.create_table(
        "ingest_errors",
        sa.Column("id", BigId, primary_key=True, autoincrement=True),
        sa.Column("event_id", sa.String(200), nullable=False),
        sa.Column("stream", sa.String(64), nullable=False),
        sa.Column("entry_id", sa.String(64)),
        sa.Column("source", sa.String(200)),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("raw", sa.Text(), nullable=False),
        sa.Column("time_us", sa.BigInteger(), nullable=False),
        sa.UniqueConstraint("event_id", name="uq_ingest_errors_event_id"),
    )
    op.create_index("ix_ingest_errors_time", "ingest_errors", ["time_us", "id"])


def downgrade() -> None:
    for table in ("ingest_errors", "spans", "bus_events", "log_records"):
        op.drop_table(table)
