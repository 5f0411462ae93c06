"""The run graph: its layout's geometry, the SVG (well-formed, labelled, every node, the path
taken) and its text alternative, from the orchestrator's real graph; and a finished run's page."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET

import httpx
import pytest

from eco_console.api._render import environment
from eco_console.service.graph import END, START, GraphView, view
from eco_console.service.timeline import NodeStep
from eco_shared.models.orchestrator import WorkflowGraph

from .conftest import Console, FinishedRun

SVG = "{http://www.w3.org/2000/svg}"
# the nodes an api_documentation run runs, in order (its review passes: no revise)
API_DOCS = [
    "understand",
    "analyze",
    "select_template",
    "gather_context",
    "outline",
    "content",
    "review",
    "format",
    "render",
    "review_gate",
    "provenance",
    "store",
]


@pytest.fixture(scope="module")
def run_graph(console: Console) -> WorkflowGraph:
    """The orchestrator's own run graph, read from the real service."""
    got = httpx.get(
        console.eco.url("orchestrator") + "/workflows/run/graph",
        headers=console.eco.headers("orchestrator"),
        timeout=10,
    )
    assert got.status_code == 200, got.text
    return WorkflowGraph.model_validate(got.json())


def _steps(nodes: list[str], last: str = "done") -> list[NodeStep]:
    out = [NodeStep(node=n, event_id=f"{i}-0", status="done") for i, n in enumerate(nodes)]
    out[-1].status = last
    return out


def _completed(graph: WorkflowGraph) -> GraphView:
    return view(
        graph,
        run_id="r1",
        workflow="api_documentation",
        run_status="completed",
        steps=_steps(API_DOCS),
    )


def _svg(drawn: GraphView) -> tuple[str, ET.Element]:
    html = environment().get_template("_graph.html").render(graph=drawn, graph_error=None)
    match = re.search(r"<svg.*</svg>", html, re.S)
    assert match, html
    return html, ET.fromstring(match.group(0))


def test_the_layout_is_layered_apart_and_deterministic(run_graph: WorkflowGraph) -> None:
    drawn = _completed(run_graph)
    nodes = {n.id: n for n in drawn.nodes}
    # the run's workflow is expanded, every other workflow one node
    assert "api_documentation:analyze" in nodes
    assert {"ecosystem_report", "capability", "document_answer", "incident_digest"} <= set(nodes)
    assert not any(n.startswith("capability:") for n in nodes)
    for e in drawn.edges:
        if not e.back:
            assert nodes[e.target].layer > nodes[e.source].layer, e
            assert nodes[e.target].y > nodes[e.source].y, e
    assert nodes[START].layer == 0
    assert nodes[END].layer == max(n.layer for n in drawn.nodes)
    boxes = list(drawn.nodes)
    for i, a in enumerate(boxes):
        assert 0 <= a.x
        assert a.x + a.width <= drawn.width
        assert 0 <= a.y
        assert a.y + a.height <= drawn.height
        for b in boxes[i + 1 :]:
            apart = (
                a.x + a.width <= b.x
                or b.x + b.width <= a.x
                or a.y + a.height <= b.y
                or b.y + b.height <= a.y
            )
            assert apart, (a.id, b.id)
    assert _completed(run_graph) == drawn
    assert _svg(_completed(run_graph))[0] == _svg(drawn)[0]


def test_a_back_edge_is_left_out_of_the_layering() -> None:
    loop = WorkflowGraph.model_validate(
        {
            "name": "loop",
            "nodes": [{"id": i, "label": i} for i in (START, "a", "b", END)],
            "edges": [
                {"source": START, "target": "a", "conditional": False},
                {"source": "a", "target": "b", "conditional": False},
                {"source": "b", "target": "a", "conditional": True},
                {"source": "b", "target": END, "conditional": True},
            ],
        }
    )
    drawn = view(loop, run_id="r", workflow=None, run_status="completed", steps=_steps(["a", "b"]))
    layer = {n.id: n.layer for n in drawn.nodes}
    assert layer == {START: 0, "a": 1, "b": 2, END: 3}
    back = [e for e in drawn.edges if e.back]
    assert [(e.source, e.target) for e in back] == [("b", "a")]
    # b → a was not taken: a ran before b; b → end was
    taken = {(e.source, e.target) for e in drawn.edges if e.taken}
    assert taken == {(START, "a"), ("a", "b"), ("b", END)}


def test_the_svg_is_labelled_with_every_node_and_the_path_taken(
    run_graph: WorkflowGraph,
) -> None:
    drawn = _completed(run_graph)
    html, svg = _svg(drawn)
    assert svg.get("role") == "img"
    assert svg.get("aria-labelledby") == "graph-title graph-desc"
    assert svg.find(f"{SVG}title").text == "Graph of run r1 (api_documentation)"
    assert "the path taken: start → understand → analyze (api_documentation)" in (
        svg.find(f"{SVG}desc").text or ""
    )
    assert "<script" not in html
    assert "style=" not in html
    assert "http://" not in html.replace('xmlns="http://www.w3.org/2000/svg"', "")
    groups = {g.get("data-node"): g for g in svg.iter(f"{SVG}g") if g.get("data-node")}
    assert set(groups) == {n.id for n in drawn.nodes}
    for g in groups.values():
        assert g.get("role") == "group"
        assert g.get("aria-label") == g.find(f"{SVG}title").text
    states = {i: g.get("data-state") for i, g in groups.items()}
    assert states["api_documentation:analyze"] == "done"
    assert states["api_documentation:revise"] == "not_reached"
    assert states["capability"] == "not_reached"
    assert states[START] == states[END] == "done"
    assert "✔" in "".join(groups["render"].itertext())
    assert "○" in "".join(groups["capability"].itertext())
    taken = {
        p.get("data-edge")
        for p in svg.iter(f"{SVG}path")
        if p.get("data-edge") and "taken" in (p.get("class") or "")
    }
    assert "understand→api_documentation:analyze" in taken
    assert "api_documentation:review→api_documentation:format" in taken
    assert "store→__end__" in taken
    # the branches not taken: another workflow, the revision, the early ends
    for missed in (
        "understand→capability",
        "api_documentation:review→api_documentation:revise",
        "understand→__end__",
        "review_gate→__end__",
    ):
        assert missed not in taken, missed
    assert len(taken) == len(API_DOCS) + 2  # start and end; the parallel branch's two joins


def test_the_text_alternative_lists_the_nodes_in_run_order(run_graph: WorkflowGraph) -> None:
    failed = view(
        run_graph,
        run_id="r2",
        workflow="api_documentation",
        run_status="failed",
        steps=_steps(API_DOCS[:5], last="failed"),
    )
    html, svg = _svg(failed)
    ran = re.findall(r'<li data-node="([^"]+)">([^<]+):', html)
    assert [n for n, _ in ran] == [
        START,
        "understand",
        *(f"api_documentation:{n}" for n in API_DOCS[1:5]),
    ]
    assert ran[1][1] == "understand"
    assert "failed</span>" in html.split('data-node="api_documentation:outline"')[-1]
    groups = {g.get("data-node"): g for g in svg.iter(f"{SVG}g") if g.get("data-node")}
    assert groups["api_documentation:outline"].get("data-state") == "failed"
    assert groups[END].get("data-state") == "not_reached"
    assert "Not reached: " in html
    assert "store" in html.split("Not reached: ")[1]


def test_a_finished_runs_page_shows_its_graph(console: Console, finished_run: FinishedRun) -> None:
    with console.signed_in() as client:
        page = client.get(f"/runs/{finished_run.run_id}")
    assert page.status_code == 200
    html = page.text
    assert 'id="run-graph"' in html
    svg = ET.fromstring(re.search(r"<svg.*</svg>", html, re.S).group(0))
    states = {
        g.get("data-node"): g.get("data-state") for g in svg.iter(f"{SVG}g") if g.get("data-node")
    }
    for node in ("understand", "api_documentation:analyze", "render", "store", START, END):
        assert states[node] == "done", (node, states)
    assert states["capability"] == "not_reached"
    ran = re.findall(r'<li data-node="([^"]+)">', html)
    assert ran[0] == START
    assert ran[-1] == END
    assert ran.index("understand") < ran.index("api_documentation:analyze") < ran.index("store")


def test_node_labels_are_wrapped_not_cut(run_graph: WorkflowGraph) -> None:
    drawn = _completed(run_graph)
    _, svg = _svg(drawn)
    groups = {g.get("data-node"): g for g in svg.iter(f"{SVG}g") if g.get("data-node")}
    box = groups["api_documentation:select_template"]
    lines = [t.text for t in box.iter(f"{SVG}tspan")]
    # the name and its workflow, each on its own line, neither cut short
    assert lines == ["✔ select_template", "(api_documentation)"]
    for node in drawn.nodes:
        drawn_text = "".join(node.lines)
        if "…" not in drawn_text:
            assert drawn_text.replace("(", " (") == node.label
    ys = [float(t.get("y") or 0) for t in box.iter(f"{SVG}tspan")]
    placed = next(n for n in drawn.nodes if n.id == "api_documentation:select_template")
    assert placed.y < ys[0] < ys[1] < placed.y + placed.height
    # a node without a workflow keeps one line
    assert [t.text for t in groups["render"].iter(f"{SVG}tspan")] == ["✔ render"]
