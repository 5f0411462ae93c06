"""`api_documentation`: analyze → (select template ‖ gather context) → outline → content →
review → (format | revise → format)."""

from __future__ import annotations

import asyncio
import re
from collections import defaultdict
from typing import Any

from langgraph.graph import END, START
from langgraph.graph.state import CompiledStateGraph

from eco_orchestrator.settings import OrchestratorSettings
from eco_orchestrator.workflows import openapi_docs as oa
from eco_orchestrator.workflows._base import (
    RunContext,
    RunState,
    ServiceFailure,
    input_ref,
    node,
    service_retry,
    sha256_json,
    workflow_graph,
)
from eco_orchestrator.workflows._prompts import llm_task, pinned

MAX_REVISIONS = 1


def _anchor(text: str) -> str:
    return re.sub(r"[^a-z0-9 -]", "", text.lower()).strip().replace(" ", "-")


async def analyze(state: RunState, ctx: RunContext) -> dict[str, Any]:
    """Resolve the service through discovery and read its capabilities and OpenAPI spec."""
    name = state["params"]["service"]
    listing = await ctx.call("discovery", "GET", "/services/{name}", name=name)
    instances = listing.get("instances", []) if isinstance(listing, dict) else []
    if not instances:
        raise ServiceFailure(f"discovery knows no instance of {name}")
    spec, caps = await asyncio.gather(
        ctx.call("discovery", "GET", "/services/{name}/openapi", name=name),
        ctx.call("discovery", "GET", "/capabilities", service=name, limit=200),
    )
    if not isinstance(spec, dict) or not isinstance(spec.get("paths"), dict):
        raise ServiceFailure(f"discovery holds no usable OpenAPI spec for {name}")
    digest = sha256_json(spec)
    info = {
        "name": name,
        "version": (spec.get("info") or {}).get("version") or instances[0].get("version"),
        "title": (spec.get("info") or {}).get("title") or name,
        "description": (spec.get("info") or {}).get("description") or "",
        "instances": [
            {
                "instance_id": i.get("instance_id"),
                "base_url": i.get("base_url"),
                "status": i.get("status"),
            }
            for i in instances
        ],
        "capabilities": int(caps.get("total", 0)) if isinstance(caps, dict) else 0,
        "spec_sha256": digest,
    }
    return {
        "spec": spec,
        "service_info": info,
        "inputs": input_ref(f"eco://discovery/services/{name}/openapi", digest),
    }


async def select_template(state: RunState, ctx: RunContext) -> dict[str, Any]:
    """Pick the document template by the size of the API (and pin it)."""
    count = len(oa.operations(state["spec"]))
    prompt = await pinned(state, ctx, "api_reference" if count > 3 else "api_reference_compact")
    return prompt.update() | {"template": {"name": prompt.name}}


async def gather_context(state: RunState, ctx: RunContext) -> dict[str, Any]:
    """What else the ecosystem knows about the service: health and related documents."""
    name = state["params"]["service"]
    found = await ctx.call("doc-store", "GET", "/documents", q=name, page_size=5)
    items = found.get("items", []) if isinstance(found, dict) else []
    related = [{"id": d.get("id"), "title": d.get("title")} for d in items if isinstance(d, dict)]
    health = {i["instance_id"]: i.get("status") for i in state["service_info"]["instances"]}
    return {"context": {"related_documents": related, "health": health}}


async def outline(state: RunState, ctx: RunContext) -> dict[str, Any]:
    """Group operations by tag and write the overview (extractive, through the gateway)."""
    ops = oa.operations(state["spec"])
    groups: dict[str, list[str]] = defaultdict(list)
    for op in ops:
        groups[op["tags"][0]].append(op["key"])
    info = state["service_info"]
    text = (
        " ".join(
            filter(None, [info["description"], *(f"{o['summary']}." for o in ops if o["summary"])])
        )
        or f"The {info['name']} service offers {len(ops)} operations."
    )
    answer, update = await llm_task(ctx, await pinned(state, ctx, "api_overview"), text)
    overview = str(answer.get("summary") or "").strip()
    return update | {
        "outline": [{"tag": tag, "operations": keys} for tag, keys in groups.items()],
        "overview": overview,
    }


def _operation_section(spec: dict[str, Any], op: dict[str, Any], strict: bool) -> tuple[str, dict]:
    lines = [f"### {op['key']}", ""]
    if op["summary"]:
        lines += [f"**{op['summary']}**", ""]
    if op["description"]:
        lines += [op["description"].strip(), ""]
    if op["operation_id"]:
        lines += [f"Operation id: `{op['operation_id']}`", ""]
    if op["parameters"]:
        lines += ["| parameter | in | required | type | description |", "|---|---|---|---|---|"]
        for p in op["parameters"]:
            desc = str(p.get("description") or "").replace("|", "\\|").replace("\n", " ")
            lines.append(
                f"| `{p.get('name')}` | {p.get('in')} | {'yes' if p.get('required') else 'no'} "
                f"| {oa.type_of(p.get('schema'))} | {desc} |"
            )
        lines.append("")
    else:
        lines += ["No parameters.", ""]
    record: dict[str, Any] = {}
    if op["request_schema"] is not None:
        value = oa.example(spec, op["request_schema"], strict=strict)
        record["request"] = {"schema": op["request_schema"], "example": value}
        lines += [
            f"Request body (`{op['request_media_type']}`): {oa.type_of(op['request_schema'])}",
            "",
            "Request schema:",
            "",
            oa.fence(op["request_schema"]),
            "",
            "Example request:",
            "",
            oa.fence(value),
            "",
        ]
    for status, response in op["responses"].items():
        lines.append(f"Response `{status}`: {response['description']}")
        if response["schema"] is not None:
            value = oa.example(spec, response["schema"], strict=strict)
            record.setdefault("responses", {})[status] = {
                "schema": response["schema"],
                "example": value,
            }
            lines += [
                "",
                f"Schema: {oa.type_of(response['schema'])}",
                "",
                "Example response:",
                "",
                oa.fence(value),
            ]
        lines.append("")
    return "\n".join(lines), record


async def content(state: RunState, ctx: RunContext) -> dict[str, Any]:
    """Write every operation: method, path, parameters, schemas and an example."""
    spec = state["spec"]
    sections: dict[str, str] = {}
    examples: dict[str, Any] = {}
    for op in oa.operations(spec):
        sections[op["key"]], examples[op["key"]] = _operation_section(spec, op, strict=False)
    return {"sections": sections, "examples": examples, "revisions": 0}


def _schema_section(spec: dict[str, Any], name: str) -> str:
    schema = ((spec.get("components") or {}).get("schemas") or {}).get(name, {})
    return f"### {name}\n\n{schema.get('description', '')}\n\n{oa.fence(schema)}\n"


async def review(state: RunState, ctx: RunContext) -> dict[str, Any]:
    """Score coverage of operations and schemas and the validity of every example."""
    spec = state["spec"]
    ops = oa.operations(spec)
    covered = [op["key"] for op in ops if op["key"] in state["sections"]]
    schemas = oa.referenced_schemas(spec, ops)
    invalid: dict[str, list[str]] = {}
    checked = 0
    for key, record in state["examples"].items():
        pairs = []
        if "request" in record:
            pairs.append(("request", record["request"]))
        pairs += [(f"response {s}", r) for s, r in record.get("responses", {}).items()]
        for label, item in pairs:
            checked += 1
            errors = oa.example_errors(spec, item["schema"], item["example"])
            if errors:
                invalid[f"{key} {label}"] = errors
    op_score = len(covered) / len(ops) if ops else 1.0
    example_score = 1 - len(invalid) / checked if checked else 1.0
    # the schema section is generated from the referenced list, so coverage is by construction
    # unless a referenced name is missing from components
    known = set((spec.get("components") or {}).get("schemas") or {})
    missing_schemas = [s for s in schemas if s not in known]
    schema_score = 1 - len(missing_schemas) / len(schemas) if schemas else 1.0
    score = round((op_score + schema_score + example_score) / 3, 4)
    quality = {
        "score": score,
        "operations": len(ops),
        "operations_covered": len(covered),
        "schemas_referenced": len(schemas),
        "schemas_missing": missing_schemas,
        "examples_checked": checked,
        "examples_invalid": invalid,
        "completeness": round((op_score + schema_score) / 2, 4),
        "accuracy": round(example_score, 4),
        "threshold": ctx.settings.review_threshold,
    }
    return {"quality": quality}


def after_review(state: RunState) -> str:
    """Revise when the score is below the threshold (once), else format."""
    quality = state["quality"]
    if quality["score"] < quality["threshold"] and state.get("revisions", 0) < MAX_REVISIONS:
        return "revise"
    return "format"


async def revise(state: RunState, ctx: RunContext) -> dict[str, Any]:
    """Rewrite the operations whose examples failed, filling every property."""
    spec = state["spec"]
    bad = {
        key.split(" request")[0].split(" response")[0]
        for key in state["quality"]["examples_invalid"]
    }
    sections = dict(state["sections"])
    examples = dict(state["examples"])
    for op in oa.operations(spec):
        if op["key"] in bad or op["key"] not in sections:
            sections[op["key"]], examples[op["key"]] = _operation_section(spec, op, strict=True)
    return {"sections": sections, "examples": examples, "revisions": state.get("revisions", 0) + 1}


async def format_document(state: RunState, ctx: RunContext) -> dict[str, Any]:
    """Assemble the document from the template, the outline and the sections."""
    spec = state["spec"]
    info = state["service_info"]
    ops = oa.operations(spec)
    parts, toc = [], []
    for group in state["outline"]:
        toc.append(f"- [{group['tag']}](#{_anchor(group['tag'])})")
        parts.append(f"## {group['tag']}\n")
        parts.extend(state["sections"][key] for key in group["operations"])
    schemas = oa.referenced_schemas(spec, ops)
    title = f"{info['title']} API reference"
    related = state.get("context", {}).get("related_documents") or []
    overview = state.get("overview") or ""
    if related:
        overview += "\n\nRelated documents: " + ", ".join(
            f"{d['title']} (`{d['id']}`)" for d in related
        )
    values = {
        "title": title,
        "overview": overview,
        "service": info["name"],
        "version": info["version"],
        "instances": ", ".join(f"`{i['instance_id']}` ({i['status']})" for i in info["instances"]),
        "operation_count": len(ops),
        "tag_count": len(state["outline"]),
        "spec_sha256": info["spec_sha256"],
        "toc": "\n".join(toc),
        "sections": "\n".join(parts),
        "schemas": "\n".join(_schema_section(spec, n) for n in schemas) or "None.",
    }
    # the template comes from the prompt store: rendered by its rules, never str.format
    prompt = await pinned(state, ctx, state["template"]["name"])
    markdown = prompt.render({k: str(v) for k, v in values.items()})
    rows = [
        {
            "method": op["method"],
            "path": op["path"],
            "operation_id": op["operation_id"],
            "tag": op["tags"][0],
            "summary": op["summary"],
        }
        for op in ops
    ]
    return prompt.update(markdown) | {
        "title": title,
        "markdown": markdown,
        "data": {"service": info, "rows": rows},
    }


def build(settings: OrchestratorSettings) -> CompiledStateGraph[Any, Any, Any, Any]:
    """The api_documentation graph (compiled without a checkpointer: it inherits the run's)."""
    retry = service_retry(settings)
    timeout = settings.node_timeout_s
    g = workflow_graph()
    g.add_node("analyze", node("analyze", analyze), retry_policy=retry, timeout=timeout)
    g.add_node("select_template", node("select_template", select_template))
    g.add_node(
        "gather_context",
        node("gather_context", gather_context),
        retry_policy=retry,
        timeout=timeout,
    )
    g.add_node("outline", node("outline", outline), retry_policy=retry, timeout=timeout)
    g.add_node("content", node("content", content))
    g.add_node("review", node("review", review))
    g.add_node("revise", node("revise", revise))
    g.add_node("format", node("format", format_document))
    g.add_edge(START, "analyze")
    g.add_edge("analyze", "select_template")
    g.add_edge("analyze", "gather_context")
    g.add_edge(["select_template", "gather_context"], "outline")
    g.add_edge("outline", "content")
    g.add_edge("content", "review")
    g.add_conditional_edges("review", after_review, {"revise": "revise", "format": "format"})
    g.add_edge("revise", "format")
    g.add_edge("format", END)
    return g.compile(name="api_documentation")
