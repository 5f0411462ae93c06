"""Alembic migrations: from an empty database, re-run as a no-op, down and up again, 0002's
backfill of the stemmed index for documents stored before it, and 0004's owners."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable

import httpx
import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy.ext.asyncio import AsyncEngine

from eco_doc_store.migrations import PACKAGE, VERSION_TABLE
from eco_doc_store.models import DocStoreTable
from eco_shared.db import create_engine, current_revision, downgrade, head_revision, migrate
from eco_shared.testing.auth import TestAuth

DOC_STORE = "doc-store"

TABLES = {"documents", "document_versions", "document_contents"}


@pytest.fixture
async def engine(database_url: str) -> AsyncIterator[AsyncEngine]:
    engine = create_engine(database_url)
    yield engine
    await engine.dispose()


async def _tables(engine: AsyncEngine) -> set[str]:
    async with engine.connect() as conn:
        return set(await conn.run_sync(lambda c: sa.inspect(c).get_table_names()))


async def _revision(engine: AsyncEngine) -> str | None:
    return await current_revision(engine, version_table=VERSION_TABLE)


def _schema_diff(conn: sa.Connection) -> list[object]:
    context = MigrationContext.configure(conn, opts={"version_table": VERSION_TABLE})
    return [
        d
        for d in compare_metadata(context, DocStoreTable.metadata)
        if not (d[0] == "remove_table" and d[1].name not in TABLES)
        and not (d[0] == "remove_index" and d[1].table.name not in TABLES)
    ]


async def test_migrations_from_empty_and_rerun_idempotently(engine: AsyncEngine) -> None:
    assert await _tables(engine) == set()
    assert await _revision(engine) is None
    await migrate(engine, PACKAGE, version_table=VERSION_TABLE)
    tables = await _tables(engine)
    assert TABLES | {VERSION_TABLE} <= tables
    assert ("document_search" in tables) or ("document_fts" in tables)
    assert await _revision(engine) == head_revision(PACKAGE) == "0005"

    async with engine.begin() as conn:
        await conn.execute(
            sa.text(
                "INSERT INTO documents (id, owner, latest_version, created_at, updated_at)"
                " VALUES ('keep-me', 'user:x', 1, '2025-01-01 00:00:00', '2025-01-01 00:00:00')"
            )
        )
    await migrate(engine, PACKAGE, version_table=VERSION_TABLE)  # a second run changes nothing
    await migrate(engine, PACKAGE, version_table=VERSION_TABLE)
    async with engine.connect() as conn:
        assert (await conn.execute(sa.text("SELECT id FROM documents"))).scalars().all() == [
            "keep-me"
        ]
        count = (await conn.execute(sa.text(f"SELECT count(*) FROM {VERSION_TABLE}"))).scalar_one()
        assert count == 1
        # The models and the migrations describe the same schema.
        assert await conn.run_sync(_schema_diff) == []


async def test_downgrade_and_upgrade_again(engine: AsyncEngine) -> None:
    await migrate(engine, PACKAGE, version_table=VERSION_TABLE)
    await downgrade(engine, PACKAGE, version_table=VERSION_TABLE)
    assert await _tables(engine) - {VERSION_TABLE} == set()
    assert await _revision(engine) is None
    await migrate(engine, PACKAGE, version_table=VERSION_TABLE)
    assert TABLES <= await _tables(engine)
    assert await _revision(engine) == head_revision(PACKAGE)
    await downgrade(engine, PACKAGE, version_table=VERSION_TABLE, revision="0001")
    assert await _revision(engine) == "0001"
    assert TABLES <= await _tables(engine)


async def _store_at_0001(engine: AsyncEngine) -> None:
    """A document written as the 0001 service did: folded text in the unstemmed index."""
    async with engine.begin() as conn:
        await conn.execute(
            sa.text(
                "INSERT INTO documents (id, latest_version, created_at, updated_at)"
                " VALUES ('old-doc', 1, '2025-01-01 00:00:00', '2025-01-01 00:00:00')"
            )
        )
        version_id = (
            await conn.execute(
                sa.text(
                    "INSERT INTO document_versions (document_id, version, title, format, sha256,"
                    " size_bytes, metadata, provenance, created_at) VALUES ('old-doc', 1,"
                    " 'Worker notes', 'txt', :sha, 30, '{}', NULL, '2025-01-01 00:00:00')"
                    " RETURNING id"
                ),
                {"sha": "0" * 64},
            )
        ).scalar_one()
        body = "The worker retries failed jobs"
        await conn.execute(
            sa.text("INSERT INTO document_contents (version_id, content) VALUES (:v, :c)"),
            {"v": version_id, "c": body.encode()},
        )
        if conn.dialect.name == "postgresql":
            await conn.execute(
                sa.text(
                    "INSERT INTO document_search (document_id, version_id, tsv) VALUES"
                    " ('old-doc', :v, setweight(to_tsvector('simple', 'Worker notes'), 'A')"
                    " || setweight(to_tsvector('simple', CAST(:b AS text)), 'B'))"
                ),
                {"v": version_id, "b": body},
            )
        else:
            await conn.execute(
                sa.text(
                    "INSERT INTO document_fts (rowid, title, body) VALUES (:v, 'Worker notes', :b)"
                ),
                {"v": version_id, "b": body},
            )


async def test_0002_backfills_documents_stored_before_it(
    engine: AsyncEngine, make_docstore: Callable[..., str]
) -> None:
    await migrate(engine, PACKAGE, version_table=VERSION_TABLE, revision="0001")
    await _store_at_0001(engine)
    # The service migrates to head at start-up; the old document must be found by stem.
    url = make_docstore()
    assert await _revision(engine) == "0005"
    async with httpx.AsyncClient(base_url=url, timeout=30, auth=TestAuth(DOC_STORE)) as client:
        for q in ("retry", "retries", "retrying", "job", "workers", "worker notes"):
            page = (await client.get("/documents", params={"q": q})).json()
            assert [d["id"] for d in page["items"]] == ["old-doc"], q
        assert (await client.get("/documents", params={"q": "elephant"})).json()["total"] == 0
    async with engine.connect() as conn:
        assert await conn.run_sync(_schema_diff) == []


async def test_0004_gives_documents_stored_before_it_the_legacy_owner(
    engine: AsyncEngine, make_docstore: Callable[..., str]
) -> None:
    await migrate(engine, PACKAGE, version_table=VERSION_TABLE, revision="0001")
    await _store_at_0001(engine)
    async with engine.begin() as conn:
        await conn.execute(
            sa.text("UPDATE documents SET idempotency_key = 'k-1', request_sha256 = :h"),
            {"h": "1" * 64},
        )
    await migrate(engine, PACKAGE, version_table=VERSION_TABLE)
    async with engine.connect() as conn:
        row = (await conn.execute(sa.text("SELECT owner, idempotency_key FROM documents"))).one()
        assert tuple(row) == ("user:admin", "k-1")
        version = (
            await conn.execute(sa.text("SELECT principal, acting_chain FROM document_versions"))
        ).one()
        assert tuple(version) == (None, None)
        assert await conn.run_sync(_schema_diff) == []
    url = make_docstore()
    admin = TestAuth(DOC_STORE, ["docs:read", "docs:write"], subject="user:admin")
    async with httpx.AsyncClient(base_url=url, timeout=30, auth=admin) as client:
        old = (await client.get("/documents/old-doc")).json()
        assert (old["owner"], old["title"]) == ("user:admin", "Worker notes")
        # the versions still reference their document (SQLite rebuilt the table)
        assert (await client.get("/documents/old-doc/versions")).json()["total"] == 1
        record = (await client.get("/documents/old-doc/provenance")).json()
        assert (record["principal"], record["acting_chain"]) == (None, [])
        prov = (await client.get("/documents/old-doc/provenance?format=prov-json")).json()
        attributed = {(r["prov:entity"], r["prov:agent"]) for r in prov["wasAttributedTo"].values()}
        # who stored it is not known: the doc store vouches for it, no user is invented
        assert attributed == {("eco:document/old-doc/v/1", "eco:service/doc-store")}
        # The key stays the legacy owner's; another principal may use the same one.
        body = {"title": "Mine", "format": "txt", "content": "x"}
        other = TestAuth(DOC_STORE, ["docs:read", "docs:write"], subject="user:other")
        mine = await client.post(
            "/documents", json=body, headers={"Idempotency-Key": "k-1"}, auth=other
        )
        assert mine.status_code == 201, mine.text
        assert mine.json()["owner"] == "user:other"
        assert "idempotent-replayed" not in mine.headers
        again = await client.post("/documents", json=body, headers={"Idempotency-Key": "k-1"})
        assert again.status_code == 409  # the legacy owner's key names another request
        assert again.json()["document_id"] == "old-doc"
        missing = await client.get("/documents/old-doc", auth=other)
        assert missing.status_code == 404
    await downgrade(engine, PACKAGE, version_table=VERSION_TABLE, revision="0003")
    async with engine.connect() as conn:
        keys = (
            await conn.execute(sa.text("SELECT id, idempotency_key FROM documents ORDER BY id"))
        ).all()
        # one global key space again: the newer holder of k-1 lets go of it
        assert ("old-doc", "k-1") in [tuple(k) for k in keys]
        assert sorted(k[1] or "" for k in keys) == ["", "k-1"]
        count = (await conn.execute(sa.text("SELECT count(*) FROM document_versions"))).scalar_one()
        assert count == 2
