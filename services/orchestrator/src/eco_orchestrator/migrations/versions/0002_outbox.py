"""The transactional outbox: `orchestrator_outbox`, from which the relay publishes `run.*`.

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-01
"""

from __future__ import annotations

from collections.abc import Sequence

from eco_shared.outbox import create_outbox_table, drop_outbox_table

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_TABLE = "orchestrator_outbox"


def upgrade() -> None:
    create_outbox_table(_TABLE)


def downgrade() -> None:
    drop_outbox_table(_TABLE)
