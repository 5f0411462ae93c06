"""The run graph: understand → workflow → render → review gate → provenance → store."""

from __future__ import annotations

from collections import Counter
from typing import Any

from langgraph.graph import END, START, StateGraph
from langgraph.graph.state import CompiledStateGraph
from langgraph.types import interrupt

from eco_orchestrator import formats
from eco_orchestrator.settings import OrchestratorSettings
from eco_orchestrator.workflows import (
    api_documentation,
    capability,
    document_answer,
    ecosystem_report,
    incident_digest,
)
from eco_orchestrator.workflows._base import (
    RunContext,
    RunState,
    node,
    now_iso,
    service_retry,
)
from eco_orchestrator.workflows._instances import InstanceIds, target
from eco_orchestrator.workflows.understand import understand
from eco_shared.auth import service_subject
from eco_shared.tools import scopes_allow

WORKFLOW_BUILDERS = {
    "api_documentation": api_documentation.build,
    "ecosystem_report": ecosystem_report.build,
    "incident_digest": incident_digest.build,
    "document_answer": document_answer.build,
    "capability": capability.build,
}


def route(state: RunState) -> str:
    """Which workflow the query was classified as (or the end, for a clarification)."""
    workflow = state.get("workflow")
    return workflow if workflow in WORKFLOW_BUILDERS else "end"


def _render(state: RunState, markdown: str) -> dict[str, Any]:
    out = formats.render(state["format"], state["title"], markdown, state.get("data"))
    return {
        "format": out.format,
        "content": out.content,
        "content_encoding": out.content_encoding,
        "sha256": out.sha256,
        "size": out.size,
    }


async def render(state: RunState, ctx: RunContext) -> dict[str, Any]:
    """The result in the requested format."""
    return {"rendered": _render(state, state["markdown"])}


async def review_gate(state: RunState, ctx: RunContext) -> dict[str, Any]:
    """With `review`, pause (a LangGraph interrupt) until a reviewer approves or rejects."""
    if not state.get("review"):
        return {"review_decision": {"approve": True, "reviewed": False}}
    await ctx.emit("review.requested", title=state["title"], quality=state.get("quality"))
    decision = interrupt(
        {
            "title": state["title"],
            "markdown": state["markdown"][:200_000],
            "quality": state.get("quality"),
            "format": state["format"],
        }
    )
    decision = dict(decision or {})
    update: dict[str, Any] = {
        "review_decision": {**decision, "reviewed": True, "reviewed_at": now_iso()}
    }
    edits = decision.get("edits")
    if decision.get("approve") and isinstance(edits, str) and edits.strip():
        update["markdown"] = edits
        update["rendered"] = _render(state, edits)
    return update


def after_review(state: RunState) -> str:
    """Store when approved, end otherwise."""
    return "provenance" if (state.get("review_decision") or {}).get("approve") else "end"


async def provenance(state: RunState, ctx: RunContext) -> dict[str, Any]:
    """Assemble the provenance record from what the run recorded (calls, hashes, prompts)."""
    calls = sorted((state.get("calls") or {}).values(), key=lambda c: c["started_at"])
    shared = ctx.scopes is None or scopes_allow(("discovery:read",), ctx.scopes)
    index = ctx.instances or InstanceIds(ctx.directory)
    instance_of = await index.of(calls, shared=shared)
    chain = [
        {
            "service": c["service"],
            "instance_id": instance_of.get(target(c["url"])),
            "operation": c["operation"],
            "method": c["method"],
            "node": c.get("node"),
            "started_at": c["started_at"],
            "duration_ms": c["duration_ms"],
            "status": c["status"] if c["status"] is not None else c["outcome"],
            "attempts": c["attempts"],
        }
        for c in calls
    ]
    steps = sorted((state.get("steps") or {}).values(), key=lambda s: s["started_at"])
    llm_calls = list((state.get("llm") or {}).values())
    models = Counter((c.get("provider"), c.get("model")) for c in llm_calls)
    provider, model = models.most_common(1)[0][0] if models else (None, None)
    rendered = state["rendered"]
    quality = state.get("quality") or {}
    intent = state.get("intent") or {}
    ext = formats.EXTENSIONS[rendered["format"]]
    record = {
        "workflow_execution": {
            "execution_id": state["run_id"],
            "workflow_name": state.get("workflow"),
            "started_at": state.get("started_at"),
            "completed_at": now_iso(),
            "status": "completed",
        },
        "services_chain": chain,
        "user_context": {
            # a claim of the request body: the owner is `principal` (the doc store says so too)
            "user_id": state.get("user_id"),
            "claimed_user_id": state.get("user_id"),
            "query": state["query"],
            "intent": intent.get("label"),
            "entities": state.get("entities") or [],
            "params": state.get("params") or {},
        },
        "prompts_used": sorted((state.get("prompts") or {}).values(), key=lambda p: p["name"]),
        "data_lineage": {
            "inputs": sorted((state.get("inputs") or {}).values(), key=lambda i: i["uri"]),
            "steps": [
                {
                    "node": s["node"],
                    "started_at": s["started_at"],
                    "duration_ms": s["duration_ms"],
                    "calls": s["calls"],
                }
                for s in steps
            ],
            "outputs": [
                {
                    "uri": f"eco://orchestrator/runs/{state['run_id']}/result.{ext}",
                    "sha256": rendered["sha256"],
                }
            ],
        },
        "quality_metrics": {
            "confidence": quality.get("confidence", intent.get("confidence")),
            "completeness": quality.get("completeness"),
            "accuracy": quality.get("accuracy"),
            "review_score": quality.get("score"),
        },
        "content_sha256": rendered["sha256"],
        "trace_id": state.get("trace_id"),
        "llm": {
            "provider": provider,
            "model": model,
            "tokens_in": sum(int(c.get("tokens_in") or 0) for c in llm_calls),
            "tokens_out": sum(int(c.get("tokens_out") or 0) for c in llm_calls),
            "calls": len(llm_calls),
        },
        "review": state.get("review_decision"),
        # the owner from the verified token; the doc store records who actually called it
        "principal": ctx.owner,
        "acting_chain": [ctx.owner, service_subject(ctx.settings.service_name)]
        if ctx.owner
        else None,
    }
    return {"provenance": record}


async def store(state: RunState, ctx: RunContext) -> dict[str, Any]:
    """Store the document with its provenance; the run id is the idempotency key."""
    rendered = state["rendered"]
    body = {
        "title": state["title"][:200],
        "format": rendered["format"],
        "content": rendered["content"],
        "content_encoding": rendered["content_encoding"],
        "metadata": {
            "run_id": state["run_id"],
            "workflow": state.get("workflow"),
            "query": state["query"],
            "user_id": state.get("user_id"),
            "owner": ctx.owner,
        },
        "provenance": state["provenance"],
    }
    document = await ctx.call(
        "doc-store", "POST", "/documents", body=body, headers={"Idempotency-Key": state["run_id"]}
    )
    download_url = document.get("download_url")
    if isinstance(download_url, str):
        if download_url.startswith("/"):
            # the doc store answers with a path; callers need a URL they can fetch
            download_url = await ctx.directory.resolve("doc-store") + download_url
        document["download_url"] = formats.download_url(download_url, state["format"])
    await ctx.emit(
        "document.stored",
        document_id=document.get("id"),
        version=document.get("version"),
        sha256=document.get("sha256"),
    )
    return {
        "document": {
            k: document.get(k)
            for k in (
                "id",
                "version",
                "sha256",
                "format",
                "title",
                "download_url",
                "provenance_url",
                "size_bytes",
            )
        }
    }


def build(
    settings: OrchestratorSettings, checkpointer: Any = None
) -> CompiledStateGraph[Any, Any, Any, Any]:
    """The whole run graph, compiled with the durable checkpointer."""
    retry, timeout = service_retry(settings), settings.node_timeout_s
    g: StateGraph[Any, Any, Any, Any] = StateGraph(RunState, context_schema=RunContext)
    g.add_node("understand", node("understand", understand), retry_policy=retry, timeout=timeout)
    for name, builder in WORKFLOW_BUILDERS.items():
        g.add_node(name, builder(settings))
    g.add_node("render", node("render", render))
    g.add_node("review_gate", node("review_gate", review_gate))
    g.add_node("provenance", node("provenance", provenance), timeout=timeout)
    g.add_node("store", node("store", store), retry_policy=retry, timeout=timeout)
    g.add_edge(START, "understand")
    g.add_conditional_edges("understand", route, {**{n: n for n in WORKFLOW_BUILDERS}, "end": END})
    for name in WORKFLOW_BUILDERS:
        g.add_edge(name, "render")
    g.add_edge("render", "review_gate")
    g.add_conditional_edges("review_gate", after_review, {"provenance": "provenance", "end": END})
    g.add_edge("provenance", "store")
    g.add_edge("store", END)
    return g.compile(checkpointer=checkpointer, name="run")
