"""The first node: classify the query into a workflow and extract its parameters."""

from __future__ import annotations

import asyncio
import re
from typing import Any

from eco_orchestrator.formats import FORMATS
from eco_orchestrator.workflows._base import RunContext, RunState, merge, now_iso
from eco_orchestrator.workflows._prompts import llm_task, pinned
from eco_shared.tools import scopes_allow

WORKFLOWS: dict[str, str] = {
    "api_documentation": "API documentation of a registered service "
    '("Create API documentation for the doc-store service")',
    "ecosystem_report": 'a health report of the ecosystem ("How healthy is the ecosystem?")',
    "incident_digest": 'errors and warnings of a time window ("What went wrong in the last hour?")',
    "document_answer": 'an answer from the stored documents, with citations ("What do our '
    'documents say about retries?")',
    "capability": "any operation a registered service declares with an `x-eco-intent`",
}
# the scopes each workflow's calls need besides the LLM's and the doc store's (which every
# run needs): a run is offered only the workflows its owner may run
WORKFLOW_SCOPES: dict[str, tuple[str, ...]] = {
    "api_documentation": ("discovery:read", "docs:read"),
    "ecosystem_report": ("discovery:read", "logs:read"),
    "incident_digest": ("logs:read",),
    "document_answer": ("docs:read",),
}
CAPABILITY_PREFIX = "capability:"
_AMBIGUITY_MARGIN = 0.02


def _clarify(
    reason: str,
    services: list[str],
    intents: list[dict[str, str]],
    workflows: dict[str, str] = WORKFLOWS,
) -> dict[str, Any]:
    return {
        "workflow": "needs_clarification",
        "clarification": {
            "reason": reason,
            "workflows": workflows,
            "services": services,
            "capabilities": intents,
            "message": f"{reason} I can do: "
            + "; ".join(f"{name}: {text}" for name, text in workflows.items()),
        },
    }


def offered_workflows(scopes: frozenset[str] | None) -> dict[str, str]:
    """The workflows a run whose owner holds `scopes` may run (all of them when None)."""
    return {
        name: text
        for name, text in WORKFLOWS.items()
        if scopes is None or scopes_allow(WORKFLOW_SCOPES.get(name, ()), scopes)
    }


def _service_in_text(query: str, services: list[str]) -> list[str]:
    found = []
    low = query.lower()
    for name in services:
        pattern = (
            r"(?<![\w-])" + r"[-_ ]?".join(map(re.escape, re.split(r"[-_]", name))) + r"(?![\w-])"
        )
        if re.search(pattern, low):
            found.append(name)
    return found


async def understand(state: RunState, ctx: RunContext) -> dict[str, Any]:
    """Ask the LLM gateway which workflow the query is, validate, and extract parameters."""
    query = state["query"]
    # only what the run's owner may call is offered (the services enforce it regardless)
    listing, intent_tools = await asyncio.gather(
        ctx.call("discovery", "GET", "/services"), ctx.intent_tools()
    )
    services = sorted(
        s["name"] for s in listing.get("services", []) if isinstance(s, dict) and "name" in s
    )
    intents = [{"tool": t.name, "intent": t.capability.intent or ""} for t in intent_tools]
    workflows = offered_workflows(ctx.scopes)
    prompt = await pinned(state, ctx, "classify_query")
    labels = [
        label
        for label in prompt.json()["labels"]
        if label["name"] in workflows or label["name"] not in WORKFLOW_SCOPES
    ]
    for tool in intent_tools[:50]:
        labels.append(
            {
                "name": f"{CAPABILITY_PREFIX}{tool.name}"[:100],
                "description": (tool.capability.intent or "")[:1000],
                "examples": [(tool.capability.intent or "")[:500]],
            }
        )
    entity_prompt = await pinned(state, ctx, "extract_entities")
    (answer, classified), (extracted, extraction) = await asyncio.gather(
        llm_task(ctx, prompt, query, labels=labels),
        llm_task(ctx, entity_prompt, query, services=services, now=now_iso()),
    )
    entities = [e for e in extracted.get("entities", []) if isinstance(e, dict)]
    label = answer.get("label")
    confidence = float(answer.get("confidence") or 0.0)
    scores = answer.get("scores") or {}
    runner_up = max((float(v) for k, v in scores.items() if k != label), default=0.0)
    update = merge(classified, extraction)
    update["intent"] = {"label": label, "confidence": confidence, "scores": scores}
    update["entities"] = entities
    allowed = {str(lbl["name"]) for lbl in labels} - {"unsupported"}
    if label not in allowed:
        return update | _clarify("I cannot serve that request.", services, intents, workflows)
    if confidence < ctx.settings.min_confidence or confidence - runner_up < _AMBIGUITY_MARGIN:
        return update | _clarify(
            f"The request is ambiguous (best match {label} at {confidence:.2f}).",
            services,
            intents,
            workflows,
        )
    params: dict[str, Any] = {}
    named = [
        str(e.get("value") or e.get("text", "")).lower()
        for e in entities
        if e.get("type") == "service"
    ]
    named = [n for n in dict.fromkeys(named) if n in services] or _service_in_text(query, services)
    windows = [e.get("value") for e in entities if e.get("type") == "time_window"]
    window = next((w for w in windows if isinstance(w, dict) and w.get("seconds")), None)
    params["window_s"] = int(window["seconds"]) if window else 3600
    if not state.get("format_explicit"):
        formats = [str(e.get("value") or "").lower() for e in entities if e.get("type") == "format"]
        chosen = next((f for f in formats if f in FORMATS), None)
        if chosen:
            update["format"] = chosen
    workflow = str(label)
    if workflow.startswith(CAPABILITY_PREFIX):
        params["tool"] = workflow[len(CAPABILITY_PREFIX) :]
        params["ids"] = [e.get("value") or e.get("text") for e in entities if e.get("type") == "id"]
        workflow = "capability"
    elif workflow == "api_documentation":
        if len(named) != 1:
            reason = (
                "Which service should I document? "
                if not named
                else f"The request names several services ({', '.join(named)}); pick one. "
            )
            return update | _clarify(
                reason + f"Registered services: {', '.join(services)}.",
                services,
                intents,
                workflows,
            )
        params["service"] = named[0]
    elif workflow in ("ecosystem_report", "incident_digest"):
        params["services"] = named
    elif workflow == "document_answer":
        params["question"] = query
    update["workflow"] = workflow
    update["params"] = params
    return update
