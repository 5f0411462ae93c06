"""The SQLite full-text index in creation order, with its owner: a search page reads a page.

`document_fts` is rebuilt (FTS5 tables cannot be altered) with each row's id the row id of
its document's version 1 (it was the current version's), so the index's own order is the
documents' order of creation and "newest first" needs no sort of every match; and with an
`owner` column holding the owner as one token (`eco_doc_store.search.owner_token`), so a
search limited to one owner's documents is one indexed query. The text is copied as it was.

PostgreSQL: `document_search` gains the document's `owner` and `created_at` (filled from
`documents`) and an index on (owner, created_at, document_id), so the owner filter, the
order and the count read the index table alone.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-01
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from eco_doc_store.models import UTCDateTime
from eco_doc_store.search import owner_token

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_BATCH = 500
_FTS5 = "USING fts5({columns}, tokenize = 'unicode61 remove_diacritics 2')"
_TEXT = ("title", "body", "stitle", "sbody")


def _rebuild(*, upgrade: bool) -> None:
    bind = op.get_bind()
    op.execute("ALTER TABLE document_fts RENAME TO document_fts_old")
    columns = ", ".join(_TEXT + (("owner",) if upgrade else ()))
    op.execute(f"CREATE VIRTUAL TABLE document_fts {_FTS5.format(columns=columns)}")
    # old row id -> new row id, through its document: current version -> version 1, or back
    target = "first.id" if upgrade else "v.id"
    after = -1
    while True:
        rows = bind.execute(
            sa.text(
                f"SELECT f.rowid AS old, {target} AS new, d.owner AS owner,"
                " f.title, f.body, f.stitle, f.sbody FROM document_fts_old f"
                " JOIN document_versions a ON a.id = f.rowid"
                " JOIN documents d ON d.id = a.document_id"
                " JOIN document_versions first ON first.document_id = d.id AND first.version = 1"
                " JOIN document_versions v ON v.document_id = d.id"
                " AND v.version = d.latest_version"
                " WHERE f.rowid > :after"
                " ORDER BY f.rowid LIMIT :n"
            ),
            {"after": after, "n": _BATCH},
        ).all()
        if not rows:
            break
        names = ", ".join(("rowid", *columns.split(", ")))
        values = ", ".join(f":{c}" for c in names.split(", "))
        bind.execute(
            sa.text(f"INSERT INTO document_fts ({names}) VALUES ({values})"),
            [
                {
                    "rowid": r.new,
                    **{c: getattr(r, c) for c in _TEXT},
                    **({"owner": owner_token(r.owner)} if upgrade else {}),
                }
                for r in rows
            ],
        )
        after = rows[-1].old
    op.execute("DROP TABLE document_fts_old")


_PG_INDEX = "ix_document_search_owner_created_at"


def upgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        _rebuild(upgrade=True)
        return
    op.add_column("document_search", sa.Column("owner", sa.String(255), nullable=True))
    op.add_column("document_search", sa.Column("created_at", UTCDateTime(), nullable=True))
    op.execute(
        "UPDATE document_search s SET owner = d.owner, created_at = d.created_at"
        " FROM documents d WHERE d.id = s.document_id"
    )
    op.alter_column("document_search", "owner", nullable=False)
    op.alter_column("document_search", "created_at", nullable=False)
    op.create_index(_PG_INDEX, "document_search", ["owner", "created_at", "document_id"])


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        _rebuild(upgrade=False)
        return
    op.drop_index(_PG_INDEX, table_name="document_search")
    op.drop_column("document_search", "created_at")
    op.drop_column("document_search", "owner")
