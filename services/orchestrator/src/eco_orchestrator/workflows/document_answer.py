"""`document_answer`: search the doc store, answer from the passages with citations."""

from __future__ import annotations

import re
from typing import Any

from langgraph.graph import END, START, StateGraph
from langgraph.graph.state import CompiledStateGraph

from eco_orchestrator.prompts import load_prompt
from eco_orchestrator.settings import OrchestratorSettings
from eco_orchestrator.workflows._base import (
    RunContext,
    RunState,
    ServiceFailure,
    input_ref,
    llm_task,
    node,
    service_retry,
    sha256_json,
)

MAX_DOCUMENTS = 5
_STOP = set(
    "a an and are about according as at be by can de did do does doc docs document documents "
    "documentation for from how i in is it me of on or our say says said show tell that the "
    "their them there these they this to us was we what when where which who why will with "
    "written you your search find".split()
)


def keywords(question: str) -> list[str]:
    """The words of the question worth searching for."""
    words = re.findall(r"[A-Za-z][A-Za-z0-9_-]{2,}", question.lower())
    return list(dict.fromkeys(w for w in words if w not in _STOP))[:6]


def _stems(word: str) -> list[str]:
    """The word and its common inflections (search is by whole words)."""
    root = word
    for suffix in ("ies", "ied", "ying", "es", "ed", "ing", "s", "y"):
        if word.endswith(suffix) and len(word) - len(suffix) >= 3:
            root = word[: -len(suffix)]
            break
    forms = [word, root, word[:-1] if word.endswith("s") else word]
    if word.endswith(("ies", "ied", "y")):
        forms += [root + "y", root + "ies", root + "ied", root + "ying"]
    else:
        forms += [root + "s", root + "ed", root + "ing", root + "es"]
    return list(dict.fromkeys(f for f in forms if len(f) >= 3))


async def search(state: RunState, ctx: RunContext) -> dict[str, Any]:
    """Full-text search for every keyword (and its simple stems); rank by hits."""
    terms = keywords(state["params"].get("question") or state["query"])
    hits: dict[str, dict[str, Any]] = {}
    for term in terms:
        for form in _stems(term):
            page = await ctx.call("doc-store", "GET", "/documents", q=form, page_size=20)
            for item in page.get("items", []):
                hit = hits.setdefault(item["id"], {**item, "matched": []})
                if term not in hit["matched"]:
                    hit["matched"].append(term)
    ranked = sorted(hits.values(), key=lambda h: (-len(h["matched"]), str(h.get("id"))))
    return {"context": {"terms": terms, "hits": ranked[:MAX_DOCUMENTS]}}


def _sentences(text: str) -> list[str]:
    flat = re.sub(r"```.*?```", " ", text, flags=re.S)
    flat = re.sub(r"[#*`|>]+", " ", flat)
    return [s.strip() for s in re.split(r"(?<=[.!?])\s+|\n{2,}", flat) if len(s.strip()) > 20]


async def read(state: RunState, ctx: RunContext) -> dict[str, Any]:
    """Fetch the found documents and keep the passages that mention the keywords."""
    terms = state["context"]["terms"]
    download = await ctx.tool("doc-store", "GET", "/documents/{id}/download")
    passages: list[dict[str, Any]] = []
    inputs: dict[str, dict[str, Any]] = {}
    for hit in state["context"]["hits"]:
        if hit.get("format") == "pdf":
            continue
        try:
            args = {download.capability.path_params[0]: hit["id"]}
            if "version" in download.capability.query_params:
                args["version"] = hit.get("version")
            response = await download.call_raw(**args)
        except Exception as exc:
            raise ServiceFailure(f"doc-store download of {hit['id']} failed: {exc}") from exc
        text = response.text
        inputs |= input_ref(
            f"eco://doc-store/documents/{hit['id']}?version={hit.get('version')}", hit.get("sha256")
        )
        stems = [_stems(t)[1] for t in terms]
        for sentence in _sentences(text):
            low = sentence.lower()
            if any(s in low for s in stems):
                passages.append(
                    {
                        "document_id": hit["id"],
                        "version": hit.get("version"),
                        "title": hit.get("title"),
                        "text": sentence[:600],
                    }
                )
    return {"context": {**state["context"], "passages": passages[:40]}, "inputs": inputs}


async def answer(state: RunState, ctx: RunContext) -> dict[str, Any]:
    """Answer extractively from the passages (through the gateway), with citations."""
    passages = state["context"]["passages"]
    question = state["params"].get("question") or state["query"]
    if not passages:
        markdown = (
            f"# {question}\n\nNo stored document mentions "
            f"{', '.join(state['context']['terms']) or 'that'}; I cannot answer from our "
            "documents.\n"
        )
        return {
            "title": f"Answer: {question}"[:200],
            "markdown": markdown,
            "data": {"answer": None, "citations": []},
            "quality": {"confidence": 0.0, "completeness": 0.0},
        }
    text = " ".join(p["text"] for p in passages)
    reply, update = await llm_task(ctx, load_prompt("summarize_answer"), text)
    chosen = [s for s in reply.get("sentences") or [] if isinstance(s, str)] or [
        str(reply.get("summary") or "")
    ]
    lines = [f"# {question}", ""]
    citations: list[dict[str, Any]] = []
    for sentence in chosen:
        source = next((p for p in passages if sentence.strip()[:60] in p["text"]), None)
        if source is None:
            lines.append(sentence)
            continue
        ref = {
            "document_id": source["document_id"],
            "version": source["version"],
            "title": source["title"],
        }
        if ref not in citations:
            citations.append(ref)
        n = citations.index(ref) + 1
        lines.append(f"{sentence} [{n}]")
    lines += ["", "## Sources", ""]
    for n, c in enumerate(citations, 1):
        lines.append(f"{n}. {c['title']}: document `{c['document_id']}` version {c['version']}")
    if not citations:
        lines.append("None of the answer could be traced to a passage.")
    return update | {
        "title": f"Answer: {question}"[:200],
        "markdown": "\n".join(lines) + "\n",
        "data": {
            "answer": " ".join(chosen),
            "citations": citations,
            "rows": [{"n": n, **c} for n, c in enumerate(citations, 1)],
        },
        "quality": {
            "confidence": 1.0 if citations else 0.3,
            "completeness": min(1.0, len(citations) / max(1, len(chosen))),
        },
        "inputs": input_ref("eco://orchestrator/passages", sha256_json(passages)),
    }


def build(settings: OrchestratorSettings) -> CompiledStateGraph[Any, Any, Any, Any]:
    """The document_answer graph."""
    retry, timeout = service_retry(settings), settings.node_timeout_s
    g: StateGraph[Any, Any, Any, Any] = StateGraph(RunState, context_schema=RunContext)
    g.add_node("search", node("search", search), retry_policy=retry, timeout=timeout)
    g.add_node("read", node("read", read), retry_policy=retry, timeout=timeout)
    g.add_node("answer", node("answer", answer), retry_policy=retry, timeout=timeout)
    g.add_edge(START, "search")
    g.add_edge("search", "read")
    g.add_edge("read", "answer")
    g.add_edge("answer", END)
    return g.compile(name="document_answer")
