"""Every query of the doc store (SQLite and PostgreSQL), on a connection the caller owns.

Nothing here commits: the service opens one transaction per write, so a crash between
two statements leaves nothing behind. Writes start with a write (INSERT or UPDATE) so
SQLite takes its write lock before it reads, and PostgreSQL locks the document row.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa
import structlog
from sqlalchemy.ext.asyncio import AsyncConnection

from eco_doc_store.models import Document, DocumentContent, DocumentVersion

log = structlog.get_logger(__name__)

documents: sa.Table = Document.__table__  # type: ignore[attr-defined]
versions: sa.Table = DocumentVersion.__table__  # type: ignore[attr-defined]
contents: sa.Table = DocumentContent.__table__  # type: ignore[attr-defined]
# The full-text tables are dialect-specific and made by the migration, not the models.
fts = sa.table(
    "document_fts", sa.column("rowid", sa.Integer), sa.column("title"), sa.column("body")
)
pg_search = sa.table(
    "document_search", sa.column("document_id"), sa.column("version_id"), sa.column("tsv")
)

_VIEW_COLUMNS = (
    documents.c.id,
    documents.c.latest_version,
    documents.c.created_at,
    documents.c.updated_at,
    documents.c.deleted_at,
    versions.c.id.label("version_id"),
    versions.c.version,
    versions.c.title,
    versions.c.format,
    versions.c.sha256,
    versions.c.size_bytes,
    versions.c["metadata"],
    versions.c.created_at.label("version_created_at"),
)


@dataclass(frozen=True)
class DocumentRow:
    """The `documents` row."""

    id: str
    idempotency_key: str | None
    request_sha256: str | None
    latest_version: int
    created_at: datetime
    updated_at: datetime
    deleted_at: datetime | None


@dataclass(frozen=True)
class NewVersion:
    """What a write stores for one version."""

    document_id: str
    version: int
    title: str
    format: str
    sha256: str
    size_bytes: int
    metadata: dict[str, Any]
    provenance: dict[str, Any] | None
    created_at: datetime
    content: bytes


def _postgres(conn: AsyncConnection) -> bool:
    return conn.dialect.name == "postgresql"


async def get_document(conn: AsyncConnection, document_id: str) -> DocumentRow | None:
    """The document row, deleted or not."""
    row = (
        (await conn.execute(sa.select(documents).where(documents.c.id == document_id)))
        .mappings()
        .first()
    )
    return DocumentRow(**row) if row else None


async def find_by_idempotency_key(conn: AsyncConnection, key: str) -> DocumentRow | None:
    """The document created with this `Idempotency-Key`, if any."""
    row = (
        (await conn.execute(sa.select(documents).where(documents.c.idempotency_key == key)))
        .mappings()
        .first()
    )
    return DocumentRow(**row) if row else None


async def insert_document(
    conn: AsyncConnection,
    *,
    document_id: str,
    idempotency_key: str | None,
    request_sha256: str | None,
    now: datetime,
) -> None:
    """A new document row at version 1 (IntegrityError when the key was used)."""
    await conn.execute(
        sa.insert(documents).values(
            id=document_id,
            idempotency_key=idempotency_key,
            request_sha256=request_sha256,
            latest_version=1,
            created_at=now,
            updated_at=now,
            deleted_at=None,
        )
    )


async def claim_next_version(
    conn: AsyncConnection, document_id: str, now: datetime
) -> tuple[int, datetime] | None:
    """Bump a live document to its next version number; None when missing or deleted."""
    row = (
        await conn.execute(
            sa.update(documents)
            .where(documents.c.id == document_id, documents.c.deleted_at.is_(None))
            .values(latest_version=documents.c.latest_version + 1, updated_at=now)
            .returning(documents.c.latest_version, documents.c.created_at)
        )
    ).first()
    return (row[0], row[1]) if row else None


async def mark_deleted(conn: AsyncConnection, document_id: str, now: datetime) -> int | None:
    """Soft-delete a live document; return its latest version, None if missing or deleted."""
    row = (
        await conn.execute(
            sa.update(documents)
            .where(documents.c.id == document_id, documents.c.deleted_at.is_(None))
            .values(deleted_at=now, updated_at=now)
            .returning(documents.c.latest_version)
        )
    ).first()
    return row[0] if row else None


async def insert_version(conn: AsyncConnection, new: NewVersion) -> int:
    """Store a version row and its content; return the version row id."""
    version_id = (
        await conn.execute(
            sa.insert(versions)
            .values(
                {
                    "document_id": new.document_id,
                    "version": new.version,
                    "title": new.title,
                    "format": new.format,
                    "sha256": new.sha256,
                    "size_bytes": new.size_bytes,
                    "metadata": new.metadata,
                    "provenance": new.provenance,
                    "created_at": new.created_at,
                }
            )
            .returning(versions.c.id)
        )
    ).scalar_one()
    await conn.execute(sa.insert(contents).values(version_id=version_id, content=new.content))
    return int(version_id)


async def get_version_row(
    conn: AsyncConnection, document_id: str, version: int
) -> sa.RowMapping | None:
    """One version row (no content), with its provenance."""
    return (
        (
            await conn.execute(
                sa.select(versions).where(
                    versions.c.document_id == document_id, versions.c.version == version
                )
            )
        )
        .mappings()
        .first()
    )


async def versions_up_to(
    conn: AsyncConnection, document_id: str, version: int
) -> list[sa.RowMapping]:
    """Versions 1..`version` of a document, oldest first, with their provenance."""
    result = await conn.execute(
        sa.select(versions)
        .where(versions.c.document_id == document_id, versions.c.version <= version)
        .order_by(versions.c.version)
    )
    return list(result.mappings().all())


async def list_versions(
    conn: AsyncConnection, document_id: str, *, offset: int, limit: int
) -> tuple[list[sa.RowMapping], int]:
    """A page of a document's versions, newest first, and how many there are."""
    where = versions.c.document_id == document_id
    total = (
        await conn.execute(sa.select(sa.func.count()).select_from(versions).where(where))
    ).scalar_one()
    rows = (
        await conn.execute(
            sa.select(
                versions.c.version,
                versions.c.title,
                versions.c.format,
                versions.c.sha256,
                versions.c.size_bytes,
                versions.c.created_at,
            )
            .where(where)
            .order_by(versions.c.version.desc())
            .offset(offset)
            .limit(limit)
        )
    ).mappings()
    return list(rows.all()), int(total)


def _view_from() -> sa.Join:
    return documents.join(versions, versions.c.document_id == documents.c.id)


async def get_view(
    conn: AsyncConnection, document_id: str, version: int | None
) -> sa.RowMapping | None:
    """A document joined with one of its versions (the latest when `version` is None)."""
    wanted = documents.c.latest_version if version is None else sa.literal(version)
    return (
        (
            await conn.execute(
                sa.select(*_VIEW_COLUMNS)
                .select_from(_view_from())
                .where(documents.c.id == document_id, versions.c.version == wanted)
            )
        )
        .mappings()
        .first()
    )


async def get_content(conn: AsyncConnection, version_id: int) -> bytes:
    """The bytes of one version."""
    value = (
        await conn.execute(sa.select(contents.c.content).where(contents.c.version_id == version_id))
    ).scalar_one()
    return bytes(value)


async def index_version(
    conn: AsyncConnection,
    *,
    document_id: str,
    old_version_id: int | None,
    version_id: int,
    title: str,
    body: str,
) -> None:
    """Make `version_id` the searchable text of the document (replacing the old one)."""
    if not _postgres(conn):
        if old_version_id is not None:
            await conn.execute(sa.delete(fts).where(fts.c.rowid == old_version_id))
        await conn.execute(
            sa.insert(fts).values(rowid=version_id, title=title, body=body),
        )
        return
    upsert = sa.text(
        "INSERT INTO document_search (document_id, version_id, tsv) VALUES (:document_id,"
        " :version_id, setweight(to_tsvector('simple', CAST(:title AS text)), 'A')"
        " || setweight(to_tsvector('simple', CAST(:body AS text)), 'B'))"
        " ON CONFLICT (document_id) DO UPDATE"
        " SET version_id = EXCLUDED.version_id, tsv = EXCLUDED.tsv"
    )
    params = {"document_id": document_id, "version_id": version_id, "title": title, "body": body}
    try:
        async with conn.begin_nested():
            await conn.execute(upsert, params)
    except sa.exc.DBAPIError as exc:
        # A tsvector is capped at 1 MB; a body of many distinct words can exceed it.
        log.warning("search_body_not_indexed", document_id=document_id, error=str(exc.orig))
        await conn.execute(upsert, {**params, "body": ""})


async def unindex_document(conn: AsyncConnection, document_id: str, version_id: int) -> None:
    """Remove the document from the full-text index."""
    if _postgres(conn):
        await conn.execute(sa.delete(pg_search).where(pg_search.c.document_id == document_id))
    else:
        await conn.execute(sa.delete(fts).where(fts.c.rowid == version_id))


async def search(
    conn: AsyncConnection,
    *,
    match: str | None,
    format: str | None,
    created_after: datetime | None,
    offset: int,
    limit: int,
) -> tuple[list[sa.RowMapping], int]:
    """Live documents at their latest version, newest first; `match` is a bound query."""
    source: sa.FromClause = documents.join(
        versions,
        sa.and_(
            versions.c.document_id == documents.c.id,
            versions.c.version == documents.c.latest_version,
        ),
    )
    conditions: list[sa.ColumnElement[bool] | sa.TextClause] = [documents.c.deleted_at.is_(None)]
    if match is not None:
        if _postgres(conn):
            source = source.join(pg_search, pg_search.c.document_id == documents.c.id)
            conditions.append(
                sa.text("document_search.tsv @@ websearch_to_tsquery('simple', :match)").bindparams(
                    match=match
                )
            )
        else:
            source = source.join(fts, fts.c.rowid == versions.c.id)
            conditions.append(sa.text("document_fts MATCH :match").bindparams(match=match))
    if format is not None:
        conditions.append(versions.c.format == format)
    if created_after is not None:
        conditions.append(documents.c.created_at > created_after)
    total = (
        await conn.execute(sa.select(sa.func.count()).select_from(source).where(*conditions))
    ).scalar_one()
    rows = (
        await conn.execute(
            sa.select(*_VIEW_COLUMNS)
            .select_from(source)
            .where(*conditions)
            .order_by(documents.c.created_at.desc(), documents.c.id.desc())
            .offset(offset)
            .limit(limit)
        )
    ).mappings()
    return list(rows.all()), int(total)
