"""`document_answer`: search the doc store, answer from the passages with citations."""

from __future__ import annotations

import re
from itertools import zip_longest
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
from eco_orchestrator.workflows._prompts import llm_task, pinned
from eco_shared.text import STOPWORDS, content_stems, stem, words

MAX_DOCUMENTS = 5
MAX_TERMS = 6
_SEARCH = ("doc-store", "GET", "/documents")
# words about asking, not about the subject ("what do our documents say about X")
_QUESTION_WORDS = (
    "what how why according doc document documentation say said tell show written search find"
)
_QUESTION_STEMS = frozenset(stem(w) for w in _QUESTION_WORDS.split())


def keywords(question: str) -> list[str]:
    """The words of the question worth searching for, one per stem."""
    chosen: dict[str, str] = {}
    for word in words(question):
        root = stem(word)
        if len(word) > 2 and word not in STOPWORDS and root not in _QUESTION_STEMS:
            chosen.setdefault(root, word)
    return list(chosen.values())[:MAX_TERMS]


def mentions(sentence: str, stems: set[str]) -> bool:
    """Whether the sentence has a word with one of the stems."""
    return not stems.isdisjoint(content_stems(sentence))


async def search(state: RunState, ctx: RunContext) -> dict[str, Any]:
    """One full-text search for any of the keywords; the doc store ranks by terms matched."""
    terms = keywords(state["params"].get("question") or state["query"])
    hits: list[dict[str, Any]] = []
    if terms:
        tool = await ctx.tool(*_SEARCH)
        if "match" in tool.capability.query_params:
            page = await ctx.call(*_SEARCH, q=" ".join(terms), match="any", page_size=20)
            hits = list(page.get("items", []))
        else:
            hits = await _search_each(ctx, terms)
    return {"context": {"terms": terms, "hits": hits[:MAX_DOCUMENTS]}}


async def _search_each(ctx: RunContext, terms: list[str]) -> list[dict[str, Any]]:
    # a doc store from before `match=any`: a search a term, ranked by terms matched
    hits: dict[str, dict[str, Any]] = {}
    matched: dict[str, int] = {}
    for term in terms:
        for item in (await ctx.call(*_SEARCH, q=term, page_size=20)).get("items", []):
            hits.setdefault(item["id"], item)
            matched[item["id"]] = matched.get(item["id"], 0) + 1
    return sorted(hits.values(), key=lambda h: (-matched[h["id"]], str(h["id"])))


def _sentences(text: str) -> list[str]:
    flat = re.sub(r"```.*?```", " ", text, flags=re.S)
    flat = re.sub(r"[#*`|>]+", " ", flat)
    # whitespace folded as the gateway's sentence splitter folds it, so citations match
    parts = (" ".join(s.split()) for s in re.split(r"(?<=[.!?])\s+|\n{2,}", flat))
    return [s for s in parts if len(s) > 20]


async def read(state: RunState, ctx: RunContext) -> dict[str, Any]:
    """Fetch the found documents and keep the passages that mention the keywords."""
    stems = {stem(t) for t in state["context"]["terms"]}
    download = await ctx.tool("doc-store", "GET", "/documents/{id}/download")
    per_document: list[list[dict[str, Any]]] = []
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
        found = [
            {
                "document_id": hit["id"],
                "version": hit.get("version"),
                "title": hit.get("title"),
                "text": sentence[:600],
            }
            for sentence in dict.fromkeys(_sentences(text))  # a repeated line counts once
            if mentions(sentence, stems)
        ]
        per_document.append(found)
    # the documents take turns, so one long document cannot crowd out the others
    passages = [p for turn in zip_longest(*per_document) for p in turn if p is not None]
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
    # one block a passage: a passage without a full stop (a table row) never runs into the next
    text = "\n\n".join(p["text"] for p in passages)
    reply, update = await llm_task(ctx, await pinned(state, ctx, "summarize_answer"), text)
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
    return linear_graph(
        "document_answer", settings, [("search", search), ("read", read), ("answer", answer)]
    )
