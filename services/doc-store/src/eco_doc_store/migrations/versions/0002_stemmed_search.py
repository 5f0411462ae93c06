"""A stemmed copy of the full-text index, backfilled for the documents already stored.

SQLite: `document_fts` gains the columns `stitle` and `sbody` (FTS5 tables cannot be
altered, so it is rebuilt from the old one, whose folded text is kept as it was).
PostgreSQL: `document_search` gains `stsv` with its own GIN index, filled from each
current version's content.

Revision ID: 0002
Revises: 0001
Create Date: 2025-06-01
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from eco_doc_store.search import DEFAULT_SEARCH_MAX_CHARS, document_text
from eco_shared.models.doc_store import DocumentFormat
from eco_shared.text import fold, stemmed_text

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_BATCH = 200
_FTS5 = "USING fts5({columns}, tokenize = 'unicode61 remove_diacritics 2')"


def _sqlite_copy(source: str, target: str, *, stem: bool) -> None:
    bind = op.get_bind()
    after = -1
    while True:
        rows = bind.execute(
            sa.text(
                f"SELECT rowid, title, body FROM {source} WHERE rowid > :after"
                " ORDER BY rowid LIMIT :n"
            ),
            {"after": after, "n": _BATCH},
        ).all()
        if not rows:
            return
        if stem:
            bind.execute(
                sa.text(
                    f"INSERT INTO {target} (rowid, title, body, stitle, sbody)"
                    " VALUES (:rowid, :title, :body, :stitle, :sbody)"
                ),
                [
                    {
                        "rowid": r.rowid,
                        "title": r.title,
                        "body": r.body,
                        "stitle": stemmed_text(r.title),
                        "sbody": stemmed_text(r.body),
                    }
                    for r in rows
                ],
            )
        else:
            bind.execute(
                sa.text(
                    f"INSERT INTO {target} (rowid, title, body) VALUES (:rowid, :title, :body)"
                ),
                [{"rowid": r.rowid, "title": r.title, "body": r.body} for r in rows],
            )
        after = rows[-1].rowid


def _postgres_backfill() -> None:
    bind = op.get_bind()
    update = sa.text(
        "UPDATE document_search SET stsv ="
        " setweight(to_tsvector('simple', CAST(:stitle AS text)), 'A')"
        " || setweight(to_tsvector('simple', CAST(:sbody AS text)), 'B')"
        " WHERE document_id = :document_id"
    )
    after = ""
    while True:
        rows = bind.execute(
            sa.text(
                "SELECT s.document_id, v.title, v.format, c.content FROM document_search s"
                " JOIN document_versions v ON v.id = s.version_id"
                " JOIN document_contents c ON c.version_id = v.id"
                " WHERE s.document_id > :after ORDER BY s.document_id LIMIT :n"
            ),
            {"after": after, "n": _BATCH},
        ).all()
        if not rows:
            return
        for row in rows:
            body = document_text(
                bytes(row.content), DocumentFormat(row.format), DEFAULT_SEARCH_MAX_CHARS
            )
            params = {
                "document_id": row.document_id,
                "stitle": stemmed_text(fold(row.title)),
                "sbody": stemmed_text(body),
            }
            try:
                with bind.begin_nested():
                    bind.execute(update, params)
            except sa.exc.DBAPIError:
                # Over the 1 MB tsvector cap: the title only, as a write would do.
                bind.execute(update, {**params, "sbody": ""})
        after = rows[-1].document_id


def upgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        # The default keeps writers that predate 0002 (the bench's bulk loader) working.
        op.execute("ALTER TABLE document_search ADD COLUMN stsv tsvector NOT NULL DEFAULT ''")
        _postgres_backfill()
        op.create_index(
            "ix_document_search_stsv", "document_search", ["stsv"], postgresql_using="gin"
        )
        return
    op.execute("ALTER TABLE document_fts RENAME TO document_fts_0001")
    op.execute(
        "CREATE VIRTUAL TABLE document_fts " + _FTS5.format(columns="title, body, stitle, sbody")
    )
    _sqlite_copy("document_fts_0001", "document_fts", stem=True)
    op.execute("DROP TABLE document_fts_0001")


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.drop_index("ix_document_search_stsv", table_name="document_search")
        op.execute("ALTER TABLE document_search DROP COLUMN stsv")
        return
    op.execute("ALTER TABLE document_fts RENAME TO document_fts_0002")
    op.execute("CREATE VIRTUAL TABLE document_fts " + _FTS5.format(columns="title, body"))
    _sqlite_copy("document_fts_0002", "document_fts", stem=False)
    op.execute("DROP TABLE document_fts_0002")
