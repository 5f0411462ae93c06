"""A doc store killed (SIGKILL) in the middle of writes leaves no half document behind."""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import Callable

import httpx
import pytest
import sqlalchemy as sa

from eco_doc_store.main import build_app
from eco_doc_store.settings import DocStoreSettings
from eco_shared.db import create_engine
from eco_shared.testing import ServiceProcess
from eco_shared.testing.auth import TestAuth
from eco_shared.testing.servers import ThreadedServer

DOC_STORE = "doc-store"


async def _writer(client: httpx.AsyncClient, n: int, acked: dict[str, str]) -> None:
    body = f"crash-safe text {n} " * 20_000  # ~400 KiB: writes take a while
    while True:
        try:
            response = await client.post(
                "/documents", json={"title": f"w{n}", "format": "txt", "content": body}
            )
            if response.status_code == 201:
                doc = response.json()
                acked[doc["id"]] = doc["sha256"]
                put = await client.put(f"/documents/{doc['id']}", json={"content": body + "v2"})
                if put.status_code == 200:
                    acked[doc["id"]] = put.json()["sha256"]
        except httpx.TransportError:
            return


async def _check_consistency(database_url: str) -> int:
    """Every stored version is whole; the index holds exactly the live latest versions."""
    engine = create_engine(database_url)
    try:
        async with engine.connect() as conn:
            return await conn.run_sync(_check_tables)
    finally:
        await engine.dispose()


def _check_tables(conn: sa.Connection) -> int:
    docs = conn.execute(sa.text("SELECT id, latest_version, deleted_at FROM documents")).all()
    for doc_id, latest, _ in docs:
        numbers = (
            conn.execute(
                sa.text(
                    "SELECT version FROM document_versions WHERE document_id = :d ORDER BY version"
                ),
                {"d": doc_id},
            )
            .scalars()
            .all()
        )
        assert numbers == list(range(1, latest + 1)), doc_id
    rows = conn.execute(
        sa.text(
            "SELECT v.sha256, v.size_bytes, c.content FROM document_versions v"
            " LEFT JOIN document_contents c ON c.version_id = v.id"
        )
    ).all()
    for sha256, size, content in rows:
        assert content is not None
        assert (hashlib.sha256(bytes(content)).hexdigest(), len(content)) == (sha256, size)
    orphans = conn.execute(
        sa.text(
            "SELECT count(*) FROM document_contents c LEFT JOIN document_versions v"
            " ON v.id = c.version_id WHERE v.id IS NULL"
        )
    ).scalar_one()
    assert orphans == 0
    postgres = conn.dialect.name == "postgresql"
    # PostgreSQL indexes each live document's latest version; SQLite keys the row of each
    # live document by its version 1 (0005)
    indexed_version = "d.latest_version" if postgres else "1"
    expected = set(
        conn.execute(
            sa.text(
                "SELECT v.id FROM documents d JOIN document_versions v"
                f" ON v.document_id = d.id AND v.version = {indexed_version}"
                " WHERE d.deleted_at IS NULL"
            )
        ).scalars()
    )
    if postgres:
        indexed = set(conn.execute(sa.text("SELECT version_id FROM document_search")).scalars())
    else:
        indexed = set(conn.execute(sa.text("SELECT rowid FROM document_fts")).scalars())
    assert indexed == expected
    return len(docs)


@pytest.mark.slow
async def test_sigkill_mid_write_leaves_whole_documents(
    start_service: Callable[..., ServiceProcess], eco_env: dict[str, str], database_url: str
) -> None:
    env = {
        **eco_env,
        "ECO_DOC_STORE_DATABASE_URL": database_url,
        "ECO_DOC_STORE_REGISTER_WITH_DISCOVERY": "false",
    }
    service = start_service("eco_doc_store.main:create_app", env=env, port_env="ECO_DOC_STORE_PORT")
    acked: dict[str, str] = {}
    async with httpx.AsyncClient(
        base_url=service.url, timeout=30, auth=TestAuth(DOC_STORE)
    ) as client:
        writers = [asyncio.create_task(_writer(client, n, acked)) for n in range(8)]
        while len(acked) < 12:
            await asyncio.sleep(0.02)
        service.kill()  # while the writers are in the middle of their next writes
        await asyncio.wait_for(asyncio.gather(*writers), timeout=30)

    stored = await _check_consistency(database_url)
    assert stored >= len(acked)

    # Restarted in-process on the same database (a second process start is slow).
    settings = DocStoreSettings(
        redis_url=eco_env["ECO_REDIS_URL"],
        redis_prefix=eco_env["ECO_REDIS_PREFIX"],
        data_dir=eco_env["ECO_DATA_DIR"],
        database_url=database_url,
        register_with_discovery=False,
    )
    with ThreadedServer(build_app(settings, configure_process=False)) as restarted:
        await _check_restarted(restarted.url, acked, stored)


async def _check_restarted(url: str, acked: dict[str, str], stored: int) -> None:
    async with httpx.AsyncClient(base_url=url, timeout=30, auth=TestAuth(DOC_STORE)) as client:
        for document_id, sha256 in acked.items():
            got = await client.get(f"/documents/{document_id}/download")
            assert got.status_code == 200
            # The acknowledged version or a later one that committed before the kill.
            assert got.headers["etag"] == f'"{sha256}"' or got.headers["x-document-version"] == "2"
            assert hashlib.sha256(got.content).hexdigest() == got.headers["etag"].strip('"')
        found = (
            await client.get("/documents", params={"q": "crash safe", "page_size": 100})
        ).json()
        assert found["total"] == stored
