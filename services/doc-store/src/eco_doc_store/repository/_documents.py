"""Every query on documents, versions and contents, on a connection the caller owns.

Nothing here commits: the service opens one transaction per write, so a crash between
two statements leaves nothing behind. Writes start with a write (INSERT or UPDATE) so
SQLite takes its write lock before it reads, and PostgreSQL locks the document row.
`owner`, where a query takes it, limits it to that principal's documents (None: anyone's),
so another principal's document is not found, exactly as if it did not exist.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from eco_doc_store.repository._tables import (
    VIEW_COLUMNS,
    DocumentRow,
    IdempotencyKeyTaken,
    NewDocument,
    NewVersion,
    contents,
    documents,
    versions,
)


def _owned(owner: str | None) -> list[sa.ColumnElement[bool]]:
    return [] if owner is None else [documents.c.owner == owner]


async def get_document(
    conn: AsyncConnection, document_id: str, owner: str | None = None
) -> DocumentRow | None:
    """The document row, deleted or not."""
    query = sa.select(documents).where(documents.c.id == document_id, *_owned(owner))
    row = (await conn.execute(query)).mappings().first()
    return DocumentRow(**row) if row else None


async def find_by_idempotency_key(
    conn: AsyncConnection, owner: str, key: str
) -> DocumentRow | None:
    """The document `owner` created with this `Idempotency-Key`, if any."""
    query = sa.select(documents).where(
        documents.c.owner == owner, documents.c.idempotency_key == key
    )
    row = (await conn.execute(query)).mappings().first()
    return DocumentRow(**row) if row else None


async def insert_documents(conn: AsyncConnection, new: Sequence[NewDocument]) -> None:
    """New document rows at version 1, one statement (`IdempotencyKeyTaken` when an owner
    used a key: the transaction is void)."""
    rows = [
        {
            "id": d.document_id,
            "owner": d.owner,
            "idempotency_key": d.idempotency_key,
            "request_sha256": d.request_sha256,
            "latest_version": 1,
            "created_at": d.now,
            "updated_at": d.now,
            "deleted_at": None,
        }
        for d in new
    ]
    try:
        await conn.execute(sa.insert(documents), rows)
    except sa.exc.IntegrityError:
        keys = [d.idempotency_key for d in new if d.idempotency_key is not None]
        if not keys:
            raise
        raise IdempotencyKeyTaken(keys[0]) from None


async def claim_next_version(
    conn: AsyncConnection, document_id: str, now: datetime, owner: str | None
) -> tuple[int, datetime, str] | None:
    """Bump a live document to its next version number: (version, created_at, owner);
    None when missing, deleted or not `owner`'s."""
    row = (
        await conn.execute(
            sa.update(documents)
            .where(documents.c.id == document_id, documents.c.deleted_at.is_(None), *_owned(owner))
            .values(latest_version=documents.c.latest_version + 1, updated_at=now)
            .returning(documents.c.latest_version, documents.c.created_at, documents.c.owner)
        )
    ).first()
    return (row[0], row[1], row[2]) if row else None


async def mark_deleted(
    conn: AsyncConnection, document_id: str, now: datetime, owner: str | None
) -> tuple[int, str] | None:
    """Soft-delete a live document: (latest version, owner); None if missing, deleted or
    not `owner`'s."""
    row = (
        await conn.execute(
            sa.update(documents)
            .where(documents.c.id == document_id, documents.c.deleted_at.is_(None), *_owned(owner))
            .values(deleted_at=now, updated_at=now)
            .returning(documents.c.latest_version, documents.c.owner)
        )
    ).first()
    return (row[0], row[1]) if row else None


async def insert_versions(conn: AsyncConnection, new: Sequence[NewVersion]) -> list[int]:
    """Store version rows and their contents (a statement each); return the version row
    ids, in the order of `new`."""
    rows = [
        {
            "document_id": v.document_id,
            "version": v.version,
            "title": v.title,
            "format": v.format,
            "sha256": v.sha256,
            "size_bytes": v.size_bytes,
            "metadata": v.metadata,
            "provenance": v.provenance,
            "principal": v.principal,
            "acting_chain": v.acting_chain,
            "created_at": v.created_at,
        }
        for v in new
    ]
    statement = sa.insert(versions).returning(versions.c.id, sort_by_parameter_order=True)
    ids = [int(i) for i in (await conn.execute(statement, rows)).scalars()]
    await conn.execute(
        sa.insert(contents),
        [{"version_id": i, "content": v.content} for i, v in zip(ids, new, strict=True)],
    )
    return ids


async def first_version_id(conn: AsyncConnection, document_id: str) -> int:
    """The row id of a document's version 1: its key in the SQLite full-text index."""
    query = sa.select(versions.c.id).where(
        versions.c.document_id == document_id, versions.c.version == 1
    )
    return int((await conn.execute(query)).scalar_one())


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
                versions.c.principal,
            )
            .where(where)
            .order_by(versions.c.version.desc())
            .offset(offset)
            .limit(limit)
        )
    ).mappings()
    return list(rows.all()), int(total)


async def get_view(
    conn: AsyncConnection, document_id: str, version: int | None, owner: str | None = None
) -> sa.RowMapping | None:
    """A document joined with one of its versions (the latest when `version` is None)."""
    wanted = documents.c.latest_version if version is None else sa.literal(version)
    return (
        (
            await conn.execute(
                sa.select(*VIEW_COLUMNS)
                .select_from(documents.join(versions, versions.c.document_id == documents.c.id))
                .where(documents.c.id == document_id, versions.c.version == wanted, *_owned(owner))
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


async def get_contents(conn: AsyncConnection, version_ids: list[int]) -> dict[int, bytes]:
    """The bytes of several versions, by version id."""
    rows = await conn.execute(
        sa.select(contents.c.version_id, contents.c.content).where(
            contents.c.version_id.in_(version_ids)
        )
    )
    return {version_id: bytes(content) for version_id, content in rows}
