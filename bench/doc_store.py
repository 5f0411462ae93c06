"""Doc store: creates/s through the HTTP API against direct SQLModel inserts; search latency.

    uv run python bench/doc_store.py [--creates 500] [--concurrency 16]
                                     [--sizes 10000,100000] [--queries 80]

Redis: `ECO_BENCH_REDIS_URL`, else an embedded redis-server. Database: `ECO_BENCH_DATABASE_URL`
(a PostgreSQL URL gets a private schema, dropped afterwards), else a SQLite file in a
temporary directory. The service runs as a real uvicorn process (`ServiceProcess`).

Every request carries a valid token of one user, `user:bench` (`docs:write` for the creates,
`docs:read` for the searches: one token per phase, so its signature is checked once and then
answered from the verifier's cache), and every document belongs to that user.

(a) API: `POST /documents` of 4 KiB markdown documents from `--concurrency` clients.
(b) baseline: the same documents written straight into the same database from this process
    with SQLModel, one transaction each (document with its owner, version with its principal,
    content and its search-index row: the rows the service writes, without HTTP, token
    checks, validation, hashing or events).
(c) search: the corpus (the same owner's) is topped up (bulk inserts with their index rows)
    to each size, then `GET /documents?q=` is timed for a mix of rare, mid and common words
    and a phrase, limited to the caller's own documents as for any user without
    `docs:read:all`; p50/p99 per size and how they grow.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import itertools
import os
import random
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import psycopg
import sqlalchemy as sa
from _harness import cleanup, quiet_logs, redis_url
from sqlalchemy.engine import make_url
from sqlmodel import Session

from eco_doc_store.migrations import PACKAGE, VERSION_TABLE
from eco_doc_store.models import Document, DocumentContent, DocumentVersion
from eco_doc_store.search import SEARCH_COUNT_CAP, owner_token
from eco_shared.auth import user_subject
from eco_shared.db import create_engine, migrate
from eco_shared.testing import ServiceProcess
from eco_shared.testing.auth import AUTH_DIR_ENV, bearer, session_material

DOC_BYTES = 4096
VOCABULARY = [f"term{i:04d}" for i in range(2000)]
# Zipf-like weights: term0000 is in most documents, term1999 in few.
WEIGHTS = [1 / (rank + 1) for rank in range(len(VOCABULARY))]
# what `random.choices` makes of WEIGHTS on every call: the same draws, computed once
CUM_WEIGHTS = list(itertools.accumulate(WEIGHTS))
# Targets: API creates/s at least half of the direct inserts'; search p50 growing at most 3x
# from the first size to the last, and p99 under 200 ms at the last.
TARGET_RATIO = 0.5
TARGET_GROWTH = 3.0
TARGET_P99_MS = 200.0
OWNER = user_subject("bench")  # the one user every document belongs to
OWNER_TOKEN = owner_token(OWNER)
# a document's row in the SQLite index: keyed by its version 1, with its owner (0005)
_FTS_INSERT = sa.text(
    "INSERT INTO document_fts (rowid, title, body, owner) VALUES (:v, :t, :b, :o)"
)
# and in the PostgreSQL one, with the document's owner and creation time beside it
_PG_INSERT = sa.text(
    "INSERT INTO document_search (document_id, version_id, owner, created_at, tsv) VALUES"
    " (:d, :v, :owner, :c, setweight(to_tsvector('simple', CAST(:t AS text)), 'A')"
    " || setweight(to_tsvector('simple', CAST(:b AS text)), 'B'))"
).bindparams(owner=OWNER)


def markdown_4k(rng: random.Random, n: int) -> str:
    words = []
    size = 0
    while size < DOC_BYTES - 64:
        word = rng.choices(VOCABULARY, cum_weights=CUM_WEIGHTS)[0]
        words.append(word)
        size += len(word) + 1
    text = f"# Document {n}\n\n" + " ".join(words)
    return text[:DOC_BYTES].ljust(DOC_BYTES, ".")


async def bench_api(url: str, creates: int, concurrency: int) -> float:
    """Creates/s of 4 KiB markdown documents through `POST /documents`."""
    rng = random.Random(1)
    bodies = [markdown_4k(rng, n) for n in range(creates)]
    queue: asyncio.Queue[int] = asyncio.Queue()
    for n in range(creates):
        queue.put_nowait(n)
    limits = httpx.Limits(max_connections=concurrency)
    headers = bearer("doc-store", ("docs:write",), subject=OWNER)
    async with httpx.AsyncClient(
        base_url=url, timeout=60, limits=limits, headers=headers
    ) as client:

        async def worker() -> None:
            while not queue.empty():
                n = queue.get_nowait()
                response = await client.post(
                    "/documents",
                    json={"title": f"API doc {n}", "format": "markdown", "content": bodies[n]},
                )
                if response.status_code != 201:
                    raise RuntimeError(f"create failed: {response.status_code} {response.text}")

        start = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        return creates / (time.perf_counter() - start)


def _index_row(
    conn: sa.Connection,
    document_id: str,
    version_id: int,
    title: str,
    body: str,
    created_at: datetime,
) -> None:
    if conn.dialect.name == "postgresql":
        conn.execute(
            _PG_INSERT,
            {"d": document_id, "v": version_id, "t": title, "b": body, "c": created_at},
        )
    else:
        conn.execute(_FTS_INSERT, {"v": version_id, "t": title, "b": body, "o": OWNER_TOKEN})


def bench_direct(engine: sa.Engine, creates: int) -> float:
    """Creates/s of the same rows written with SQLModel, one transaction per document."""
    rng = random.Random(2)
    bodies = [markdown_4k(rng, n) for n in range(creates)]
    start = time.perf_counter()
    for n, body in enumerate(bodies):
        now = datetime.now(UTC)
        content = body.encode()
        with Session(engine) as session:
            doc = Document(
                id=str(uuid.uuid4()), owner=OWNER, latest_version=1, created_at=now, updated_at=now
            )
            version = DocumentVersion(
                document_id=doc.id,
                version=1,
                title=f"Direct doc {n}",
                format="markdown",
                sha256="0" * 64,
                size_bytes=len(content),
                meta={},
                principal=OWNER,
                acting_chain=[OWNER],
                created_at=now,
            )
            session.add(doc)
            session.add(version)
            session.flush()
            assert version.id is not None
            session.add(DocumentContent(version_id=version.id, content=content))
            _index_row(session.connection(), doc.id, version.id, version.title, body, now)
            session.commit()
    return creates / (time.perf_counter() - start)


def count_indexed(engine: sa.Engine) -> int:
    with engine.connect() as conn:
        table = "document_search" if conn.dialect.name == "postgresql" else "document_fts"
        return int(conn.execute(sa.text(f"SELECT count(*) FROM {table}")).scalar_one())


def bulk_load(engine: sa.Engine, target: int, batch: int = 5000) -> None:
    """Top the searchable corpus up to `target` documents (~50 words each), in big batches."""
    rng = random.Random(target)
    documents = Document.__table__  # type: ignore[attr-defined]
    versions = DocumentVersion.__table__  # type: ignore[attr-defined]
    contents = DocumentContent.__table__  # type: ignore[attr-defined]
    while (have := count_indexed(engine)) < target:
        size = min(batch, target - have)
        with engine.begin() as conn:
            next_id = (
                int(
                    conn.execute(
                        sa.text("SELECT coalesce(max(id), 0) FROM document_versions")
                    ).scalar_one()
                )
                + 1
            )
            docs, vers, bodies, index = [], [], [], []
            for i in range(size):
                now = datetime.now(UTC)
                doc_id = str(uuid.uuid4())
                body = " ".join(rng.choices(VOCABULARY, cum_weights=CUM_WEIGHTS, k=50))
                title = f"Corpus doc {have + i}"
                vid = next_id + i
                docs.append(
                    {
                        "id": doc_id,
                        "owner": OWNER,
                        "latest_version": 1,
                        "created_at": now,
                        "updated_at": now,
                    }
                )
                vers.append(
                    {
                        "id": vid,
                        "document_id": doc_id,
                        "version": 1,
                        "title": title,
                        "format": "txt",
                        "sha256": "0" * 64,
                        "size_bytes": len(body),
                        "metadata": {},
                        "principal": OWNER,
                        "acting_chain": [OWNER],
                        "created_at": now,
                    }
                )
                bodies.append({"version_id": vid, "content": body.encode()})
                index.append(
                    {"d": doc_id, "v": vid, "t": title, "b": body, "o": OWNER_TOKEN, "c": now}
                )
            conn.execute(sa.insert(documents), docs)
            conn.execute(sa.insert(versions), vers)
            conn.execute(sa.insert(contents), bodies)
            if conn.dialect.name == "postgresql":
                conn.execute(_PG_INSERT, index)
                conn.execute(
                    sa.text(
                        "SELECT setval(pg_get_serial_sequence('document_versions', 'id'),"
                        " (SELECT max(id) FROM document_versions))"
                    )
                )
            else:
                conn.execute(_FTS_INSERT, index)
    with engine.connect() as conn:
        if conn.dialect.name == "postgresql":
            conn.execute(sa.text("ANALYZE"))
            conn.commit()


def search_queries(count: int) -> list[str]:
    kinds = [
        lambda r: VOCABULARY[r.randrange(1500, 2000)],  # rare
        lambda r: VOCABULARY[r.randrange(50, 200)],  # mid
        lambda r: VOCABULARY[r.randrange(0, 5)],  # common
        lambda r: f'"{VOCABULARY[0]} {VOCABULARY[1]}"',  # phrase
    ]
    rng = random.Random(3)
    return [kinds[i % len(kinds)](rng) for i in range(count)]


async def bench_search(url: str, queries: int) -> tuple[float, float, dict[str, int]]:
    """p50 and p99 latency (ms) of `GET /documents?q=`, one request at a time."""
    latencies = []
    totals: dict[str, int] = {}
    headers = bearer("doc-store", ("docs:read",), subject=OWNER)
    async with httpx.AsyncClient(base_url=url, timeout=60, headers=headers) as client:
        for q in search_queries(10):  # warm caches and connections
            await client.get("/documents", params={"q": q})
        for q in search_queries(queries):
            start = time.perf_counter()
            response = await client.get("/documents", params={"q": q, "page_size": 20})
            latencies.append((time.perf_counter() - start) * 1000)
            if response.status_code != 200:
                raise RuntimeError(f"search failed: {response.status_code} {response.text}")
            totals[q] = response.json()["total"]
    cuts = statistics.quantiles(latencies, n=100)
    return statistics.median(latencies), cuts[98], totals


def sync_engine(url: str) -> sa.Engine:
    """A synchronous engine with the same SQLite settings as the service's (WAL, NORMAL)."""
    parsed = make_url(url)
    if parsed.drivername in ("postgres", "postgresql"):
        parsed = parsed.set(drivername="postgresql+psycopg")
    engine = sa.create_engine(parsed.render_as_string(hide_password=False))
    if engine.dialect.name == "sqlite":

        @sa.event.listens_for(engine, "connect")
        def _pragmas(dbapi_conn: Any, _record: Any) -> None:
            cursor = dbapi_conn.cursor()
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.execute("PRAGMA synchronous=NORMAL")
            cursor.close()

    return engine


async def migrate_database(url: str) -> None:
    """The doc store's schema, by the same runner the service uses at start-up."""
    engine = create_engine(url)
    try:
        await migrate(engine, PACKAGE, version_table=VERSION_TABLE)
    finally:
        await engine.dispose()


@contextlib.contextmanager
def database_url(tmp: Path) -> Iterator[str]:
    given = os.environ.get("ECO_BENCH_DATABASE_URL")
    if not given:
        yield f"sqlite:///{tmp / 'bench_doc_store.db'}"
        return
    plain = make_url(given).set(drivername="postgresql")
    conninfo = plain.render_as_string(hide_password=False)
    schema = f"bench_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(conninfo, autocommit=True) as conn:
        conn.execute(f'CREATE SCHEMA "{schema}"')
    try:
        yield plain.update_query_dict({"options": f"-csearch_path={schema}"}).render_as_string(
            hide_password=False
        )
    finally:
        with psycopg.connect(conninfo, autocommit=True) as conn:
            conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')


def main() -> None:
    parser = argparse.ArgumentParser(description="Doc store creates/s and search latency.")
    parser.add_argument("--creates", type=int, default=500)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--sizes", default="10000,100000")
    parser.add_argument("--queries", type=int, default=80)
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes.split(",") if s]
    quiet_logs()
    prefix = f"bench-{uuid.uuid4().hex[:8]}:"
    with (
        tempfile.TemporaryDirectory() as tmp_name,
        redis_url() as redis_at,
        database_url(Path(tmp_name)) as db_url,
    ):
        tmp = Path(tmp_name)
        # this run's own key material, inherited by the service and removed with `tmp`
        os.environ[AUTH_DIR_ENV] = str(tmp / "auth")
        session_material()
        backend = make_url(db_url).get_backend_name()
        asyncio.run(migrate_database(db_url))
        service = ServiceProcess(
            "eco_doc_store.main:create_app",
            env={
                "ECO_REDIS_URL": redis_at,
                "ECO_REDIS_PREFIX": prefix,
                "ECO_DATA_DIR": str(tmp),
                "ECO_LOG_LEVEL": "WARNING",
                "ECO_LOG_FORMAT": "json",
                "ECO_DOC_STORE_DATABASE_URL": db_url,
                "ECO_DOC_STORE_REGISTER_WITH_DISCOVERY": "false",
            },
            port_env="ECO_DOC_STORE_PORT",
            ready_path="/health/ready",
            log_dir=tmp,
        )
        engine = sync_engine(db_url)
        misses: list[str] = []
        try:
            service.start(timeout_s=60)
            api = asyncio.run(bench_api(service.url, args.creates, args.concurrency))
            direct = bench_direct(engine, args.creates)
            print(f"database:                {backend}")
            print(f"documents per phase:     {args.creates} x 4 KiB markdown")
            print(f"API POST /documents:     {api:10,.0f} creates/s ({args.concurrency} clients)")
            print(f"direct SQLModel inserts: {direct:10,.0f} creates/s (1 writer; the baseline)")
            ratio = api / direct
            print(f"ratio API/direct:        {ratio:10.2f}  (target >= {TARGET_RATIO})")
            if ratio < TARGET_RATIO:
                misses.append(f"create ratio {ratio:.2f} < {TARGET_RATIO}")
            results = []
            for size in sizes:
                start = time.perf_counter()
                bulk_load(engine, size)
                loaded = time.perf_counter() - start
                p50, p99, totals = asyncio.run(bench_search(service.url, args.queries))
                results.append((size, p50, p99))
                common = max(totals.values())
                rare = min(totals.values())
                print(
                    f"search at {size:>7,} docs:  p50 {p50:7.1f} ms  p99 {p99:7.1f} ms"
                    f"  (total per query {rare:,}..{common:,}, counted up to"
                    f" {SEARCH_COUNT_CAP:,}; loaded in {loaded:.0f} s)"
                )
            if results:
                last, _, last99 = results[-1]
                print(f"p99 at {last:,} docs:      {last99:7.1f} ms (target < {TARGET_P99_MS:.0f})")
                if last99 >= TARGET_P99_MS:
                    misses.append(f"p99 {last99:.0f} ms >= {TARGET_P99_MS:.0f} ms")
            if len(results) >= 2:
                (s0, a50, a99), (s1, b50, b99) = results[0], results[-1]
                growth = b50 / a50
                print(
                    f"growth {s0:,} -> {s1:,} docs ({s1 / s0:.0f}x): p50 x{growth:.1f}"
                    f" (baseline: p50 at {s0:,} docs, {a50:.1f} ms; target <= x{TARGET_GROWTH}),"
                    f" p99 x{b99 / a99:.1f}"
                )
                if growth > TARGET_GROWTH:
                    misses.append(f"p50 growth x{growth:.1f} > x{TARGET_GROWTH}")
            print("targets: " + ("all met" if not misses else "MISSED: " + "; ".join(misses)))
        finally:
            service.terminate()
            engine.dispose()
            cleanup(redis_at, prefix)
    sys.exit(1 if misses else 0)


if __name__ == "__main__":
    main()
