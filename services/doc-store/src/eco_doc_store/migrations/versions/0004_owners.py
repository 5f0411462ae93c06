"""Owners: every document belongs to a principal, every version names who stored it.

`documents.owner` is the subject of the token that created the document. Documents stored
before this revision belong to `user:admin` (LEGACY_OWNER), the subject of the first admin
key `eco up` creates: on a single-user installation they stay with the one who stored them,
and whoever holds `docs:read:all` sees them as well. An `Idempotency-Key` is unique per
owner from now on (`uq_documents_owner_idempotency_key` replaces the global constraint).
`document_versions.principal` and `.acting_chain` record the token's subject and the
services that acted for it; they stay null (unknown) for versions stored before. The audit
outbox `doc_store_audit_outbox` relays security-relevant records to `eco.audit`.

SQLite cannot drop a constraint, so `documents` is rebuilt: copied aside, dropped (the
versions' foreign keys are deferred meanwhile) and created anew under its own name, then
refilled, which satisfies those foreign keys again before the transaction commits.

Revision ID: 0004
Revises: 0003
Create Date: 2026-02-01
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.schema import SchemaItem

from eco_doc_store.models import UTCDateTime
from eco_shared.outbox import create_outbox_table, drop_outbox_table

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

LEGACY_OWNER = "user:admin"
_AUDIT = "doc_store_audit_outbox"
_JSON = sa.JSON().with_variant(JSONB(), "postgresql")
_OLD_UNIQUE = "uq_documents_idempotency_key"
_NEW_UNIQUE = "uq_documents_owner_idempotency_key"
_OWNER_INDEX = "ix_documents_owner_created_at_id"
_COLUMNS = "id, idempotency_key, request_sha256, latest_version, created_at, updated_at, deleted_at"


def _documents_table(name: str, *, owner: bool) -> None:
    columns: list[SchemaItem] = [
        sa.Column("id", sa.String(length=36), primary_key=True),
        sa.Column("idempotency_key", sa.String(length=255), nullable=True),
        sa.Column("request_sha256", sa.String(length=64), nullable=True),
        sa.Column("latest_version", sa.Integer(), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
        sa.Column("deleted_at", UTCDateTime(), nullable=True),
    ]
    if owner:
        columns += [
            sa.Column("owner", sa.String(length=255), nullable=False),
            sa.UniqueConstraint("owner", "idempotency_key", name=_NEW_UNIQUE),
        ]
    else:
        columns.append(sa.UniqueConstraint("idempotency_key", name=_OLD_UNIQUE))
    op.create_table(name, *columns)


def _rebuild_sqlite_documents(*, owner: bool) -> None:
    """Recreate `documents` with (or without) `owner`, keeping every row and reference."""
    op.execute(f"CREATE TABLE documents_rebuild AS SELECT {_COLUMNS} FROM documents WHERE 0")
    # The first write opens the transaction the deferred foreign keys are checked at.
    op.execute(f"INSERT INTO documents_rebuild SELECT {_COLUMNS} FROM documents")
    op.execute("PRAGMA defer_foreign_keys = ON")
    op.drop_index("ix_documents_created_at_id", table_name="documents")
    if not owner:
        op.drop_index(_OWNER_INDEX, table_name="documents")
    op.drop_table("documents")
    _documents_table("documents", owner=owner)
    if owner:
        op.execute(
            sa.text(
                f"INSERT INTO documents ({_COLUMNS}, owner)"
                f" SELECT {_COLUMNS}, :owner FROM documents_rebuild"
            ).bindparams(owner=LEGACY_OWNER)
        )
    else:
        op.execute(f"INSERT INTO documents ({_COLUMNS}) SELECT {_COLUMNS} FROM documents_rebuild")
    op.drop_table("documents_rebuild")
    op.create_index("ix_documents_created_at_id", "documents", ["created_at", "id"])


def upgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.add_column(
            "documents",
            sa.Column("owner", sa.String(length=255), nullable=False, server_default=LEGACY_OWNER),
        )
        op.alter_column("documents", "owner", server_default=None)
        op.drop_constraint(_OLD_UNIQUE, "documents", type_="unique")
        op.create_unique_constraint(_NEW_UNIQUE, "documents", ["owner", "idempotency_key"])
    else:
        _rebuild_sqlite_documents(owner=True)
    op.create_index(_OWNER_INDEX, "documents", ["owner", "created_at", "id"])
    op.add_column("document_versions", sa.Column("principal", sa.String(255), nullable=True))
    op.add_column("document_versions", sa.Column("acting_chain", _JSON, nullable=True))
    create_outbox_table(_AUDIT)


def downgrade() -> None:
    """Back to one global `Idempotency-Key` space: a key two owners used stays the oldest's."""
    drop_outbox_table(_AUDIT)
    op.drop_column("document_versions", "acting_chain")
    op.drop_column("document_versions", "principal")
    op.execute(
        "UPDATE documents SET idempotency_key = NULL WHERE idempotency_key IS NOT NULL AND"
        " EXISTS (SELECT 1 FROM documents AS older WHERE older.idempotency_key ="
        " documents.idempotency_key AND (older.created_at < documents.created_at OR"
        " (older.created_at = documents.created_at AND older.id < documents.id)))"
    )
    if op.get_bind().dialect.name == "postgresql":
        op.drop_index(_OWNER_INDEX, table_name="documents")
        op.drop_constraint(_NEW_UNIQUE, "documents", type_="unique")
        op.create_unique_constraint(_OLD_UNIQUE, "documents", ["idempotency_key"])
        op.drop_column("documents", "owner")
    else:
        _rebuild_sqlite_documents(owner=False)
