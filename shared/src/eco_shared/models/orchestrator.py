"""Wire models of the orchestrator's workflows: their list and each one's LangGraph graph.

The orchestrator builds `GET /workflows` and `GET /workflows/{name}/graph` from these, and
`eco_shared.adapters.orchestrator` reads them back with them (and re-exports them).
"""

from __future__ import annotations

from pydantic import BaseModel

__all__ = ["GraphEdge", "GraphNode", "WorkflowGraph", "WorkflowInfo", "WorkflowList"]


class WorkflowInfo(BaseModel):
    """A workflow the orchestrator runs: its name and what it does, in one line."""

    name: str
    description: str


class WorkflowList(BaseModel):
    """The workflows: `run` (the whole run graph) and each workflow a query routes to."""

    items: list[WorkflowInfo]


class GraphNode(BaseModel):
    """A node of a workflow's graph (a subgraph's nodes are `<workflow>:<node>`)."""

    id: str
    label: str


class GraphEdge(BaseModel):
    """An edge of a workflow's graph; a conditional one is taken only when its router says."""

    source: str
    target: str
    conditional: bool
    label: str | None = None


class WorkflowGraph(BaseModel):
    """A workflow's compiled LangGraph graph (`get_graph(xray=True)`), with `__start__` and
    `__end__`."""

    name: str
    nodes: list[GraphNode]
    edges: list[GraphEdge]
