"""The full-text index and the search query: FTS5 on SQLite, `tsvector` on PostgreSQL.

The index holds the current version of every live document twice: folded as written
(`title`, `body` / `tsv`) and stemmed (`stitle`, `sbody` / `stsv`). A query term matches
when its phrase is in the first or its stemmed phrase in the second. Terms only ever
reach the database as quoted phrases in bound parameters (see `eco_doc_store.search`).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any, Literal

import sqlalchemy as sa
import structlog
from sqlalchemy.ext.asyncio import AsyncConnection

from eco_doc_store.repository._tables import (
    VIEW_COLUMNS,
    documents,
    fts,
    is_postgres,
    pg_search,
    versions,
)
from eco_doc_store.search import IndexText, SearchTerm

log = structlog.get_logger(__name__)

# Title words weigh more than body words when `match=any` ranks by relevance.
_BM25 = "bm25(document_fts, 4.0, 1.0, 4.0, 1.0)"
_SIMPLE: sa.ColumnElement[object] = sa.literal_column("'simple'::regconfig")
_UPSERT = sa.text(
    "INSERT INTO document_search (document_id, version_id, tsv, stsv) VALUES (:document_id,"
    " :version_id, setweight(to_tsvector('simple', CAST(:title AS text)), 'A')"
    " || setweight(to_tsvector('simple', CAST(:body AS text)), 'B'),"
    " setweight(to_tsvector('simple', CAST(:stitle AS text)), 'A')"
    " || setweight(to_tsvector('simple', CAST(:sbody AS text)), 'B'))"
    " ON CONFLICT (document_id) DO UPDATE"
    " SET version_id = EXCLUDED.version_id, tsv = EXCLUDED.tsv, stsv = EXCLUDED.stsv"
)


async def index_version(
    conn: AsyncConnection,
    *,
    document_id: str,
    old_version_id: int | None,
    version_id: int,
    text: IndexText,
) -> None:
    """Make `version_id` the searchable text of the document (replacing the old one)."""
    if not is_postgres(conn):
        if old_version_id is not None:
            await conn.execute(sa.delete(fts).where(fts.c.rowid == old_version_id))
        await conn.execute(
            sa.insert(fts).values(
                rowid=version_id,
                title=text.title,
                body=text.body,
                stitle=text.stemmed_title,
                sbody=text.stemmed_body,
            )
        )
        return
    params = {
        "document_id": document_id,
        "version_id": version_id,
        "title": text.title,
        "body": text.body,
        "stitle": text.stemmed_title,
        "sbody": text.stemmed_body,
    }
    try:
        async with conn.begin_nested():
            await conn.execute(_UPSERT, params)
    except sa.exc.DBAPIError as exc:
        # A tsvector is capped at 1 MB; a body of many distinct words can exceed it.
        log.warning("search_body_not_indexed", document_id=document_id, error=str(exc.orig))
        await conn.execute(_UPSERT, {**params, "body": "", "sbody": ""})


async def unindex_document(conn: AsyncConnection, document_id: str, version_id: int) -> None:
    """Remove the document from the full-text index."""
    if is_postgres(conn):
        await conn.execute(sa.delete(pg_search).where(pg_search.c.document_id == document_id))
    else:
        await conn.execute(sa.delete(fts).where(fts.c.rowid == version_id))


def _fts5_phrase(text: str) -> str:
    return '"' + text.replace('"', '""') + '"'


def _fts5_term(term: SearchTerm) -> str:
    expr = "{title body} : " + _fts5_phrase(term.text)
    if term.stemmed is not None:
        expr += " OR {stitle sbody} : " + _fts5_phrase(term.stemmed)
    return f"({expr})"


def fts5_match(terms: Sequence[SearchTerm], joiner: Literal["AND", "OR"] = "AND") -> str:
    """An FTS5 MATCH expression: every term a quoted phrase, as written or stemmed."""
    return f" {joiner} ".join(_fts5_term(t) for t in terms)


def _websearch_phrase(text: str) -> str:
    # Quoted, so none of it reads as a websearch operator.
    return '"' + text.replace('"', " ") + '"'


def _tsquery(text: str) -> sa.ColumnElement[object]:
    return sa.func.websearch_to_tsquery(_SIMPLE, sa.cast(text, sa.Text))


def _pg_term(term: SearchTerm) -> sa.ColumnElement[bool]:
    matched = pg_search.c.tsv.op("@@", is_comparison=True)(_tsquery(_websearch_phrase(term.text)))
    if term.stemmed is None:
        return matched
    stemmed = _tsquery(_websearch_phrase(term.stemmed))
    return sa.or_(matched, pg_search.c.stsv.op("@@", is_comparison=True)(stemmed))


def _pg_rank(terms: Sequence[SearchTerm]) -> sa.ColumnElement[float]:
    written = " or ".join(_websearch_phrase(t.text) for t in terms)
    rank: sa.ColumnElement[float] = sa.func.ts_rank(pg_search.c.tsv, _tsquery(written))
    stems = [t.stemmed for t in terms if t.stemmed is not None]
    if stems:
        stemmed = " or ".join(_websearch_phrase(s) for s in stems)
        rank = rank + sa.func.ts_rank(pg_search.c.stsv, _tsquery(stemmed))
    return rank


def _matched_sqlite(terms: Sequence[SearchTerm]) -> sa.ColumnElement[int]:
    """How many of `terms` a row matches (one FTS5 lookup per term, each run once)."""
    counts: list[sa.ColumnElement[int]] = []
    for i, term in enumerate(terms):
        hits: sa.Select[tuple[object]] = (
            sa.select(sa.literal_column("rowid"))
            .select_from(sa.table("document_fts"))
            .where(
                sa.text(f"document_fts MATCH :term_{i}").bindparams(
                    **{f"term_{i}": _fts5_term(term)}
                )
            )
            .correlate(None)
        )
        counts.append(sa.case((versions.c.id.in_(hits), 1), else_=0))
    return sum(counts[1:], counts[0])


async def search(
    conn: AsyncConnection,
    *,
    terms: Sequence[SearchTerm] | None,
    match: Literal["all", "any"],
    format: str | None,
    created_after: datetime | None,
    offset: int,
    limit: int,
    owner: str | None = None,
) -> tuple[list[sa.RowMapping], int]:
    """Live documents (`owner`'s, or anyone's) at their latest version and how many match.

    `match="all"`: every term required, newest first. `match="any"`: at least one term,
    ranked by how many terms match, then by relevance, then newest first.
    """
    source: sa.FromClause = documents.join(
        versions,
        sa.and_(
            versions.c.document_id == documents.c.id,
            versions.c.version == documents.c.latest_version,
        ),
    )
    conditions: list[sa.ColumnElement[bool] | sa.TextClause] = [documents.c.deleted_at.is_(None)]
    ranking: list[sa.ColumnElement[Any] | sa.TextClause] = []
    if terms:
        if is_postgres(conn):
            source = source.join(pg_search, pg_search.c.document_id == documents.c.id)
            each = [_pg_term(t) for t in terms]
            conditions.append(sa.and_(*each) if match == "all" else sa.or_(*each))
            if match == "any":
                matched = sum(
                    (sa.case((c, 1), else_=0) for c in each[1:]), sa.case((each[0], 1), else_=0)
                )
                ranking = [matched.desc(), _pg_rank(terms).desc()]
        else:
            source = source.join(fts, fts.c.rowid == versions.c.id)
            expression = fts5_match(terms, "AND" if match == "all" else "OR")
            conditions.append(sa.text("document_fts MATCH :match").bindparams(match=expression))
            if match == "any":
                ranking = [_matched_sqlite(terms).desc(), sa.text(_BM25)]
    if format is not None:
        conditions.append(versions.c.format == format)
    if created_after is not None:
        conditions.append(documents.c.created_at > created_after)
    if owner is not None:
        if terms and not is_postgres(conn):
            # a unary + keeps SQLite off the owner index, so it starts from the full-text
            # match instead of one FTS lookup per document the owner has (2,000 documents:
            # 316 ms -> 37 ms per search page, bench/doc_store.py)
            conditions.append(sa.literal_column("+documents.owner") == owner)
        else:
            conditions.append(documents.c.owner == owner)
    total = (
        await conn.execute(sa.select(sa.func.count()).select_from(source).where(*conditions))
    ).scalar_one()
    rows = (
        await conn.execute(
            sa.select(*VIEW_COLUMNS)
            .select_from(source)
            .where(*conditions)
            .order_by(*ranking, documents.c.created_at.desc(), documents.c.id.desc())
            .offset(offset)
            .limit(limit)
        )
    ).mappings()
    return list(rows.all()), int(total)
