"""The flagship path end to end: discovery, LLM gateway, doc store, log collector and the
orchestrator as real processes; natural-language queries become stored documents whose
content and provenance are checked."""

from __future__ import annotations

import time
import uuid
from collections.abc import Generator, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest
import redis

from eco_shared.adapters.orchestrator import parse_sse
from eco_shared.testing import ServiceProcess
from eco_shared.testing.auth import token

pytestmark = [pytest.mark.slow, pytest.mark.timeout(600)]

ORCHESTRATOR = "eco_orchestrator.main:create_app"
START_TIMEOUT_S = 90


class Ecosystem:
    """The running services of one test module."""

    def __init__(self, env: dict[str, str], log_dir: Path) -> None:
        self.env = env
        self.log_dir = log_dir
        self.procs: dict[str, ServiceProcess] = {}
        self.extra: list[ServiceProcess] = []

    def start(self, name: str, app: str, port_env: str, **env: str) -> ServiceProcess:
        proc = ServiceProcess(app, env={**self.env, **env}, port_env=port_env, log_dir=self.log_dir)
        proc.start(timeout_s=START_TIMEOUT_S)
        self.procs[name] = proc
        return proc

    def orchestrator(self, port: int | None = None, **env: str) -> ServiceProcess:
        """Another orchestrator replica (its own port, instance id and consumers)."""
        proc = ServiceProcess(
            ORCHESTRATOR,
            env={**self.env, **env},
            port=port,
            port_env="ECO_ORCHESTRATOR_PORT",
            log_dir=self.log_dir,
        )
        proc.start(timeout_s=START_TIMEOUT_S)
        self.extra.append(proc)
        return proc

    def url(self, name: str) -> str:
        return self.procs[name].url

    def service_at(self, url: str) -> str:
        """The name of the service (or orchestrator replica) `url` points at."""
        netloc = urlsplit(url).netloc
        for name, proc in [*self.procs.items(), *(("orchestrator", p) for p in self.extra)]:
            if urlsplit(proc.url).netloc == netloc:
                return name
        raise ValueError(f"{url} is none of this ecosystem's services")

    def http(self, **kwargs: Any) -> httpx.Client:
        """A client for absolute URLs of any service, calling as the admin `user:test`."""
        return httpx.Client(auth=_AsUser(self), **kwargs)

    def stop(self) -> None:
        for proc in [*self.extra, *reversed(self.procs.values())]:
            proc.terminate()


class _AsUser(httpx.Auth):
    """A fresh token per request for the service the URL points at (the test's user)."""

    def __init__(self, eco: Ecosystem) -> None:
        self.eco = eco

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        audience = self.eco.service_at(str(request.url))
        request.headers["Authorization"] = f"Bearer {token(audience)}"
        yield request


@pytest.fixture(scope="module")
def eco(redis_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Ecosystem]:
    """All five services, registered with discovery and passing their checks."""
    prefix = f"test-{uuid.uuid4().hex[:12]}:"
    data_dir = tmp_path_factory.mktemp("flagship")
    env = {
        "ECO_REDIS_URL": redis_url,
        "ECO_REDIS_PREFIX": prefix,
        "ECO_DATA_DIR": str(data_dir),
        "ECO_ENVIRONMENT": "test",
        "ECO_LOG_FORMAT": "json",
    }
    eco = Ecosystem(env, data_dir)
    try:
        discovery = eco.start(
            "discovery",
            "eco_discovery.main:create_app",
            "ECO_DISCOVERY_PORT",
            ECO_DISCOVERY_REGISTER_WITH_DISCOVERY="false",
            ECO_DISCOVERY_CHECK_INTERVAL_S="0.5",
        )
        eco.env["ECO_DISCOVERY_URL"] = discovery.url
        eco.start("llm-gateway", "eco_llm_gateway.main:create_app", "ECO_LLM_GATEWAY_PORT")
        eco.start("doc-store", "eco_doc_store.main:create_app", "ECO_DOC_STORE_PORT")
        eco.start("log-collector", "eco_log_collector.main:create_app", "ECO_LOG_COLLECTOR_PORT")
        eco.start("orchestrator", ORCHESTRATOR, "ECO_ORCHESTRATOR_PORT")
        wanted = {"discovery", "llm-gateway", "doc-store", "log-collector", "orchestrator"}
        deadline = time.monotonic() + 60
        with eco.http(timeout=10) as client:
            while True:
                listing = client.get(discovery.url + "/services").json()["services"]
                passing = {s["name"] for s in listing if s["status"] == "passing"}
                if wanted <= passing:
                    break
                assert time.monotonic() < deadline, f"not all passing: {listing}"
                time.sleep(0.2)
        yield eco
    finally:
        eco.stop()
        client = redis.Redis.from_url(redis_url)
        try:
            keys = list(client.scan_iter(match=f"{prefix}*", count=1000))
            if keys:
                client.delete(*keys)
        finally:
            client.close()


def _execute(eco: Ecosystem, query: str, fmt: str = "markdown", **extra: Any) -> dict[str, Any]:
    with eco.http(timeout=180) as client:
        response = client.post(
            eco.url("orchestrator") + "/execute-query",
            json={"query": query, "format": fmt, "user_id": "flagship", **extra},
        )
    assert response.status_code == 200, response.text
    return dict(response.json())


def _wait_run(
    client: httpx.Client, base: str, run_id: str, statuses: set[str], timeout_s: float = 120
) -> dict[str, Any]:
    deadline = time.monotonic() + timeout_s
    while True:
        response = client.get(f"{base}/runs/{run_id}")
        if response.status_code == 200 and response.json()["status"] in statuses:
            return dict(response.json())
        assert time.monotonic() < deadline, f"run {run_id}: {response.text}"
        time.sleep(0.1)


def _documents_of_run(client: httpx.Client, doc_store: str, run_id: str) -> list[dict[str, Any]]:
    items = client.get(doc_store + "/documents", params={"page_size": 100}).json()["items"]
    return [d for d in items if d.get("metadata", {}).get("run_id") == run_id]


def test_api_documentation_end_to_end(eco: Ecosystem) -> None:
    result = _execute(eco, "Create API documentation for the doc-store service")
    doc_store = eco.url("doc-store")
    with eco.http(timeout=30) as client:
        document = client.get(f"{doc_store}/documents/{result['document_id']}").json()
        content = client.get(result["download_url"]).text
        spec = client.get(doc_store + "/openapi.json").json()
        via_orchestrator = client.get(
            f"{eco.url('orchestrator')}/documents/{result['document_id']}/provenance"
        ).json()
        run = client.get(f"{eco.url('orchestrator')}/runs/{result['run_id']}").json()
    assert document["format"] == "markdown"
    assert document["metadata"]["run_id"] == result["run_id"]
    # every operation of the doc store's real spec is documented
    for path, item in spec["paths"].items():
        for method in item:
            assert f"### {method.upper()} {path}" in content, (method, path)
    for name in spec.get("components", {}).get("schemas", {}):
        if f"#/components/schemas/{name}" in str(spec["paths"]):
            assert f"### {name}" in content, name
    provenance = result["provenance"]
    assert via_orchestrator == provenance
    execution = provenance["workflow_execution"]
    assert execution["execution_id"] == result["run_id"]
    assert execution["workflow_name"] == "api_documentation"
    chain = provenance["services_chain"]
    assert {c["service"] for c in chain} >= {"discovery", "llm-gateway", "doc-store"}
    assert all(c["instance_id"] for c in chain)
    assert {c["node"] for c in chain} >= {"understand", "analyze", "gather_context", "outline"}
    assert provenance["content_sha256"] == document["sha256"]
    assert provenance["trace_id"] == result["trace_id"] == run["trace_id"]
    assert provenance["llm"]["provider"] == "offline"
    assert provenance["llm"]["tokens_in"] > 0
    assert {p["name"] for p in provenance["prompts_used"]} >= {"classify_query", "api_overview"}
    assert all(len(p["sha256"]) == 64 for p in provenance["prompts_used"])
    [spec_input] = provenance["data_lineage"]["inputs"]
    assert spec_input["uri"] == "eco://discovery/services/doc-store/openapi"
    assert provenance["user_context"]["intent"] == "api_documentation"
    assert provenance["quality_metrics"]["completeness"] == 1.0
    assert run["status"] == "completed"
    assert run["timings"]["calls_ms"] > 0


def test_ecosystem_report_as_csv(eco: Ecosystem) -> None:
    result = _execute(eco, "How healthy is the ecosystem?", fmt="csv")
    with eco.http(timeout=30) as client:
        content = client.get(result["download_url"]).text
    lines = content.splitlines()
    assert lines[0].startswith("service,status,instances,passing,errors,warnings")
    services = {line.split(",")[0] for line in lines[1:]}
    assert services >= {"discovery", "llm-gateway", "doc-store", "log-collector", "orchestrator"}
    called = {c["service"] for c in result["provenance"]["services_chain"]}
    assert {"discovery", "log-collector", "llm-gateway"} <= called


def test_incident_digest_as_pdf(eco: Ecosystem) -> None:
    result = _execute(eco, "What went wrong in the last hour?", fmt="pdf")
    with eco.http(timeout=30) as client:
        data = client.get(result["download_url"]).content
    assert data.startswith(b"%PDF-")
    assert result["provenance"]["workflow_execution"]["workflow_name"] == "incident_digest"
    assert result["provenance"]["user_context"]["params"]["window_s"] == 3600
    ops = {(c["service"], c["method"]) for c in result["provenance"]["services_chain"]}
    assert ("log-collector", "GET") in ops


def test_document_answer_cites_the_document(eco: Ecosystem) -> None:
    doc_store = eco.url("doc-store")
    text = (
        "# Client behaviour\n\nIdempotent calls are retried three times with exponential "
        "backoff and full jitter before the client gives up.\n\nThe breaker opens after "
        "five consecutive failures.\n"
    )
    with eco.http(timeout=30) as client:
        stored = client.post(
            doc_store + "/documents",
            json={"title": "Client behaviour", "format": "markdown", "content": text},
        ).json()
    result = _execute(eco, "What do our documents say about retries?")
    with eco.http(timeout=30) as client:
        answer = client.get(result["download_url"]).text
    assert "retried three times" in answer
    assert f"document `{stored['id']}` version 1" in answer
    inputs = {i["uri"] for i in result["provenance"]["data_lineage"]["inputs"]}
    assert f"eco://doc-store/documents/{stored['id']}?version=1" in inputs


def test_unsupported_query_needs_clarification(eco: Ecosystem) -> None:
    with eco.http(timeout=120) as client:
        response = client.post(
            eco.url("orchestrator") + "/execute-query",
            json={"query": "Tell me a joke about cats", "format": "markdown"},
        )
    assert response.status_code == 422
    problem = response.json()
    assert problem["title"] == "Query needs clarification"
    assert "api_documentation" in problem["workflows"]
    assert "doc-store" in problem["services"]


def test_review_interrupt_and_resume(eco: Ecosystem) -> None:
    base = eco.url("orchestrator")
    with eco.http(timeout=30) as client:
        accepted = client.post(
            base + "/queries",
            json={"query": "How healthy is the ecosystem?", "review": True},
        ).json()
        run = _wait_run(client, base, accepted["run_id"], {"waiting_review", "failed"})
        assert run["status"] == "waiting_review"
        assert run["current_node"] == "review_gate"
        assert "Ecosystem health report" in run["result"]["review"]["markdown"]
        assert _documents_of_run(client, eco.url("doc-store"), run["run_id"]) == []
        edited = "# Reviewed report\n\nAll good, says the reviewer.\n"
        resumed = client.post(
            f"{base}/runs/{run['run_id']}/resume", json={"approve": True, "edits": edited}
        )
        assert resumed.status_code == 202
        assert (
            client.post(f"{base}/runs/{run['run_id']}/resume", json={"approve": True}).status_code
            == 409
        )
        done = _wait_run(client, base, run["run_id"], {"completed", "failed", "cancelled"})
        assert done["status"] == "completed"
        content = client.get(done["result"]["download_url"]).text
        assert content == edited
        events = parse_sse(client.get(f"{base}/runs/{run['run_id']}/events").text)
        types = [e.event for e in events]
        assert "review.requested" in types
        assert "document.stored" in types
        assert types[-1] == "run.completed"

        # a rejected review stores nothing
        rejected = client.post(
            base + "/queries", json={"query": "How healthy is the ecosystem?", "review": True}
        ).json()
        _wait_run(client, base, rejected["run_id"], {"waiting_review"})
        client.post(f"{base}/runs/{rejected['run_id']}/resume", json={"approve": False})
        final = _wait_run(client, base, rejected["run_id"], {"cancelled", "completed", "failed"})
        assert final["status"] == "cancelled"
        assert _documents_of_run(client, eco.url("doc-store"), rejected["run_id"]) == []


def test_killed_orchestrator_resumes_the_run(eco: Ecosystem) -> None:
    eco.orchestrator()  # a second replica: either may execute the run
    base = eco.url("orchestrator")
    with eco.http(timeout=30) as client:
        run_id = client.post(
            base + "/queries",
            json={"query": "Create API documentation for the log-collector service"},
        ).json()["run_id"]
        # SIGKILL the replica executing it once the run has checkpointed its first nodes
        deadline = time.monotonic() + 60
        while True:
            run = client.get(f"{base}/runs/{run_id}", timeout=5).json()
            if run["current_node"] not in (None, "understand", "analyze"):
                break
            assert run["status"] in ("queued", "running"), run
            assert time.monotonic() < deadline
            time.sleep(0.01)
        port = int(run["executed_by"].split("-")[-2])
        victim = next(p for p in [*eco.procs.values(), *eco.extra] if p.port == port)
        orchestrators = [eco.procs["orchestrator"], *eco.extra]
        survivor = next(p for p in orchestrators if p.port != port)
        victim.kill()
        killed_at = client.get(f"{survivor.url}/runs/{run_id}").json()
        if victim is eco.procs.get("orchestrator"):
            eco.procs["orchestrator"] = eco.orchestrator(port=port)
            eco.extra.remove(eco.procs["orchestrator"])
        else:
            eco.extra.remove(victim)
            eco.orchestrator(port=port)
        done = _wait_run(client, eco.url("orchestrator"), run_id, {"completed", "failed"})
        assert done["status"] == "completed", done
        documents = _documents_of_run(client, eco.url("doc-store"), run_id)
        assert len(documents) == 1
        assert documents[0]["id"] == done["document_id"]
        # it was interrupted mid-run and executed again from its last checkpoint
        assert killed_at["status"] == "running"
        assert done["executions"] == 2
        events = parse_sse(client.get(f"{eco.url('orchestrator')}/runs/{run_id}/events").text)
        started = [e for e in events if e.event == "run.started"]
        assert [e.data["resumed"] for e in started] == [False, True]
        # nodes finished before the kill were not run again
        finished = [e.data["node"] for e in events if e.event == "node.finished"]
        assert finished.count("understand") == 1
        assert finished.count("analyze") == 1
    for proc in eco.extra:
        proc.terminate()
    eco.extra.clear()


def test_two_replicas_share_the_work(eco: Ecosystem) -> None:
    second = eco.orchestrator()
    bases = [eco.url("orchestrator"), second.url]
    with eco.http(timeout=30) as client:
        run_ids = [
            client.post(
                bases[i % 2] + "/queries",
                json={
                    "query": "How healthy is the ecosystem?",
                    "format": "json",
                    "user_id": "replicas",
                },
            ).json()["run_id"]
            for i in range(20)
        ]
        runs = [_wait_run(client, bases[0], r, {"completed", "failed"}, 180) for r in run_ids]
    assert [r["status"] for r in runs] == ["completed"] * 20
    assert all(r["executions"] == 1 for r in runs)
    replicas = {r["executed_by"].rsplit("-", 1)[0] for r in runs}
    assert len(replicas) == 2
    assert len({r["document_id"] for r in runs}) == 20
