"""The transactional outbox: `doc_store_outbox`, from which the relay publishes events.

Revision ID: 0003
Revises: 0002
Create Date: 2025-07-01
"""

from __future__ import annotations

from collections.abc import Sequence

from eco_shared.outbox import create_outbox_table, drop_outbox_table

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_TABLE = "doc_store_outbox"


def upgrade() -> None:
    create_outbox_table(_TABLE)


def downgrade() -> None:
    drop_outbox_table(_TABLE)
