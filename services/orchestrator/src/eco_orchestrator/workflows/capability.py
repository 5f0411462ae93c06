"""`capability`: a query matching an operation's `x-eco-intent` calls that operation."""

from __future__ import annotations

import json
from typing import Any

from langgraph.graph.state import CompiledStateGraph

from eco_orchestrator.settings import OrchestratorSettings
from eco_orchestrator.workflows._base import (
    RunContext,
    RunState,
    ServiceFailure,
    input_ref,
    linear_graph,
    sha256_json,
)
from eco_shared.tools import ToolNotFoundError


def _arguments(tool_params: dict[str, Any], state: RunState) -> dict[str, Any]:
    props = tool_params.get("properties", {})
    ids = [str(i) for i in state["params"].get("ids") or [] if i]
    args: dict[str, Any] = {}
    for name, schema in props.items():
        where = schema.get("x-in")
        if where == "path":
            if not ids:
                raise ValueError(f"the request needs a value for {name!r}")
            args[name] = ids.pop(0)
        elif where == "query" and name in ("q", "query", "text"):
            args[name] = state["query"]
        elif where == "body":
            body_props = schema.get("properties", {})
            body = {k: state["query"] for k in ("query", "text", "q") if k in body_props}
            args["body"] = body
    return args


async def invoke(state: RunState, ctx: RunContext) -> dict[str, Any]:
    """Call the operation the query's intent matched."""
    name = state["params"]["tool"]
    try:
        tool = await ctx.tools.get(name)
    except ToolNotFoundError as exc:
        raise ServiceFailure(str(exc)) from exc
    if not tool.allowed(ctx.scopes):
        raise PermissionError(
            f"the run's owner may not call {name} (it needs {', '.join(tool.scopes or ())})"
        )
    args = _arguments(tool.parameters, state)
    result = await ctx.call(tool.service, tool.method, tool.path, **args)
    return {
        "context": {
            "tool": name,
            "service": tool.service,
            "operation": f"{tool.method} {tool.path}",
            "intent": tool.capability.intent,
            "arguments": args,
            "result": result,
        },
        "inputs": input_ref(f"eco://{tool.service}{tool.path}", sha256_json(result)),
    }


async def compose(state: RunState, ctx: RunContext) -> dict[str, Any]:
    """The operation's answer as a document."""
    c = state["context"]
    title = f"{c['intent'] or c['tool']}"[:200]
    body = json.dumps(c["result"], indent=2, default=str)
    markdown = (
        f"# {title}\n\nAnswered by `{c['service']}` ({c['operation']}, tool "
        f"`{c['tool']}`).\n\n```json\n{body[:100_000]}\n```\n"
    )
    result = c["result"]
    rows = result if isinstance(result, list) and all(isinstance(r, dict) for r in result) else None
    if rows is None and isinstance(result, dict):
        rows = next(
            (
                v
                for v in result.values()
                if isinstance(v, list) and v and all(isinstance(r, dict) for r in v)
            ),
            None,
        )
    return {
        "title": title,
        "markdown": markdown,
        "data": {"result": result, **({"rows": rows} if rows else {})},
    }


def build(settings: OrchestratorSettings) -> CompiledStateGraph[Any, Any, Any, Any]:
    """The capability graph."""
    return linear_graph("capability", settings, [("invoke", invoke)], [("compose", compose)])
