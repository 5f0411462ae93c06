"""`/workflows`: every workflow's LangGraph graph, as the console draws it. A real orchestrator
process; the expected nodes are read from the workflows' own `StateGraph`s."""

from __future__ import annotations

from collections import deque
from typing import Any

import httpx
import pytest

from eco_orchestrator.settings import OrchestratorSettings
from eco_orchestrator.workflows import WORKFLOW_BUILDERS, build
from eco_shared.adapters import AdapterError, check_adapter_against_openapi
from eco_shared.adapters.orchestrator import OrchestratorAdapter
from eco_shared.http import ServiceClient
from eco_shared.testing import ServiceProcess
from eco_shared.testing.auth import MintedTokens, TestAuth

READER = TestAuth("orchestrator", ["runs:read"], subject="user:reader")
WRITER_ONLY = TestAuth("orchestrator", ["runs:create", "runs:write"], subject="user:writer")
ENDS = {"__start__", "__end__"}


def _declared(name: str) -> set[str]:
    """The nodes the workflow's `StateGraph` declares; the run graph's workflows expanded."""
    settings = OrchestratorSettings()
    if name != "run":
        return set(WORKFLOW_BUILDERS[name](settings).builder.nodes) | ENDS
    nodes = set(build(settings).builder.nodes) - set(WORKFLOW_BUILDERS)
    for workflow, builder in WORKFLOW_BUILDERS.items():
        nodes |= {f"{workflow}:{n}" for n in builder(settings).builder.nodes}
    return nodes | ENDS


def _reachable(edges: list[dict[str, Any]], start: str, *, reverse: bool = False) -> set[str]:
    out: dict[str, set[str]] = {}
    for e in edges:
        a, b = (e["target"], e["source"]) if reverse else (e["source"], e["target"])
        out.setdefault(a, set()).add(b)
    seen, queue = {start}, deque([start])
    while queue:
        for nxt in out.get(queue.popleft(), ()):
            if nxt not in seen:
                seen.add(nxt)
                queue.append(nxt)
    return seen


def test_every_workflow_has_its_graph_from_start_to_end(orchestrator: ServiceProcess) -> None:
    with httpx.Client(base_url=orchestrator.url, timeout=30, auth=READER) as client:
        listing = client.get("/workflows")
        assert listing.status_code == 200, listing.text
        items = listing.json()["items"]
        assert [w["name"] for w in items] == ["run", *WORKFLOW_BUILDERS]
        for w in items:
            assert w["description"]
            assert "\n" not in w["description"]
        assert items[0]["description"].startswith("The run graph")

        for name in ["run", *WORKFLOW_BUILDERS]:
            graph = client.get(f"/workflows/{name}/graph").json()
            assert graph["name"] == name
            ids = [n["id"] for n in graph["nodes"]]
            assert len(ids) == len(set(ids))
            assert set(ids) == _declared(name), name
            assert {(e["source"], e["target"]) for e in graph["edges"]} <= {
                (a, b) for a in ids for b in ids
            }
            # every node lies on a path from the start to the end
            assert _reachable(graph["edges"], "__start__") == set(ids), name
            assert _reachable(graph["edges"], "__end__", reverse=True) == set(ids), name
            labels = {n["id"]: n["label"] for n in graph["nodes"]}
            assert all(labels[i] == i.rsplit(":", 1)[-1] for i in ids)

        run = client.get("/workflows/run/graph").json()
        edges = {(e["source"], e["target"]): e for e in run["edges"]}
        # the router after understanding: a conditional edge to each workflow, and to the end
        routed = edges[("understand", "api_documentation:analyze")]
        assert routed["conditional"] is True
        assert edges[("understand", "__end__")]["conditional"] is True
        assert edges[("understand", "__end__")]["label"] == "end"
        assert edges[("render", "review_gate")]["conditional"] is False


def test_an_unknown_workflow_is_a_404_problem(orchestrator: ServiceProcess) -> None:
    with httpx.Client(base_url=orchestrator.url, timeout=30, auth=READER) as client:
        missing = client.get("/workflows/no_such_flow/graph")
    assert missing.status_code == 404
    assert missing.headers["content-type"].startswith("application/problem+json")
    assert "no_such_flow" in missing.json()["detail"]


@pytest.mark.parametrize("path", ["/workflows", "/workflows/run/graph"])
def test_the_graph_routes_need_runs_read(orchestrator: ServiceProcess, path: str) -> None:
    anonymous = httpx.get(orchestrator.url + path, timeout=30)
    assert anonymous.status_code == 401
    assert anonymous.headers["www-authenticate"].startswith("Bearer")
    with httpx.Client(base_url=orchestrator.url, timeout=30, auth=WRITER_ONLY) as client:
        refused = client.get(path)
    assert refused.status_code == 403
    assert "runs:read" in refused.text


async def test_the_adapter_reads_the_graphs(orchestrator: ServiceProcess) -> None:
    async with httpx.AsyncClient() as raw:  # the OpenAPI document is public
        spec = (await raw.get(orchestrator.url + "/openapi.json")).json()
    assert check_adapter_against_openapi(OrchestratorAdapter, spec) == []
    route = spec["paths"]["/workflows/{name}/graph"]["get"]
    assert route["x-eco-scopes"] == ["runs:read"]
    assert "404" in route["responses"]
    async with ServiceClient(service_name="test", tokens=MintedTokens(["runs:read"])) as http:
        adapter = OrchestratorAdapter(http, base_url=orchestrator.url)
        names = [w.name for w in (await adapter.list_workflows()).items]
        assert names == ["run", *WORKFLOW_BUILDERS]
        graph = await adapter.workflow_graph("capability")
        assert [n.id for n in graph.nodes] == ["__start__", "invoke", "compose", "__end__"]
        assert [(e.source, e.target) for e in graph.edges] == [
            ("__start__", "invoke"),
            ("invoke", "compose"),
            ("compose", "__end__"),
        ]
        with pytest.raises(AdapterError) as err:
            await adapter.workflow_graph("nope")
        assert err.value.status == 404
