"""Experiments: splits of one label across versions, their exposures and outcomes.

`prompt_experiments.running_key` is `prompt@label` while the experiment runs and NULL
once it stopped; its unique constraint is what keeps one running experiment per (prompt,
label) on SQLite and PostgreSQL alike (both allow many NULLs). Exposures are unique by
(experiment, unit, run), with `run_id` '' for an exposure without a run. Outcomes are one
row per (experiment, run), from `run.completed`; feedback one row per run, from
`run.feedback`, joined to outcomes by run id when results are computed.

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-02
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_JSON = sa.JSON().with_variant(JSONB(), "postgresql")
_TIME = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "prompt_experiments",
        sa.Column("id", sa.String(36), primary_key=True),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("prompt", sa.String(128), nullable=False),
        sa.Column("label", sa.String(64), nullable=False),
        sa.Column("salt", sa.String(128), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("arms", _JSON, nullable=False),
        sa.Column("min_sample", sa.Integer(), nullable=False),
        sa.Column("metric", sa.String(32), nullable=False),
        sa.Column("running_key", sa.String(200), nullable=True),
        sa.Column("created_by", sa.String(255), nullable=False),
        sa.Column("created_at", _TIME, nullable=False),
        sa.Column("stopped_by", sa.String(255), nullable=True),
        sa.Column("stopped_at", _TIME, nullable=True),
        sa.Column("stop_reason", sa.Text(), nullable=True),
        sa.Column("promoted_arm", sa.String(64), nullable=True),
        sa.UniqueConstraint("running_key", name="uq_prompt_experiments_running_key"),
    )
    op.create_index(
        "ix_prompt_experiments_prompt_created_at",
        "prompt_experiments",
        ["prompt", "created_at", "id"],
    )
    op.create_table(
        "prompt_exposures",
        sa.Column("experiment_id", sa.String(36), nullable=False),
        sa.Column("unit_id", sa.String(255), nullable=False),
        sa.Column("run_id", sa.String(255), nullable=False),
        sa.Column("arm", sa.String(64), nullable=False),
        sa.Column("at", _TIME, nullable=False),
        sa.Column("recorded_at", _TIME, nullable=False),
        sa.PrimaryKeyConstraint("experiment_id", "unit_id", "run_id"),
        sa.ForeignKeyConstraint(
            ["experiment_id"], ["prompt_experiments.id"], name="fk_prompt_exposures_experiment"
        ),
    )
    op.create_index("ix_prompt_exposures_run_id", "prompt_exposures", ["run_id"])
    op.create_table(
        "prompt_outcomes",
        sa.Column("experiment_id", sa.String(36), nullable=False),
        sa.Column("run_id", sa.String(255), nullable=False),
        sa.Column("arm", sa.String(64), nullable=False),
        sa.Column("score", sa.Float(), nullable=True),
        sa.Column("revisions", sa.Float(), nullable=True),
        sa.Column("latency_ms", sa.Float(), nullable=True),
        sa.Column("tokens", sa.Float(), nullable=True),
        sa.Column("source", sa.String(16), nullable=True),
        sa.Column("event_id", sa.String(64), nullable=False),
        sa.Column("at", _TIME, nullable=False),
        sa.PrimaryKeyConstraint("experiment_id", "run_id"),
        sa.ForeignKeyConstraint(
            ["experiment_id"], ["prompt_experiments.id"], name="fk_prompt_outcomes_experiment"
        ),
    )
    op.create_index("ix_prompt_outcomes_run_id", "prompt_outcomes", ["run_id"])
    op.create_table(
        "prompt_feedback",
        sa.Column("run_id", sa.String(255), primary_key=True),
        sa.Column("rating", sa.String(8), nullable=True),
        sa.Column("score", sa.Float(), nullable=True),
        sa.Column("event_id", sa.String(64), nullable=False),
        sa.Column("at", _TIME, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("prompt_feedback")
    op.drop_index("ix_prompt_outcomes_run_id", table_name="prompt_outcomes")
    op.drop_table("prompt_outcomes")
    op.drop_index("ix_prompt_exposures_run_id", table_name="prompt_exposures")
    op.drop_table("prompt_exposures")
    op.drop_index("ix_prompt_experiments_prompt_created_at", table_name="prompt_experiments")
    op.drop_table("prompt_experiments")
