"""`GET /documents/{id}/download?format=zip`: an RO-Crate, read back with `rocrate`.

The run's spans and log lines come from a real log collector found through a real
discovery; without a reachable log collector the crate still builds and says so.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import time
import zipfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import redis
from rocrate.rocrate import ROCrate

from eco_doc_store.main import build_app
from eco_doc_store.settings import DocStoreSettings
from eco_shared.auth import service_subject
from eco_shared.bus import LOGS, Event
from eco_shared.redis_server import free_port
from eco_shared.testing import ServiceProcess
from eco_shared.testing.auth import TestAuth, bearer, token
from eco_shared.testing.servers import ThreadedServer

DOC_STORE = "doc-store"

SERVICE = "bundle-run"


def _otlp(trace_id: str) -> dict[str, Any]:
    now = time.time_ns()
    spans = [
        {
            "traceId": trace_id,
            "spanId": span_id,
            **({"parentSpanId": parent} if parent else {}),
            "name": name,
            "startTimeUnixNano": str(now),
            "endTimeUnixNano": str(now + 2_000_000),
        }
        for span_id, parent, name in (
            ("a1" * 8, None, "run"),
            ("b2" * 8, "a1" * 8, "store document"),
        )
    ]
    resource = {"attributes": [{"key": "service.name", "value": {"stringValue": SERVICE}}]}
    return {"resourceSpans": [{"resource": resource, "scopeSpans": [{"spans": spans}]}]}


def _wait(check: Callable[[], bool], what: str, timeout_s: float = 60) -> None:
    deadline = time.monotonic() + timeout_s
    while not check():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.2)


@pytest.fixture
def collector_via_discovery(
    start_service: Callable[..., ServiceProcess], eco_env: dict[str, str], tmp_path: Path
) -> tuple[str, str]:
    """A discovery process and a log collector registered with it: their URLs."""
    discovery = start_service(
        "eco_discovery.main:create_app",
        env={
            **eco_env,
            "ECO_DISCOVERY_REGISTER_WITH_DISCOVERY": "false",
            "ECO_DISCOVERY_CHECK_INTERVAL_S": "0.5",
        },
        port_env="ECO_DISCOVERY_PORT",
        ready_path="/health/ready",
    )
    collector = start_service(
        "eco_log_collector.main:create_app",
        env={
            **eco_env,
            "ECO_DISCOVERY_URL": discovery.url,
            "ECO_OTLP_ENDPOINT": "none",
            "ECO_LOG_COLLECTOR_DATABASE_URL": f"sqlite:///{tmp_path / 'collector.db'}",
            "ECO_LOG_COLLECTOR_BLOCK_MS": "100",
        },
        port_env="ECO_LOG_COLLECTOR_PORT",
        ready_path="/health/ready",
    )

    def passing() -> bool:
        listing = httpx.get(
            f"{discovery.url}/services", headers=bearer("discovery"), timeout=10
        ).json()["services"]
        return any(s["name"] == "log-collector" and s["status"] == "passing" for s in listing)

    _wait(passing, "the log collector to pass its checks in discovery")
    return discovery.url, collector.url


@pytest.fixture
def docstore_with_discovery(
    docstore_settings: DocStoreSettings, collector_via_discovery: tuple[str, str]
) -> Iterator[tuple[str, str]]:
    """A doc store that finds the log collector through discovery; its URL, the collector's.

    It registers: the issuer (discovery) mints tokens for other services only to an instance
    holding a lease, and the doc store asks the log collector with its own token.
    """
    discovery_url, collector_url = collector_via_discovery
    port = free_port()
    excluded = {"max_body_bytes", "discovery_url", "register_with_discovery", "port"}
    excluded |= {"public_url", "instance_id"}  # derived from the port
    settings = DocStoreSettings(
        **docstore_settings.model_dump(exclude=excluded),
        discovery_url=discovery_url,
        register_with_discovery=True,
        port=port,
    )
    with ThreadedServer(build_app(settings, configure_process=False), port=port) as server:
        yield server.url, collector_url


def _crate(data: bytes, tmp_path: Path) -> tuple[ROCrate, zipfile.ZipFile]:
    path = tmp_path / "bundle.zip"
    path.write_bytes(data)
    return ROCrate(path), zipfile.ZipFile(path)


def _check_hashes(crate: ROCrate, archive: zipfile.ZipFile) -> dict[str, dict[str, Any]]:
    """Every file of the crate is described, with the sha256 of its bytes; name -> entity."""
    described = {entity.id: entity.properties() for entity in crate.get_entities()}
    names = {n for n in archive.namelist() if n != "ro-crate-metadata.json"}
    files = {n: described[n] for n in names}
    for name, entity in files.items():
        data = archive.read(name)
        assert entity["sha256"] == hashlib.sha256(data).hexdigest(), name
        assert entity["contentSize"] == str(len(data)), name
    return files


async def _store(client: httpx.AsyncClient, trace_id: str | None) -> dict[str, Any]:
    text = "# Bundled\n\nThe run's provenance travels with it.\n"
    record: dict[str, Any] = {
        "workflow_execution": {"execution_id": "run-zip", "status": "completed"},
        "content_sha256": hashlib.sha256(text.encode()).hexdigest(),
        "llm": {"provider": "offline", "model": "echo", "tokens_in": 3, "tokens_out": 5},
    }
    if trace_id:
        record["trace_id"] = trace_id
    v1 = await client.post(
        "/documents", json={"title": "Bundled", "format": "markdown", "content": "# draft"}
    )
    assert v1.status_code == 201
    v2 = await client.put(
        f"/documents/{v1.json()['id']}", json={"content": text, "provenance": record}
    )
    assert v2.status_code == 200, v2.text
    document: dict[str, Any] = v2.json()
    return document


async def test_zip_is_an_ro_crate_with_the_runs_trace_and_logs(
    docstore_with_discovery: tuple[str, str], redis_url: str, redis_prefix: str, tmp_path: Path
) -> None:
    docstore, collector = docstore_with_discovery
    trace_id = os.urandom(16).hex()
    await _seed_trace(collector, trace_id, redis_url, redis_prefix)
    async with httpx.AsyncClient(base_url=docstore, timeout=60, auth=TestAuth(DOC_STORE)) as client:
        document = await _store(client, trace_id)

        response = await client.get(
            f"/documents/{document['id']}/download", params={"format": "zip"}
        )
        assert response.status_code == 200, response.text
        assert response.headers["content-type"] == "application/zip"
        assert response.headers["x-document-version"] == "2"
        assert 'filename="Bundled.crate.zip"' in response.headers["content-disposition"]
        crate, archive = _crate(response.content, tmp_path)
        files = _check_hashes(crate, archive)
        assert set(files) == {
            "document.md",
            "provenance.json",
            "provenance.prov.json",
            "trace.json",
            "logs.jsonl",
        }
        assert crate.root_dataset["traceStatus"] == "included"
        assert crate.root_dataset["identifier"] == f"{document['id']}/v/2"

        # The hashes agree with the doc store's own record of the document.
        assert files["document.md"]["sha256"] == document["sha256"]
        original = await client.get(f"/documents/{document['id']}/download")
        assert archive.read("document.md") == original.content
        record = (await client.get(f"/documents/{document['id']}/provenance")).json()
        assert json.loads(archive.read("provenance.json")) == record
        assert record["content_sha256"] == document["sha256"]
        prov = await client.get(
            f"/documents/{document['id']}/provenance", params={"format": "prov-json"}
        )
        assert json.loads(archive.read("provenance.prov.json")) == prov.json()

        spans = json.loads(archive.read("trace.json"))
        assert spans["trace_id"] == trace_id
        assert [s["name"] for s in spans["spans"]] == ["run"]
        assert [c["name"] for c in spans["spans"][0]["children"]] == ["store document"]
        lines = [json.loads(line) for line in archive.read("logs.jsonl").splitlines()]
        assert [line["message"] for line in lines] == ["document_rendered"]
        assert lines[0]["trace_id"] == trace_id


async def _seed_trace(collector: str, trace_id: str, redis_url: str, prefix: str) -> None:
    seeded = httpx.post(
        f"{collector}/v1/traces", json=_otlp(trace_id), headers=bearer("log-collector")
    )
    assert seeded.status_code == 200, seeded.text
    record = Event(
        type="log.record",
        source=SERVICE,
        data={
            "event": "document_rendered",
            "level": "info",
            "service": SERVICE,
            "trace_id": trace_id,
        },
    )
    client = redis.Redis.from_url(redis_url)
    try:
        client.xadd(f"{prefix}{LOGS}", dict(record.to_fields()))  # type: ignore[arg-type]
    finally:
        client.close()

    def stored() -> bool:
        reply = httpx.get(
            f"{collector}/traces/{trace_id}", headers=bearer("log-collector"), timeout=10
        )
        return reply.status_code == 200 and len(reply.json()["logs"]) == 1

    _wait(stored, "the collector to store the trace and its log line")


async def test_zip_without_a_log_collector_still_builds_and_says_so(
    client: httpx.AsyncClient, tmp_path: Path
) -> None:
    # The fixture's doc store points at a discovery that is not running.
    document = await _store(client, os.urandom(16).hex())
    response = await client.get(f"/documents/{document['id']}/download?format=zip")
    assert response.status_code == 200, response.text
    crate, archive = _crate(response.content, tmp_path)
    files = _check_hashes(crate, archive)
    assert set(files) == {"document.md", "provenance.json", "provenance.prov.json"}
    assert crate.root_dataset["traceStatus"] == "unavailable"
    assert "log collector" in crate.root_dataset["traceStatusDetail"]
    assert files["document.md"]["sha256"] == document["sha256"]


async def test_zip_of_a_pdf_and_of_a_record_without_trace(
    client: httpx.AsyncClient, tmp_path: Path, make_pdf: Callable[[str], bytes]
) -> None:
    pdf = make_pdf("crate")
    created = await client.post(
        "/documents",
        json={
            "title": "Scan",
            "format": "pdf",
            "content": base64.b64encode(pdf).decode(),
            "content_encoding": "base64",
        },
    )
    document = created.json()
    response = await client.get(
        f"/documents/{document['id']}/download", params={"format": "zip", "version": 1}
    )
    assert response.status_code == 200
    crate, archive = _crate(response.content, tmp_path)
    files = _check_hashes(crate, archive)
    assert archive.read("document.pdf") == pdf
    assert files["document.pdf"]["encodingFormat"] == "application/pdf"
    assert crate.root_dataset["traceStatus"] == "no_trace_id"
    missing = await client.get("/documents/no-such-doc/download", params={"format": "zip"})
    assert missing.status_code == 404
    assert (
        await client.get(f"/documents/{document['id']}/download", params={"format": "tar"})
    ).status_code == 422


async def test_a_trace_id_a_user_wrote_is_not_fetched_for_them(
    client: httpx.AsyncClient, tmp_path: Path
) -> None:
    # The doc store reads traces with its own token: a user naming someone else's trace
    # in a record they wrote must not get its spans and logs through the ZIP.
    user = TestAuth(DOC_STORE, ["docs:read", "docs:write"], subject="user:curious")
    async with httpx.AsyncClient(base_url=client.base_url, auth=user, timeout=60) as own:
        document = await _store(own, "ab" * 16)
    response = await client.get(
        f"/documents/{document['id']}/download", params={"format": "zip"}, auth=user
    )
    assert response.status_code == 200, response.text
    crate, archive = _crate(response.content, tmp_path)
    assert set(_check_hashes(crate, archive)) == {
        "document.md",
        "provenance.json",
        "provenance.prov.json",
    }
    assert crate.root_dataset["traceStatus"] == "not_permitted"
    # The same record written by a service acting for the user is the run's own: it is
    # fetched (here the log collector is away, so it says so instead).
    acting = token(
        DOC_STORE,
        ["docs:read", "docs:write"],
        subject="user:curious",
        act={"sub": service_subject("orchestrator")},
    )
    headers = {"Authorization": f"Bearer {acting}"}
    put = await client.put(
        f"/documents/{document['id']}",
        json={"content": "# by the run", "provenance": {"trace_id": "ab" * 16}},
        headers=headers,
        auth=None,
    )
    assert put.status_code == 200, put.text
    response = await client.get(
        f"/documents/{document['id']}/download", params={"format": "zip"}, auth=user
    )
    crate, _ = _crate(response.content, tmp_path)
    assert crate.root_dataset["traceStatus"] == "unavailable"
