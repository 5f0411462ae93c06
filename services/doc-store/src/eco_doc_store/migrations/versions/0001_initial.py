"""Documents, versions, contents and the full-text index.

Revision ID: 0001
Revises:
Create Date: 2025-01-01
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB, TSVECTOR

from eco_doc_store.models import UTCDateTime

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_JSON = sa.JSON().with_variant(JSONB(), "postgresql")


def upgrade() -> None:
    op.create_table(
        "documents",
        sa.Column("id", sa.String(length=36), primary_key=True),
        sa.Column("idempotency_key", sa.String(length=255), nullable=True),
        sa.Column("request_sha256", sa.String(length=64), nullable=True),
        sa.Column("latest_version", sa.Integer(), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
        sa.Column("deleted_at", UTCDateTime(), nullable=True),
        sa.UniqueConstraint("idempotency_key", name="uq_documents_idempotency_key"),
    )
    op.create_index("ix_documents_created_at_id", "documents", ["created_at", "id"])
    op.create_table(
        "document_versions",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column(
            "document_id", sa.String(length=36), sa.ForeignKey("documents.id"), nullable=False
        ),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("title", sa.String(length=500), nullable=False),
        sa.Column("format", sa.String(length=16), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("size_bytes", sa.Integer(), nullable=False),
        sa.Column("metadata", _JSON, nullable=False),
        sa.Column("provenance", _JSON, nullable=True),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.UniqueConstraint("document_id", "version", name="uq_document_versions_document_version"),
    )
    op.create_table(
        "document_contents",
        sa.Column(
            "version_id",
            sa.Integer(),
            sa.ForeignKey("document_versions.id"),
            primary_key=True,
            autoincrement=False,
        ),
        sa.Column("content", sa.LargeBinary(), nullable=False),
    )
    # The full-text index holds the current version of every live document.
    if op.get_bind().dialect.name == "postgresql":
        op.create_table(
            "document_search",
            sa.Column(
                "document_id", sa.String(length=36), sa.ForeignKey("documents.id"), primary_key=True
            ),
            sa.Column("version_id", sa.Integer(), nullable=False),
            sa.Column("tsv", TSVECTOR(), nullable=False),
        )
        op.create_index(
            "ix_document_search_tsv", "document_search", ["tsv"], postgresql_using="gin"
        )
    else:
        # rowid = document_versions.id of the current version.
        op.execute(
            "CREATE VIRTUAL TABLE document_fts USING fts5("
            "title, body, tokenize = 'unicode61 remove_diacritics 2')"
        )


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.drop_index("ix_document_search_tsv", table_name="document_search")
        op.drop_table("document_search")
    else:
        op.execute("DROP TABLE IF EXISTS document_fts")
    op.drop_table("document_contents")
    op.drop_table("document_versions")
    op.drop_index("ix_documents_created_at_id", table_name="documents")
    op.drop_table("documents")
