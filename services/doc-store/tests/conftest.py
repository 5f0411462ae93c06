"""Fixtures: a real doc store (in-process uvicorn) on SQLite and, when configured, PostgreSQL."""

from __future__ import annotations

import uuid
import zlib
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import redis

from eco_doc_store.main import build_app
from eco_doc_store.settings import DocStoreSettings
from eco_shared.testing.auth import TestAuth
from eco_shared.testing.servers import ThreadedServer

DOC_STORE = "doc-store"


@pytest.fixture
def docstore_settings(
    database_url: str, redis_url: str, redis_prefix: str, tmp_path: Path
) -> DocStoreSettings:
    """Doc-store settings on the test database, Redis prefix and data dir."""
    return DocStoreSettings(
        redis_url=redis_url,
        redis_prefix=redis_prefix,
        data_dir=tmp_path,
        database_url=database_url,
        register_with_discovery=False,
        environment="test",
    )


@pytest.fixture
def make_docstore(
    docstore_settings: DocStoreSettings,
) -> Iterator[Callable[..., str]]:
    """Start a doc store with settings overrides; return its URL (stopped after the test)."""
    servers: list[ThreadedServer] = []

    def start(**overrides: Any) -> str:
        # Built anew (not copied) so limits derived from the overrides are recomputed.
        base = docstore_settings.model_dump(exclude={"max_body_bytes", *overrides})
        settings = DocStoreSettings(**base, **overrides)
        server = ThreadedServer(build_app(settings, configure_process=False)).start()
        servers.append(server)
        return server.url

    yield start
    for server in servers:
        server.stop()


@pytest.fixture
def docstore(make_docstore: Callable[..., str]) -> str:
    """The URL of a running doc store with default settings."""
    return make_docstore()


@pytest.fixture
async def client(docstore: str) -> AsyncIterator[httpx.AsyncClient]:
    """An HTTP client on the running doc store."""
    async with httpx.AsyncClient(base_url=docstore, timeout=60, auth=TestAuth(DOC_STORE)) as http:
        yield http


@pytest.fixture
def make_pdf() -> Callable[[str], bytes]:
    """Builds real one-page PDFs."""
    return minimal_pdf


def minimal_pdf(text: str) -> bytes:
    """A real, valid one-page PDF (with a compressed stream and binary bytes) showing `text`."""
    stream = zlib.compress(f"BT /F1 24 Tf 72 720 Td ({text}) Tj ET".encode("latin-1"))
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 4 0 R"
        b" /Resources << /Font << /F1 5 0 R >> >> >>",
        b"<< /Length %d /Filter /FlateDecode >>\nstream\n" % len(stream) + stream + b"\nendstream",
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
    ]
    out = bytearray(b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n")
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += b"%d 0 obj\n" % number + body + b"\nendobj\n"
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    for offset in offsets:
        out += b"%010d 00000 n \n" % offset
    out += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (
        len(objects) + 1,
        xref,
    )
    return bytes(out)


@pytest.fixture(scope="module")
def shared_docstore(
    module_database_url: str, redis_url: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    """One doc store for a whole module, for tests that do not depend on an empty database."""
    data_dir = tmp_path_factory.mktemp("docstore")
    prefix = f"test-{uuid.uuid4().hex[:12]}:"
    settings = DocStoreSettings(
        redis_url=redis_url,
        redis_prefix=prefix,
        data_dir=data_dir,
        database_url=module_database_url,
        register_with_discovery=False,
        environment="test",
    )
    with ThreadedServer(build_app(settings, configure_process=False)) as server:
        yield server.url
    client = redis.Redis.from_url(redis_url)
    try:
        keys = list(client.scan_iter(match=f"{prefix}*"))
        if keys:
            client.delete(*keys)
    finally:
        client.close()


@pytest.fixture
async def shared_client(shared_docstore: str) -> AsyncIterator[httpx.AsyncClient]:
    """An HTTP client on the module's shared doc store."""
    async with httpx.AsyncClient(
        base_url=shared_docstore, timeout=60, auth=TestAuth(DOC_STORE)
    ) as http:
        yield http
