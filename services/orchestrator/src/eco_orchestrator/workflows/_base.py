"""What every workflow node shares: the run state, the run context and the node wrapper."""

from __future__ import annotations

import asyncio
import hashlib
import json
import time
import uuid
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Annotated, Any, TypedDict

import structlog
from langgraph.errors import GraphBubbleUp
from langgraph.graph import END, START, StateGraph
from langgraph.graph.state import CompiledStateGraph
from langgraph.runtime import Runtime
from langgraph.types import RetryPolicy

from eco_orchestrator.events import RunEventLog
from eco_orchestrator.settings import OrchestratorSettings
from eco_orchestrator.workflows._instances import InstanceIds
from eco_shared.adapters._base import AdapterError
from eco_shared.auth import TokenError
from eco_shared.directory import ServiceDirectory, ServiceNotFoundError
from eco_shared.http import CallRecord, ServiceCallError, record_calls
from eco_shared.prompts.client import PromptClient
from eco_shared.tools import Tool, ToolNotFoundError, ToolRegistry

log = structlog.get_logger(__name__)


def merge_records(
    left: dict[str, dict[str, Any]] | None, right: dict[str, dict[str, Any]] | None
) -> dict[str, dict[str, Any]]:
    """Reducer of the record maps: union by key."""
    return {**(left or {}), **(right or {})}


def new_key() -> str:
    """A unique record key."""
    return uuid.uuid4().hex


def input_ref(uri: str, sha256: str | None) -> dict[str, dict[str, Any]]:
    """A lineage input as a state update value."""
    return {uri: {"uri": uri, "sha256": sha256}}


class RunState(TypedDict, total=False):
    """Everything a run knows; each key written by the nodes named in its workflow."""

    run_id: str
    query: str
    format: str
    format_explicit: bool
    user_id: str | None
    review: bool
    trace_id: str | None
    started_at: str
    workflow: str
    intent: dict[str, Any]
    entities: list[dict[str, Any]]
    params: dict[str, Any]
    clarification: dict[str, Any]
    # records keyed by a unique id and merged (never appended), so they survive checkpoints
    # whole and a subgraph handing its full state back to the run does not duplicate them
    calls: Annotated[dict[str, dict[str, Any]], merge_records]
    steps: Annotated[dict[str, dict[str, Any]], merge_records]
    prompts: Annotated[dict[str, dict[str, Any]], merge_records]
    # name -> the prompt's bytes as first resolved: a resumed run renders the same ones
    pinned_prompts: Annotated[dict[str, dict[str, Any]], merge_records]
    inputs: Annotated[dict[str, dict[str, Any]], merge_records]
    llm: Annotated[dict[str, dict[str, Any]], merge_records]
    # workflow work
    spec: dict[str, Any]
    service_info: dict[str, Any]
    template: dict[str, Any]
    context: dict[str, Any]
    outline: list[dict[str, Any]]
    sections: dict[str, str]
    overview: str
    examples: dict[str, Any]
    quality: dict[str, Any]
    revisions: int
    # result
    title: str
    markdown: str
    data: dict[str, Any]
    rendered: dict[str, Any]
    review_decision: dict[str, Any]
    document: dict[str, Any]
    provenance: dict[str, Any]


class WorkflowOutput(TypedDict, total=False):
    """What a workflow hands back to the run: its result and records, not its working state
    (an API's spec, sections, examples), which would be copied into every later checkpoint."""

    calls: Annotated[dict[str, dict[str, Any]], merge_records]
    steps: Annotated[dict[str, dict[str, Any]], merge_records]
    prompts: Annotated[dict[str, dict[str, Any]], merge_records]
    # name -> the prompt's bytes as first resolved: a resumed run renders the same ones
    pinned_prompts: Annotated[dict[str, dict[str, Any]], merge_records]
    inputs: Annotated[dict[str, dict[str, Any]], merge_records]
    llm: Annotated[dict[str, dict[str, Any]], merge_records]
    quality: dict[str, Any]
    title: str
    markdown: str
    data: dict[str, Any]


def workflow_graph() -> StateGraph[Any, Any, Any, Any]:
    """An empty workflow graph: the run's state in, `WorkflowOutput` out."""
    return StateGraph(RunState, context_schema=RunContext, output_schema=WorkflowOutput)


class RunCancelled(Exception):
    """The run was cancelled; raised at a node boundary."""


class ServiceFailure(Exception):
    """A service the run needs failed or is down (named in the message)."""


class GrantRefused(Exception):
    """The issuer no longer acts for the run's owner (a revoked key, an expired grant):
    no retry can fix it, so the run fails at once, saying why."""


def grant_refused(exc: TokenError) -> GrantRefused | None:
    """A `GrantRefused` for an issuer's refusal (4xx); None when the issuer was away."""
    if exc.status is None or exc.status >= 500:
        return None
    return GrantRefused(
        f"the issuer refused to act for the run's owner any longer ({exc.error or exc.status}):"
        f" {exc}"
    )


@dataclass
class RunContext:
    """Per-run resources handed to nodes through LangGraph's runtime context."""

    run_id: str
    settings: OrchestratorSettings
    tools: ToolRegistry
    directory: ServiceDirectory
    events: RunEventLog
    is_cancelled: Callable[[], Awaitable[bool]]
    on_node: Callable[[str], Awaitable[None]]
    # whom the run is for, and the scopes it may use (None: not restricted, auth off)
    owner: str | None = None
    scopes: frozenset[str] | None = None
    # the replica's instance ids, shared by its runs (None: looked up for this run alone)
    instances: InstanceIds | None = None
    prompts: PromptClient | None = None
    timings: dict[str, float] = field(default_factory=lambda: {"nodes_ms": 0.0, "calls_ms": 0.0})

    async def emit(self, type: str, **data: Any) -> None:
        """Append an event to this run's event log."""
        await self.events.append(self.run_id, type, **data)

    async def emit_many(self, events: Sequence[tuple[str, Mapping[str, Any]]]) -> None:
        """Append events to this run's event log in one round trip."""
        await self.events.append_many(self.run_id, events)

    async def tool(self, service: str, method: str, path: str) -> Tool:
        """The tool for a contract route of `service`, with a clear error when it is missing."""
        try:
            return await self.tools.find(service, method, path)
        except ToolNotFoundError as exc:
            raise ServiceFailure(str(exc)) from exc
        except TokenError as exc:
            raise grant_refused(exc) or ServiceFailure(f"the issuer is unavailable: {exc}") from exc

    async def intent_tools(self) -> list[Tool]:
        """The tools with an `x-eco-intent` that the run's owner may call."""
        try:
            return await self.tools.with_intent(self.scopes)
        except TokenError as exc:
            raise grant_refused(exc) or ServiceFailure(f"the issuer is unavailable: {exc}") from exc

    async def call(
        self,
        service: str,
        method: str,
        path: str,
        /,
        *,
        headers: dict[str, str] | None = None,
        **arguments: Any,
    ) -> Any:
        """Call a service operation through its generated tool; errors name the service."""
        try:
            return await self.tools.call_route(service, method, path, headers=headers, **arguments)
        except ToolNotFoundError as exc:
            raise ServiceFailure(str(exc)) from exc
        except AdapterError as exc:
            if exc.status >= 500 or exc.status == 429:
                raise ServiceFailure(f"{service} failed: {exc}") from exc
            raise
        except TokenError as exc:
            refused = grant_refused(exc)
            if refused is not None:
                raise refused from exc
            raise ServiceFailure(f"{service} is unavailable: {exc}") from exc
        except (ServiceCallError, ServiceNotFoundError) as exc:
            raise ServiceFailure(f"{service} is unavailable: {exc}") from exc


def now_iso() -> str:
    """UTC now, RFC 3339."""
    return datetime.now(UTC).isoformat()


def sha256_json(value: Any) -> str:
    """sha256 of a canonical JSON encoding."""
    encoded = json.dumps(value, sort_keys=True, separators=(",", ":"), default=str).encode()
    return hashlib.sha256(encoded).hexdigest()


def _call_dict(record: CallRecord) -> dict[str, Any]:
    return {
        "service": record.service,
        "operation": record.operation,
        "method": record.method,
        "url": record.url,
        "target": record.target,
        "started_at": record.started_at.isoformat(),
        "duration_ms": round(record.duration_ms, 3),
        "status": record.status_code,
        "outcome": record.outcome,
        "attempts": record.attempts,
        "error": record.error,
    }


def _retry_on(exc: Exception) -> bool:
    # retry what a second try can fix: a service down or failing, not a bad request or a bug,
    # nor an issuer that will not act for the run's owner any more
    if isinstance(exc, TokenError) and grant_refused(exc) is not None:
        return False
    return isinstance(exc, ServiceFailure | ServiceCallError | TimeoutError | ConnectionError)


def service_retry(settings: OrchestratorSettings) -> RetryPolicy:
    """The retry policy of nodes that call services."""
    return RetryPolicy(
        initial_interval=0.2,
        backoff_factor=2.0,
        max_interval=5.0,
        max_attempts=settings.node_max_attempts,
        retry_on=_retry_on,
    )


NodeFn = Callable[[RunState, RunContext], Awaitable[dict[str, Any] | None]]


def node(name: str, fn: NodeFn) -> Callable[..., Awaitable[dict[str, Any]]]:
    """Wrap a node: cancellation check, events, recorded calls and timings."""

    async def run_node(state: RunState, runtime: Runtime[RunContext]) -> dict[str, Any]:
        ctx = runtime.context
        if await ctx.is_cancelled():
            raise RunCancelled(ctx.run_id)
        await ctx.on_node(name)
        await ctx.emit("node.started", node=name)
        started_at = now_iso()
        t0 = time.perf_counter()
        with record_calls() as calls:
            try:
                update = await fn(state, ctx)
            except (asyncio.CancelledError, GraphBubbleUp):
                raise
            except Exception as exc:
                failed = {"node": name, "error": f"{type(exc).__name__}: {exc}"}
                await ctx.emit_many([("node.failed", failed), *_call_events(name, calls)])
                raise
        duration_ms = (time.perf_counter() - t0) * 1000
        calls_ms = sum(c.duration_ms for c in calls)
        ctx.timings["nodes_ms"] += duration_ms
        ctx.timings["calls_ms"] += calls_ms
        finished = {"node": name, "duration_ms": round(duration_ms, 3)}
        await ctx.emit_many([*_call_events(name, calls), ("node.finished", finished)])
        result = dict(update or {})
        result["calls"] = merge_records(
            result.get("calls"), {new_key(): _call_dict(c) | {"node": name} for c in calls}
        )
        result["steps"] = {
            new_key(): {
                "node": name,
                "started_at": started_at,
                "duration_ms": round(duration_ms, 3),
                "calls_ms": round(calls_ms, 3),
                "calls": len(calls),
            }
        }
        return result

    run_node.__name__ = name
    return run_node


def linear_graph(
    name: str,
    settings: OrchestratorSettings,
    calls: Sequence[tuple[str, NodeFn]],
    local: Sequence[tuple[str, NodeFn]] = (),
) -> CompiledStateGraph[Any, Any, Any, Any]:
    """A workflow whose nodes run one after another: first those that call services
    (`calls`, retried and timed out), then those that only compute (`local`)."""
    retry, timeout = service_retry(settings), settings.node_timeout_s
    g = workflow_graph()
    for step, fn in calls:
        g.add_node(step, node(step, fn), retry_policy=retry, timeout=timeout)
    for step, fn in local:
        g.add_node(step, node(step, fn))
    previous = START
    for step, _ in [*calls, *local]:
        g.add_edge(previous, step)
        previous = step
    g.add_edge(previous, END)
    return g.compile(name=name)


def _call_events(node_name: str, calls: Sequence[CallRecord]) -> list[tuple[str, dict[str, Any]]]:
    return [
        (
            "tool.call",
            {
                "node": node_name,
                "service": record.service,
                "operation": record.operation,
                "status": record.status_code,
                "outcome": record.outcome,
                "duration_ms": round(record.duration_ms, 3),
            },
        )
        for record in calls
    ]


def merge(*updates: dict[str, Any]) -> dict[str, Any]:
    """Combine node updates, merging the record maps."""
    out: dict[str, Any] = {}
    for update in updates:
        for key, value in update.items():
            if key in _RECORD_KEYS:
                out[key] = merge_records(out.get(key), value)
            else:
                out[key] = value
    return out


_RECORD_KEYS = frozenset({"calls", "steps", "prompts", "pinned_prompts", "inputs", "llm"})
