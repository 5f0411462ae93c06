"""The full-text index and the search query: FTS5 on SQLite, `tsvector` on PostgreSQL.

The index holds the current version of every live document twice: folded as written
(`title`, `body` / `tsv`) and stemmed (`stitle`, `sbody` / `stsv`). A query term matches
when its phrase is in the first or its stemmed phrase in the second. On SQLite a row's id
is the document's version 1 row id (its order of creation) and the row carries its owner
as one token (`owner`), so "this owner's, newest first" is one indexed query read from the
newest end and stopped at the page (0005). Terms only ever
reach the database as quoted phrases in bound parameters (see `eco_doc_store.search`).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

import sqlalchemy as sa
import structlog
from sqlalchemy.ext.asyncio import AsyncConnection

from eco_doc_store.models import UTCDateTime
from eco_doc_store.repository._tables import (
    VIEW_COLUMNS,
    documents,
    fts,
    is_postgres,
    pg_search,
    versions,
)
from eco_doc_store.search import (
    SEARCH_COUNT_CAP,
    IndexEntry,
    SearchTerm,
    count_bound,
    owner_token,
)

log = structlog.get_logger(__name__)

# Title words weigh more than body words when `match=any` ranks by relevance.
_BM25 = "bm25(document_fts, 4.0, 1.0, 4.0, 1.0, 0.0)"
_SIMPLE: sa.ColumnElement[object] = sa.literal_column("'simple'::regconfig")
_UPSERT = sa.text(
    "INSERT INTO document_search (document_id, version_id, owner, created_at, tsv, stsv)"
    " VALUES (:document_id, :version_id, :owner, :created_at,"
    " setweight(to_tsvector('simple', CAST(:title AS text)), 'A')"
    " || setweight(to_tsvector('simple', CAST(:body AS text)), 'B'),"
    " setweight(to_tsvector('simple', CAST(:stitle AS text)), 'A')"
    " || setweight(to_tsvector('simple', CAST(:sbody AS text)), 'B'))"
    " ON CONFLICT (document_id) DO UPDATE"
    " SET version_id = EXCLUDED.version_id, tsv = EXCLUDED.tsv, stsv = EXCLUDED.stsv"
)


async def index_documents(conn: AsyncConnection, entries: Sequence[IndexEntry]) -> None:
    """Make new documents searchable, one statement for all of them where it can."""
    if not is_postgres(conn):
        await conn.execute(sa.insert(fts), [_fts_row(e) for e in entries])
        return
    try:
        async with conn.begin_nested():
            await conn.execute(_UPSERT, [_pg_params(e) for e in entries])
    except sa.exc.DBAPIError:
        for entry in entries:  # one of them is over the tsvector cap: each on its own
            await _pg_upsert(conn, entry)


async def reindex_document(conn: AsyncConnection, entry: IndexEntry) -> None:
    """Make `entry.version_id` the searchable text of its document (replacing the old one)."""
    if is_postgres(conn):
        await _pg_upsert(conn, entry)
        return
    await conn.execute(sa.delete(fts).where(fts.c.rowid == entry.search_id))
    await conn.execute(sa.insert(fts).values(**_fts_row(entry)))


def _fts_row(entry: IndexEntry) -> dict[str, object]:
    text = entry.text
    return {
        "rowid": entry.search_id,
        "title": text.title,
        "body": text.body,
        "stitle": text.stemmed_title,
        "sbody": text.stemmed_body,
        "owner": owner_token(entry.owner),
    }


def _pg_params(entry: IndexEntry) -> dict[str, object]:
    text = entry.text
    return {
        "document_id": entry.document_id,
        "version_id": entry.version_id,
        "owner": entry.owner,
        "created_at": entry.created_at,
        "title": text.title,
        "body": text.body,
        "stitle": text.stemmed_title,
        "sbody": text.stemmed_body,
    }


async def _pg_upsert(conn: AsyncConnection, entry: IndexEntry) -> None:
    params = _pg_params(entry)
    try:
        async with conn.begin_nested():
            await conn.execute(_UPSERT, params)
    except sa.exc.DBAPIError as exc:
        # A tsvector is capped at 1 MB; a body of many distinct words can exceed it.
        log.warning("search_body_not_indexed", document_id=entry.document_id, error=str(exc.orig))
        await conn.execute(_UPSERT, {**params, "body": "", "sbody": ""})


async def unindex_document(conn: AsyncConnection, document_id: str, search_id: int) -> None:
    """Remove the document from the full-text index (`search_id`: its version 1's row id)."""
    if is_postgres(conn):
        await conn.execute(sa.delete(pg_search).where(pg_search.c.document_id == document_id))
    else:
        await conn.execute(sa.delete(fts).where(fts.c.rowid == search_id))


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
        counts.append(sa.case((fts.c.rowid.in_(hits), 1), else_=0))
    return sum(counts[1:], counts[0])


def _sqlite_match(terms: Sequence[SearchTerm], match: str, owner: str | None) -> sa.TextClause:
    expression = fts5_match(terms, "AND" if match == "all" else "OR")
    if owner is not None:
        # the owner is a column of the index: one indexed query, not a filter after it
        expression = f"owner : {_fts5_phrase(owner_token(owner))} AND ({expression})"
    return sa.text("document_fts MATCH :match").bindparams(match=expression)


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
    count_cap: int = SEARCH_COUNT_CAP,
    after: SearchKey | None = None,
    peek: bool = False,
) -> tuple[list[sa.RowMapping], int]:
    """Live documents (`owner`'s, or anyone's) at their latest version, and how many match:
    exactly up to `count_bound(offset, limit, count_cap)`, and that bound when more do.

    `after` (a `search_key` of a row an earlier page ended on, newest-first orders only):
    the rows after it, a keyset page that a write between pages does not shift. The count
    is of every match, not of those after the key. `peek`: one row past `limit` too (is
    there a next page?), not counted in `total`'s bound.

    `match="all"`: every term required, newest first. `match="any"`: at least one term,
    ranked by how many terms match, then by relevance, then newest first. On SQLite the
    index's row id is the document's version 1 row id, so "newest first" is the index's
    own order and a page of it reads only that page's rows.
    """
    latest = sa.and_(
        versions.c.document_id == documents.c.id,
        versions.c.version == documents.c.latest_version,
    )
    source: sa.FromClause = documents.join(versions, latest)
    # what the count reads: the index alone when it holds every condition (a deleted
    # document is never in it)
    index: sa.FromClause | None = None
    conditions: list[sa.ColumnElement[bool] | sa.TextClause] = []
    live: list[sa.ColumnElement[bool]] = [documents.c.deleted_at.is_(None)]
    order: list[sa.ColumnElement[Any] | sa.TextClause]
    keyset: list[sa.ColumnElement[bool]] = []
    extra: list[sa.ColumnElement[Any]] = []
    kind = keyset_kind(conn, terms, match)
    if after is not None and after[0] != kind:
        raise InvalidSearchKey(f"a cursor of another order ({after[0]!r}, not {kind!r})")
    if not terms:
        if owner is not None:
            conditions.append(documents.c.owner == owner)
        if created_after is not None:
            conditions.append(documents.c.created_at > created_after)
        order = [documents.c.created_at.desc(), documents.c.id.desc()]
        if after is not None:
            keyset.append(_before(documents.c.created_at, documents.c.id, after))
    elif is_postgres(conn):
        index = pg_search
        source = pg_search.join(documents, documents.c.id == pg_search.c.document_id).join(
            versions, latest
        )
        each = [_pg_term(t) for t in terms]
        conditions.append(sa.and_(*each) if match == "all" else sa.or_(*each))
        if owner is not None:
            conditions.append(pg_search.c.owner == owner)
        if created_after is not None:
            conditions.append(pg_search.c.created_at > created_after)
        order = [pg_search.c.created_at.desc(), pg_search.c.document_id.desc()]
        if after is not None and match == "all":
            keyset.append(_before(pg_search.c.created_at, pg_search.c.document_id, after))
        if match == "any":
            matched = sum(
                (sa.case((c, 1), else_=0) for c in each[1:]), sa.case((each[0], 1), else_=0)
            )
            order = [matched.desc(), _pg_rank(terms).desc(), *order]
    else:
        index = fts
        first = versions.alias("first_version")
        source = (
            fts.join(first, first.c.id == fts.c.rowid)
            .join(documents, documents.c.id == first.c.document_id)
            .join(versions, latest)
        )
        conditions.append(_sqlite_match(terms, match, owner))
        if created_after is not None:
            conditions.append(documents.c.created_at > created_after)
            index = None
        order = [fts.c.rowid.desc()]
        extra.append(fts.c.rowid.label("search_rowid"))
        if after is not None and match == "all":
            keyset.append(fts.c.rowid < after[1])
        if match == "any":
            order = [_matched_sqlite(terms).desc(), sa.text(_BM25), *order]
    if format is not None:
        conditions.append(versions.c.format == format)
        index = None
    if index is None:
        found = sa.select(sa.literal(1)).select_from(source).where(*conditions, *live)
    else:
        found = sa.select(sa.literal(1)).select_from(index).where(*conditions)
    counted = found.limit(count_bound(offset, limit, count_cap)).subquery()
    total = (await conn.execute(sa.select(sa.func.count()).select_from(counted))).scalar_one()
    rows = (
        await conn.execute(
            sa.select(*VIEW_COLUMNS, *extra)
            .select_from(source)
            .where(*conditions, *live, *keyset)
            .order_by(*order)
            .offset(offset)
            .limit(limit + 1 if peek else limit)
        )
    ).mappings()
    return list(rows.all()), int(total)


# A keyset position in a newest-first order: ("t", created_at in microseconds, document id)
# by creation time, or ("r", index row id, document id) for SQLite's index order.
SearchKey = tuple[str, int, str]
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


class InvalidSearchKey(ValueError):
    """A key that is not of the order the search uses (a cursor of another query)."""


def keyset_kind(
    conn: AsyncConnection, terms: Sequence[SearchTerm] | None, match: str
) -> str | None:
    """Which key pages this search by keyset ("t" or "r"); None for `match=any` with terms,
    whose relevance order has no stable key (SQLite's bm25 moves with every write)."""
    if not terms:
        return "t"
    if match == "any":
        return None
    return "t" if is_postgres(conn) else "r"


def search_key(row: sa.RowMapping, kind: str) -> SearchKey:
    """The keyset position of a row `search` returned."""
    if kind == "r":
        return ("r", int(row["search_rowid"]), str(row["id"]))
    created: datetime = row["created_at"]
    return ("t", (created - _EPOCH) // timedelta(microseconds=1), str(row["id"]))


def _before(
    created_at: sa.ColumnElement[Any], ident: sa.ColumnElement[Any], after: SearchKey
) -> sa.ColumnElement[bool]:
    at = sa.literal(_EPOCH + timedelta(microseconds=after[1]), UTCDateTime())
    return sa.or_(created_at < at, sa.and_(created_at == at, ident < after[2]))
