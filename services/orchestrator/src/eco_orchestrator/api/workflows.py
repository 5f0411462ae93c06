"""`/workflows`: the workflows a run can take, and each one's LangGraph graph."""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Annotated, Any

from fastapi import APIRouter, Path
from langgraph.graph.state import CompiledStateGraph

from eco_orchestrator.deps import SettingsDep
from eco_orchestrator.settings import OrchestratorSettings
from eco_orchestrator.workflows import WORKFLOW_BUILDERS, build
from eco_shared.auth import Principal, require
from eco_shared.models.orchestrator import (
    GraphEdge,
    GraphNode,
    WorkflowGraph,
    WorkflowInfo,
    WorkflowList,
)
from eco_shared.problems import ProblemError, problem_responses

router = APIRouter(prefix="/workflows", tags=["workflows"])
Reader = Annotated[Principal, require("runs:read")]

Builder = Callable[[OrchestratorSettings], CompiledStateGraph[Any, Any, Any, Any]]
# `run` is the whole run graph (every workflow a subgraph of it); then each workflow alone
BUILDERS: dict[str, Builder] = {"run": build, **WORKFLOW_BUILDERS}
# a graph's shape does not depend on the settings (only its retries and timeouts do)
_graphs: dict[str, WorkflowGraph] = {}


def describe(builder: Builder) -> str:
    """The first paragraph of the docstring of the module that defines the workflow."""
    doc = inspect.getdoc(inspect.getmodule(builder)) or ""
    return " ".join(doc.split("\n\n")[0].split())


def graph_of(name: str, settings: OrchestratorSettings) -> WorkflowGraph:
    """The workflow's compiled graph with its subgraphs expanded (`get_graph(xray=True)`)."""
    if name not in _graphs:
        drawable = BUILDERS[name](settings).get_graph(xray=True)
        _graphs[name] = WorkflowGraph(
            name=name,
            nodes=[GraphNode(id=n.id, label=n.name) for n in drawable.nodes.values()],
            edges=[
                GraphEdge(
                    source=e.source,
                    target=e.target,
                    conditional=e.conditional,
                    label=e.data if isinstance(e.data, str) else None,
                )
                for e in drawable.edges
            ],
        )
    return _graphs[name]


@router.get("", summary="The workflows, each with a one-line description")
async def list_workflows(caller: Reader) -> WorkflowList:
    return WorkflowList(
        items=[WorkflowInfo(name=n, description=describe(b)) for n, b in BUILDERS.items()]
    )


@router.get(
    "/{name}/graph",
    summary="A workflow's LangGraph graph: nodes and edges, subgraphs expanded",
    responses=problem_responses((404, "No workflow with that name")),
)
async def workflow_graph(
    name: Annotated[str, Path(max_length=100)], settings: SettingsDep, caller: Reader
) -> WorkflowGraph:
    if name not in BUILDERS:
        raise ProblemError(
            404, f"No workflow named {name!r}; GET /workflows lists them.", title="No such workflow"
        )
    return graph_of(name, settings)
