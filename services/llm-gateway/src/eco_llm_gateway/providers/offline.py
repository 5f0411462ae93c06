"""The offline provider: deterministic extractive answers, no model weights, never a pretender."""

from __future__ import annotations

import json
import re
from collections.abc import AsyncIterator
from typing import Any

from eco_llm_gateway import extractive
from eco_llm_gateway.protocol import TaskSpec, task_text
from eco_llm_gateway.providers._base import (
    Provider,
    ProviderChunk,
    ProviderRequest,
    ProviderResponse,
    ProviderUsage,
    count_tokens,
)

NOTICE = (
    "This answer comes from the gateway's offline provider (offline/extractive-1), which is "
    "not a language model and does not write free text. It answers the structured tasks "
    "classify, extract_entities, summarize and outline (a JSON task spec in a system "
    "message) by deterministic extractive methods."
)
_CHUNK_WORDS = 8


def answer_task(spec: TaskSpec, text: str) -> dict[str, Any]:
    """The extractive answer to one structured task."""
    if spec.task == "classify":
        assert spec.labels is not None
        return extractive.classify(text, spec.labels)
    if spec.task == "extract_entities":
        return extractive.extract_entities(
            text, types=spec.types, services=spec.services, now=spec.now
        )
    if spec.task == "summarize":
        return extractive.summarize(text, spec.max_sentences)
    return extractive.outline(text, spec.max_sections)


def describe(text: str) -> dict[str, Any]:
    """What the offline provider can honestly say about a free-form message."""
    sentences = extractive.split_sentences(text)
    key = [sentences[i] for i in extractive.top_sentences(sentences, 1)] if sentences else []
    return {
        "provider": "offline",
        "model": "offline/extractive-1",
        "note": NOTICE,
        "entities": extractive.extract_entities(text)["entities"],
        "key_sentences": key,
    }


def _plain(found: dict[str, Any]) -> str:
    entities = found["entities"]
    lines = [NOTICE]
    if entities:
        listed = "; ".join(f"{e['type']} {e['text']!r}" for e in entities[:20])
        lines.append(f"In your message it found {len(entities)} entities: {listed}.")
    else:
        lines.append("In your message it found no dates, services, ids or formats.")
    if found["key_sentences"]:
        lines.append(f"Most informative sentence: {found['key_sentences'][0]!r}")
    return "\n".join(lines)


def _truncate(content: str, max_tokens: int | None, stop: tuple[str, ...]) -> tuple[str, str]:
    """Cut plain text at the first stop sequence and to `max_tokens` estimated tokens (JSON is
    never cut: it would not parse)."""
    cuts = [content.find(s) for s in stop if s in content]
    if cuts:
        content = content[: min(cuts)]
    if max_tokens is None or count_tokens(content) <= max_tokens:
        return content, "stop"
    pieces = re.findall(r"\s*(?:\w+|[^\w\s])", content)
    return "".join(pieces[:max_tokens]).strip(), "length"


class OfflineProvider(Provider):
    """Answers locally and identically every time; always available."""

    kind = "offline"
    honours = frozenset({"seed"})  # deterministic: every seed gives the same answer

    def _answer(self, request: ProviderRequest) -> tuple[str, str]:
        messages = [(m.role, m.content) for m in request.messages]
        if request.task is not None:
            result = answer_task(request.task, task_text(request.task, messages))
            return json.dumps(result, ensure_ascii=False), "stop"
        last_user = next((c for r, c in reversed(messages) if r == "user"), "")
        found = describe(last_user)
        if request.json_mode:
            return json.dumps(found, ensure_ascii=False), "stop"
        return _truncate(_plain(found), request.max_tokens, request.stop)

    def _usage(self, request: ProviderRequest, content: str) -> ProviderUsage:
        prompt = sum(count_tokens(m.content) for m in request.messages)
        return ProviderUsage(prompt_tokens=prompt, completion_tokens=count_tokens(content))

    async def chat(self, request: ProviderRequest) -> ProviderResponse:
        """The extractive answer in one piece."""
        content, finish = self._answer(request)
        return ProviderResponse(
            content=content,
            finish_reason=finish,
            usage=self._usage(request, content),
            model=request.model,
        )

    async def stream(self, request: ProviderRequest) -> AsyncIterator[ProviderChunk]:
        """The same answer, a few words per chunk."""
        content, finish = self._answer(request)
        pieces = re.findall(r"\S+\s*|\s+", content)
        for start in range(0, len(pieces), _CHUNK_WORDS):
            yield ProviderChunk(content="".join(pieces[start : start + _CHUNK_WORDS]))
        yield ProviderChunk(finish_reason=finish, usage=self._usage(request, content))

    async def check(self) -> None:
        """Always available: nothing to reach."""
