"""Streaming: find a provider whose stream starts (fallback before the first chunk only),
relay it as OpenAI `chat.completion.chunk` events, and account for how it ended."""

from __future__ import annotations

import json
import re
import time
import uuid
from collections.abc import AsyncIterator
from typing import Any

import structlog

from eco_llm_gateway.models import Plan, StreamStart
from eco_llm_gateway.providers import ProviderChunk, ProviderError, ProviderUsage
from eco_llm_gateway.service._accounting import cost_of, ok_attempt
from eco_llm_gateway.service._answers import ProviderCalls, all_failed, eco_info
from eco_shared.models.llm_gateway import Attempt

log = structlog.get_logger(__name__)


async def _prepend(
    first: ProviderChunk, rest: AsyncIterator[ProviderChunk]
) -> AsyncIterator[ProviderChunk]:
    yield first
    async for chunk in rest:
        yield chunk


async def _replay(cached: dict[str, Any]) -> AsyncIterator[ProviderChunk]:
    words = re.findall(r"\S+\s*|\s+", str(cached["content"]))
    for start in range(0, len(words), 8):
        yield ProviderChunk(content="".join(words[start : start + 8]))
    yield ProviderChunk(
        finish_reason=str(cached["finish_reason"]), usage=ProviderUsage(*cached["usage"])
    )


class Streamer(ProviderCalls):
    """Streamed completions."""

    async def open(self, plan: Plan) -> StreamStart:
        """Find a provider whose stream starts; fallback happens before the first chunk only."""
        hit = await self.cached(plan)
        if hit is not None:
            candidate, cached = hit
            return StreamStart(plan, candidate, [], True, _replay(cached), cached)
        attempts: list[Attempt] = []
        for candidate in plan.candidates:
            started = time.perf_counter()
            iterator = candidate.provider.stream(plan.request_for(candidate)).__aiter__()
            try:
                try:
                    first = await iterator.__anext__()
                except StopAsyncIteration:
                    raise candidate.provider.error(
                        "bad_response", "the stream ended without a chunk"
                    ) from None
            except ProviderError as exc:
                await self.accounting.attempt_failed(attempts, candidate, exc, started)
                if plan.fallback and exc.fallback:
                    continue
                break
            attempts.append(ok_attempt(candidate, (time.perf_counter() - started) * 1000))
            return StreamStart(plan, candidate, attempts, False, _prepend(first, iterator))
        raise await all_failed(self.accounting, plan, attempts, stream=True)

    async def sse(self, start: StreamStart, include_usage: bool) -> AsyncIterator[str]:
        """OpenAI `chat.completion.chunk` events (JSON strings) ending with `[DONE]`."""
        plan, candidate = start.plan, start.candidate
        assert candidate is not None
        chunk_id = f"chatcmpl-{uuid.uuid4().hex}"
        created = int(time.time())
        eco = eco_info(plan, candidate, start.attempts, start.cache_hit).model_dump()
        content: list[str] = []
        finish: str | None = None
        usage: ProviderUsage | None = None
        began = time.perf_counter()
        accounted = False

        def chunk(delta: dict[str, Any], finish_reason: str | None, **extra: Any) -> str:
            body = {
                "id": chunk_id,
                "object": "chat.completion.chunk",
                "created": created,
                "model": candidate.label,
                "system_fingerprint": f"{candidate.provider.kind}:{candidate.label}",
                "choices": [{"index": 0, "delta": delta, "finish_reason": finish_reason}],
                **extra,
            }
            return json.dumps(body, ensure_ascii=False)

        try:
            yield chunk({"role": "assistant", "content": ""}, None, eco=eco)
            async for piece in start.chunks:
                if piece.content:
                    content.append(piece.content)
                    yield chunk({"content": piece.content}, None)
                if piece.finish_reason is not None:
                    finish, usage = piece.finish_reason, piece.usage
            if finish is None:
                raise candidate.provider.error("bad_response", "the stream ended without a finish")
            final = usage or ProviderUsage(0, 0)
            yield chunk({}, finish, eco=eco)
            if include_usage:
                body = json.loads(chunk({}, None))
                body["choices"] = []
                body["usage"] = {
                    "prompt_tokens": final.prompt_tokens,
                    "completion_tokens": final.completion_tokens,
                    "total_tokens": final.prompt_tokens + final.completion_tokens,
                }
                yield json.dumps(body)
            # Accounted before [DONE], so a caller that saw the end sees it in /v1/usage.
            accounted = True
            await self._done(start, "".join(content), finish, final, began)
            yield "[DONE]"
        except ProviderError as exc:
            log.warning("stream_failed", provider=exc.provider, kind=exc.kind, detail=exc.detail)
            accounted = True
            self.accounting.spawn(self._failed(start, exc.kind, began))
            yield json.dumps(
                {
                    "error": {
                        "message": f"{exc.provider} failed mid-stream: {exc.kind}: {exc.detail}",
                        "type": "server_error",
                        "param": None,
                        "code": exc.kind,
                        "provider": exc.provider,
                    }
                }
            )
        finally:
            if not accounted:  # the caller hung up mid-stream
                self.accounting.spawn(self._failed(start, "client_disconnected", began, status=499))

    async def _done(
        self, start: StreamStart, text: str, finish: str, usage: ProviderUsage, began: float
    ) -> None:
        plan, candidate = start.plan, start.candidate
        assert candidate is not None
        if not start.cache_hit:
            duration = (time.perf_counter() - began) * 1000 + sum(
                a.duration_ms for a in start.attempts if a.outcome == "ok"
            )
            await self.accounting.succeeded(candidate, duration)
            await self.accounting.remember(plan, candidate, text, finish, usage)
        cost = 0.0 if start.cache_hit else cost_of(candidate, usage)
        await self.accounting.record_plan(
            plan, candidate, 200, "ok", True, usage, cost, start.attempts, cache_hit=start.cache_hit
        )

    async def _failed(
        self, start: StreamStart, outcome: str, began: float, status: int = 502
    ) -> None:
        candidate = start.candidate
        assert candidate is not None
        if status == 502:
            await self.accounting.failed(
                candidate.provider.name, (time.perf_counter() - began) * 1000, outcome
            )
        await self.accounting.record_plan(
            start.plan, candidate, status, outcome, True, None, 0.0, start.attempts
        )
