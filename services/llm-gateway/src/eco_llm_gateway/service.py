"""The gateway's logic: limits, rate limit, sensitive-content policy, routing with fallback,
cache and accounting, around the providers."""

from __future__ import annotations

import asyncio
import hashlib
import json
import re
import time
import uuid
from collections import defaultdict
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal

import structlog

from eco_llm_gateway.models import (
    AssistantMessage,
    Attempt,
    CallerUsage,
    ChatCompletion,
    ChatCompletionRequest,
    Choice,
    EcoInfo,
    Finding,
    LatencyStats,
    ProbeResult,
    ProviderStatus,
    Route,
    Sensitivity,
    Usage,
    UsageReport,
    UsageTotals,
)
from eco_llm_gateway.protocol import TaskSpec, TaskSpecError, check_answer, find_task
from eco_llm_gateway.providers import (
    Message,
    Provider,
    ProviderChunk,
    ProviderError,
    ProviderRequest,
    ProviderUsage,
)
from eco_llm_gateway.repository import METRICS_INT, GatewayRepository, UsageRecord
from eco_llm_gateway.sensitive import detect_messages
from eco_llm_gateway.settings import LlmGatewaySettings
from eco_shared.http import ServiceClient
from eco_shared.problems import ProblemError

log = structlog.get_logger(__name__)

_CALLER = re.compile(r"[^A-Za-z0-9._:@-]")


def caller_name(header: str | None) -> str:
    """The caller as accounted: the `X-Eco-Caller` header (sanitised), else `anonymous`."""
    name = _CALLER.sub("_", (header or "").strip())[:64]
    return name or "anonymous"


@dataclass
class Candidate:
    provider: Provider
    model: str

    @property
    def label(self) -> str:
        return f"{self.provider.name}/{self.model}"


@dataclass
class Plan:
    """What the router decided before calling anyone."""

    requested: str
    candidates: list[Candidate]
    reason: str
    fallback: bool
    findings: list[Finding]
    task: TaskSpec | None
    provider_request: ProviderRequest
    cache_key: str | None
    caller: str
    started: float = field(default_factory=time.perf_counter)


@dataclass
class StreamStart:
    """A stream that has produced its first chunk (the provider is committed)."""

    plan: Plan
    candidate: Candidate | None
    attempts: list[Attempt]
    cache_hit: bool
    chunks: AsyncIterator[ProviderChunk]
    cached: dict[str, Any] | None = None


def _normalise(text: str) -> str:
    return "\n".join(line.rstrip() for line in text.strip().splitlines())


def _problem_findings(findings: list[Finding]) -> list[dict[str, Any]]:
    return [f.model_dump() for f in findings]


class Gateway:
    """One API over the configured providers."""

    def __init__(
        self,
        settings: LlmGatewaySettings,
        providers: dict[str, Provider],
        repository: GatewayRepository,
    ) -> None:
        self.settings = settings
        self.providers = providers
        self.repo = repository
        fingerprint = json.dumps(
            [[p.name, p.kind, p.models, p.local] for p in settings.providers]
            + [settings.preference()],
            sort_keys=True,
        )
        self._config_hash = hashlib.sha256(fingerprint.encode()).hexdigest()[:16]
        self._background: set[asyncio.Task[Any]] = set()

    # -- planning ---------------------------------------------------------------------

    def resolve(self, requested: str) -> tuple[list[Candidate], str]:
        """Candidates for a model name (`auto`, `provider/model`, `provider`, or `model`)."""
        if requested == "auto":
            pairs = self.settings.preference()
            order = " > ".join(f"{p}/{m}" for p, m in pairs)
            return [Candidate(self.providers[p], m) for p, m in pairs], f"auto: {order}"
        name, _, model = requested.partition("/")
        if name in self.providers:
            provider = self.providers[name]
            if not model:
                return [Candidate(provider, provider.models[0])], "requested provider"
            if model in provider.models:
                return [Candidate(provider, model)], "requested model"
            raise ProblemError(
                404,
                f"Provider {name!r} offers no model {model!r}; it offers {provider.models}.",
                title="Unknown model",
                type="urn:eco:problem:unknown-model",
                model=requested,
            )
        # A bare model name: the first provider offering it, preferred ones first.
        preferred = [p for p, _ in self.settings.preference()]
        ranked = preferred + [n for n in self.providers if n not in preferred]
        owners = [n for n in ranked if requested in self.providers[n].models]
        if owners:
            return [Candidate(self.providers[owners[0]], requested)], "requested model"
        raise ProblemError(
            404,
            f"No configured provider or model is called {requested!r}; "
            "see GET /v1/models (or use 'auto').",
            title="Unknown model",
            type="urn:eco:problem:unknown-model",
            model=requested,
        )

    def _local_candidates(self) -> list[Candidate]:
        chosen = [
            Candidate(self.providers[p], m)
            for p, m in self.settings.preference()
            if self.providers[p].local
        ]
        for provider in self.providers.values():
            if provider.local and provider.name not in {c.provider.name for c in chosen}:
                chosen.append(Candidate(provider, provider.models[0]))
        return chosen

    def _check_limits(self, request: ChatCompletionRequest) -> None:
        s = self.settings
        if len(request.messages) > s.max_messages:
            raise ProblemError(
                422,
                f"{len(request.messages)} messages; the limit is {s.max_messages}.",
                title="Too many messages",
                type="urn:eco:problem:validation",
            )
        size = sum(len(m.text) for m in request.messages)
        if size > s.max_prompt_chars:
            raise ProblemError(
                413,
                f"The prompt is {size} characters; the limit is {s.max_prompt_chars}.",
                title="Prompt too large",
                type="urn:eco:problem:prompt-too-large",
                limit_chars=s.max_prompt_chars,
            )
        if size == 0 or all(not m.text.strip() for m in request.messages):
            raise ProblemError(
                422,
                "Every message is empty.",
                title="Empty messages",
                type="urn:eco:problem:validation",
            )
        limit = request.output_limit
        if limit is not None and limit > s.max_output_tokens:
            raise ProblemError(
                422,
                f"max_tokens is {limit}; it must be between 1 and {s.max_output_tokens}.",
                title="max_tokens out of range",
                type="urn:eco:problem:validation",
                errors=[{"loc": ["body", "max_tokens"], "msg": "out of range", "type": "range"}],
            )

    def _cache_key(self, request: ChatCompletionRequest, sensitive: bool) -> str | None:
        if not self.settings.cache_enabled or sensitive or request.cache is False:
            return None
        if request.cache is None and request.temperature != 0:
            return None
        normalised = {
            "v": 1,
            "config": self._config_hash,
            "model": request.model,
            "messages": [
                ["system" if m.role == "developer" else m.role, _normalise(m.text)]
                for m in request.messages
            ],
            "temperature": request.temperature,
            "top_p": request.top_p,
            "max_tokens": request.output_limit,
            "stop": sorted(request.stop or []),
            "json": request.json_mode,
        }
        blob = json.dumps(normalised, sort_keys=True, ensure_ascii=False)
        return hashlib.sha256(blob.encode()).hexdigest()

    async def plan(self, request: ChatCompletionRequest, caller: str) -> Plan:
        """Validate, rate-limit, classify and route a request (raises problem+json errors)."""
        self._check_limits(request)
        pairs = [(m.role, m.text) for m in request.messages]
        try:
            task, _ = find_task(pairs)
        except TaskSpecError as exc:
            raise ProblemError(
                422,
                exc.detail,
                title="Invalid task spec",
                type="urn:eco:problem:task-spec",
                errors=exc.errors,
            ) from exc
        candidates, reason = self.resolve(request.model)
        decision = await self.repo.take_token(caller)
        if not decision.allowed:
            retry = max(1, int(decision.retry_after_s + 0.999))
            await self._record(
                caller=caller,
                requested=request.model,
                status=429,
                outcome="rate_limited",
                stream=request.stream,
                started=time.perf_counter(),
                task=task,
                findings=[],
                reason="rate limited",
                attempts=[],
            )
            raise ProblemError(
                429,
                f"Caller {caller!r} is over its rate limit; retry in {retry}s.",
                title="Rate limited",
                type="urn:eco:problem:rate-limited",
                headers={"Retry-After": str(retry)},
                retry_after_s=retry,
            )
        findings = [
            Finding(type=d.type, detail=d.detail, message=index, start=d.start, end=d.end)
            for index, d in detect_messages([text for _, text in pairs])
        ]
        fallback = request.model == "auto"
        if findings:
            types = sorted({f.type for f in findings})
            log.warning(
                "sensitive_content_detected",
                caller=caller,
                finding_types=types,
                spans=[[f.message, f.start, f.end] for f in findings],
            )
            remote = [c for c in candidates if not c.provider.local]
            local = [c for c in candidates if c.provider.local]
            if remote or not local:
                local = self._local_candidates() if fallback or not local else local
            if not local:
                await self._record(
                    caller=caller,
                    requested=request.model,
                    status=422,
                    outcome="refused_sensitive",
                    stream=request.stream,
                    started=time.perf_counter(),
                    task=task,
                    findings=findings,
                    reason="sensitive content and no local provider",
                    attempts=[],
                )
                raise ProblemError(
                    422,
                    f"The prompt contains sensitive content ({', '.join(types)}) and no local "
                    "provider is configured; it is not sent to a remote provider.",
                    title="Sensitive content refused",
                    type="urn:eco:problem:sensitive-content",
                    findings=_problem_findings(findings),
                )
            note = f"sensitive content ({', '.join(types)}): local providers only"
            if remote and not fallback:
                note += f"; {remote[0].label} is not local, so the request was rerouted"
            candidates, reason, fallback = local, note, True
        provider_request = ProviderRequest(
            model="",
            messages=tuple(
                Message("system" if role == "developer" else role, text) for role, text in pairs
            ),
            temperature=request.temperature,
            top_p=request.top_p,
            max_tokens=request.output_limit,
            stop=tuple(request.stop or ()),
            json_mode=request.json_mode,
            task=task,
        )
        return Plan(
            requested=request.model,
            candidates=candidates,
            reason=reason,
            fallback=fallback,
            findings=findings,
            task=task,
            provider_request=provider_request,
            cache_key=self._cache_key(request, bool(findings)),
            caller=caller,
        )

    # -- one call ---------------------------------------------------------------------

    def _for(self, plan: Plan, candidate: Candidate) -> ProviderRequest:
        r = plan.provider_request
        return ProviderRequest(
            model=candidate.model,
            messages=r.messages,
            temperature=r.temperature,
            top_p=r.top_p,
            max_tokens=r.max_tokens,
            stop=r.stop,
            json_mode=r.json_mode,
            task=r.task,
        )

    def _cost(self, candidate: Candidate, usage: ProviderUsage) -> float:
        config = candidate.provider.config
        return round(
            usage.prompt_tokens * config.cost_per_1k_input / 1000
            + usage.completion_tokens * config.cost_per_1k_output / 1000,
            8,
        )

    async def _attempt_failed(
        self, attempts: list[Attempt], candidate: Candidate, exc: ProviderError, started: float
    ) -> None:
        duration = (time.perf_counter() - started) * 1000
        attempts.append(
            Attempt(
                provider=candidate.provider.name,
                model=candidate.model,
                outcome=exc.kind,
                status=exc.status,
                detail=exc.detail,
                duration_ms=round(duration, 2),
            )
        )
        log.warning(
            "provider_failed",
            provider=candidate.provider.name,
            model=candidate.model,
            kind=exc.kind,
            status=exc.status,
            detail=exc.detail,
        )
        await self.repo.record_outcome(candidate.provider.name, False, duration, exc.detail)

    async def complete(self, plan: Plan) -> ChatCompletion:
        """Answer a planned request (cache, then the candidates in order)."""
        if plan.cache_key is not None:
            cached = await self.repo.cache_get(plan.cache_key)
            if cached is not None:
                return await self._from_cache(plan, cached)
        attempts: list[Attempt] = []
        for candidate in plan.candidates:
            started = time.perf_counter()
            request = self._for(plan, candidate)
            try:
                answer = await candidate.provider.chat(request)
                content = answer.content
                if plan.task is not None or request.json_mode:
                    try:
                        _, content = check_answer(plan.task, answer.content)
                    except ValueError as exc:
                        raise candidate.provider.error(
                            "bad_response", f"not the requested JSON: {exc}"
                        ) from exc
            except ProviderError as exc:
                await self._attempt_failed(attempts, candidate, exc, started)
                if plan.fallback and exc.fallback:
                    continue
                break
            duration = (time.perf_counter() - started) * 1000
            await self.repo.record_outcome(candidate.provider.name, True, duration)
            attempts.append(
                Attempt(
                    provider=candidate.provider.name,
                    model=candidate.model,
                    outcome="ok",
                    status=None,
                    duration_ms=round(duration, 2),
                )
            )
            completion = self._completion(
                plan, candidate, content, answer.finish_reason, answer.usage, attempts, False
            )
            cost = self._cost(candidate, answer.usage)
            if plan.cache_key is not None:
                await self.repo.cache_put(
                    plan.cache_key,
                    {
                        "provider": candidate.provider.name,
                        "model": candidate.model,
                        "content": content,
                        "finish_reason": answer.finish_reason,
                        "usage": [answer.usage.prompt_tokens, answer.usage.completion_tokens],
                    },
                )
            await self._record_plan(plan, candidate, 200, "ok", False, answer.usage, cost, attempts)
            return completion
        raise await self._all_failed(plan, attempts, stream=False)

    async def _from_cache(self, plan: Plan, cached: dict[str, Any]) -> ChatCompletion:
        provider = self.providers.get(str(cached.get("provider")))
        if provider is None:
            raise ProblemError(500, "A cached answer names a provider that is gone.")
        candidate = Candidate(provider, str(cached["model"]))
        usage = ProviderUsage(*cached["usage"])
        completion = self._completion(
            plan,
            candidate,
            str(cached["content"]),
            str(cached["finish_reason"]),
            usage,
            [],
            True,
        )
        await self._record_plan(plan, candidate, 200, "ok", False, usage, 0.0, [], cache_hit=True)
        return completion

    async def _all_failed(
        self, plan: Plan, attempts: list[Attempt], *, stream: bool
    ) -> ProblemError:
        names = ", ".join(f"{a.provider} ({a.outcome}: {a.detail})" for a in attempts)
        garbage = any(a.outcome in ("bad_response", "rejected") for a in attempts)
        status = 502 if garbage else 503
        local_only = bool(plan.findings)
        if local_only:
            detail = (
                f"Every local provider failed: {names}. The prompt contains sensitive content, "
                "so no remote provider was tried."
            )
        elif len(attempts) == 1:
            detail = f"Provider {names} did not answer usably."
        else:
            detail = f"Every provider failed: {names}."
        await self._record_plan(plan, None, status, "failed", stream, None, 0.0, attempts)
        headers = None
        waits = [a for a in attempts if a.outcome == "rate_limited"]
        if waits and len(waits) == len(attempts):
            headers = {"Retry-After": "1"}
        return ProblemError(
            status,
            detail,
            title="Bad answer from provider" if garbage else "No provider available",
            type="urn:eco:problem:provider-failed",
            headers=headers,
            provider=attempts[-1].provider if attempts else None,
            attempts=[a.model_dump() for a in attempts],
        )

    def eco_info(
        self, plan: Plan, candidate: Candidate, attempts: list[Attempt], cache_hit: bool
    ) -> EcoInfo:
        failed = [a for a in attempts if a.outcome != "ok"]
        reason = plan.reason
        if cache_hit:
            reason += f"; cache hit (answered earlier by {candidate.label})"
        elif failed:
            tried = ", ".join(f"{a.provider} ({a.outcome})" for a in failed)
            reason += f"; answered by {candidate.label} after fallback from {tried}"
        else:
            reason += f"; answered by {candidate.label}"
        return EcoInfo(
            provider=candidate.provider.name,
            model=candidate.model,
            local=candidate.provider.local,
            cache_hit=cache_hit,
            caller=plan.caller,
            task=plan.task.task if plan.task else None,
            route=Route(requested=plan.requested, reason=reason, attempts=attempts),
            sensitive=Sensitivity(detected=bool(plan.findings), findings=plan.findings),
        )

    def _completion(
        self,
        plan: Plan,
        candidate: Candidate,
        content: str,
        finish_reason: str,
        usage: ProviderUsage,
        attempts: list[Attempt],
        cache_hit: bool,
    ) -> ChatCompletion:
        return ChatCompletion(
            id=f"chatcmpl-{uuid.uuid4().hex}",
            created=int(time.time()),
            model=candidate.label,
            system_fingerprint=f"{candidate.provider.kind}:{candidate.label}",
            choices=[
                Choice(message=AssistantMessage(content=content), finish_reason=finish_reason)
            ],
            usage=Usage(
                prompt_tokens=usage.prompt_tokens,
                completion_tokens=usage.completion_tokens,
                total_tokens=usage.prompt_tokens + usage.completion_tokens,
            ),
            eco=self.eco_info(plan, candidate, attempts, cache_hit),
        )

    # -- streaming --------------------------------------------------------------------

    async def open_stream(self, plan: Plan) -> StreamStart:
        """Find a provider whose stream starts; fallback happens before the first chunk only."""
        if plan.cache_key is not None:
            cached = await self.repo.cache_get(plan.cache_key)
            if cached is not None and cached.get("provider") in self.providers:
                candidate = Candidate(self.providers[cached["provider"]], str(cached["model"]))
                return StreamStart(plan, candidate, [], True, _replay(cached), cached)
        attempts: list[Attempt] = []
        for candidate in plan.candidates:
            started = time.perf_counter()
            iterator = candidate.provider.stream(self._for(plan, candidate)).__aiter__()
            try:
                try:
                    first = await iterator.__anext__()
                except StopAsyncIteration:
                    raise candidate.provider.error(
                        "bad_response", "the stream ended without a chunk"
                    ) from None
            except ProviderError as exc:
                await self._attempt_failed(attempts, candidate, exc, started)
                if plan.fallback and exc.fallback:
                    continue
                break
            attempts.append(
                Attempt(
                    provider=candidate.provider.name,
                    model=candidate.model,
                    outcome="ok",
                    duration_ms=round((time.perf_counter() - started) * 1000, 2),
                )
            )
            return StreamStart(plan, candidate, attempts, False, _prepend(first, iterator))
        raise await self._all_failed(plan, attempts, stream=True)

    async def sse(self, start: StreamStart, include_usage: bool) -> AsyncIterator[str]:
        """OpenAI `chat.completion.chunk` events (JSON strings) ending with `[DONE]`."""
        plan, candidate = start.plan, start.candidate
        assert candidate is not None
        chunk_id = f"chatcmpl-{uuid.uuid4().hex}"
        created = int(time.time())
        eco = self.eco_info(plan, candidate, start.attempts, start.cache_hit).model_dump()
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
            await self._stream_done(start, "".join(content), finish, final, began)
            yield "[DONE]"
        except ProviderError as exc:
            log.warning("stream_failed", provider=exc.provider, kind=exc.kind, detail=exc.detail)
            accounted = True
            self._spawn(self._stream_failed(start, exc.kind, began))
            yield json.dumps(
                {
                    "error": {
                        "message": f"{exc.provider} failed mid-stream: {exc.kind}: {exc.detail}",
                        "type": "provider_error",
                        "provider": exc.provider,
                        "code": exc.kind,
                    }
                }
            )
        finally:
            if not accounted:  # the caller hung up mid-stream
                self._spawn(self._stream_failed(start, "client_disconnected", began, status=499))

    async def _stream_done(
        self, start: StreamStart, text: str, finish: str, usage: ProviderUsage, began: float
    ) -> None:
        plan, candidate = start.plan, start.candidate
        assert candidate is not None
        if not start.cache_hit:
            duration = (time.perf_counter() - began) * 1000 + sum(
                a.duration_ms for a in start.attempts if a.outcome == "ok"
            )
            await self.repo.record_outcome(candidate.provider.name, True, duration)
            if plan.cache_key is not None:
                await self.repo.cache_put(
                    plan.cache_key,
                    {
                        "provider": candidate.provider.name,
                        "model": candidate.model,
                        "content": text,
                        "finish_reason": finish,
                        "usage": [usage.prompt_tokens, usage.completion_tokens],
                    },
                )
        cost = 0.0 if start.cache_hit else self._cost(candidate, usage)
        await self._record_plan(
            plan, candidate, 200, "ok", True, usage, cost, start.attempts, cache_hit=start.cache_hit
        )

    async def _stream_failed(
        self, start: StreamStart, outcome: str, began: float, status: int = 502
    ) -> None:
        candidate = start.candidate
        assert candidate is not None
        if status == 502:
            await self.repo.record_outcome(
                candidate.provider.name, False, (time.perf_counter() - began) * 1000, outcome
            )
        await self._record_plan(
            start.plan, candidate, status, outcome, True, None, 0.0, start.attempts
        )

    def _spawn(self, coro: Any) -> None:
        # Accounting must survive a client that hangs up mid-stream (the generator is closed).
        task = asyncio.ensure_future(coro)
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    async def drain(self) -> None:
        """Wait for accounting still in flight (shutdown)."""
        if self._background:
            await asyncio.gather(*self._background, return_exceptions=True)

    # -- accounting -------------------------------------------------------------------

    async def _record_plan(
        self,
        plan: Plan,
        candidate: Candidate | None,
        status: int,
        outcome: str,
        stream: bool,
        usage: ProviderUsage | None,
        cost: float,
        attempts: list[Attempt],
        *,
        cache_hit: bool = False,
    ) -> None:
        reason = plan.reason + ("; cache hit" if cache_hit else "")
        await self._record(
            caller=plan.caller,
            requested=plan.requested,
            status=status,
            outcome=outcome,
            stream=stream,
            started=plan.started,
            task=plan.task,
            findings=plan.findings,
            reason=reason,
            attempts=attempts,
            candidate=candidate,
            usage=usage,
            cost=cost,
            cache_hit=cache_hit,
        )

    async def _record(
        self,
        *,
        caller: str,
        requested: str,
        status: int,
        outcome: str,
        stream: bool,
        started: float,
        task: TaskSpec | None,
        findings: list[Finding],
        reason: str,
        attempts: list[Attempt],
        candidate: Candidate | None = None,
        usage: ProviderUsage | None = None,
        cost: float = 0.0,
        cache_hit: bool = False,
    ) -> None:
        record = UsageRecord(
            caller=caller,
            requested_model=requested,
            provider=candidate.provider.name if candidate else "none",
            model=candidate.model if candidate else "",
            status=status,
            outcome=outcome,
            stream=stream,
            cache_hit=cache_hit,
            tokens_in=usage.prompt_tokens if usage else 0,
            tokens_out=usage.completion_tokens if usage else 0,
            cost_usd=cost,
            duration_ms=(time.perf_counter() - started) * 1000,
            task=task.task if task else None,
            sensitive=bool(findings),
            finding_types=sorted({f.type for f in findings}),
            route_reason=reason,
            attempts=[a.model_dump() for a in attempts],
        )
        try:
            await self.repo.record_usage(record)
        except Exception:
            # The answer was given; losing its accounting is logged, not turned into an error.
            log.exception("usage_record_failed", caller=caller, provider=record.provider)
        log.info(
            "llm_call",
            caller=caller,
            requested_model=requested,
            provider=record.provider,
            model=record.model,
            status=status,
            outcome=outcome,
            cache_hit=cache_hit,
            tokens_in=record.tokens_in,
            tokens_out=record.tokens_out,
            sensitive=record.sensitive,
            finding_types=record.finding_types,
            route_reason=reason,
        )


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


# -- reports -------------------------------------------------------------------------


def _percentile(values: list[float], q: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    rank = max(0, min(len(ordered) - 1, int(-(-q * len(ordered) // 1)) - 1))
    return round(ordered[rank], 2)


async def _probe(provider: Provider) -> ProbeResult:
    started = time.perf_counter()
    try:
        await asyncio.wait_for(provider.check(), provider.config.timeout_s + 1)
    except ProviderError as exc:
        return ProbeResult(
            ok=False,
            duration_ms=round((time.perf_counter() - started) * 1000, 2),
            error=f"{exc.kind}: {exc.detail}",
        )
    except TimeoutError:
        return ProbeResult(
            ok=False, duration_ms=round((time.perf_counter() - started) * 1000, 2), error="timeout"
        )
    return ProbeResult(ok=True, duration_ms=round((time.perf_counter() - started) * 1000, 2))


async def provider_statuses(
    gateway: Gateway, http: ServiceClient, *, probe: bool
) -> list[ProviderStatus]:
    """Health, latency and error rate of every provider (probed live when asked)."""
    providers = list(gateway.providers.values())
    probes: list[ProbeResult | None] = [None] * len(providers)
    if probe:
        probes = list(await asyncio.gather(*(_probe(p) for p in providers)))
    statuses = []
    for provider, probed in zip(providers, probes, strict=True):
        recent, totals = await gateway.repo.provider_stats(provider.name)
        latencies = [float(r["ms"]) for r in recent if r.get("ok")]
        errors = sum(1 for r in recent if not r.get("ok"))
        error_rate = round(errors / len(recent), 3) if recent else None
        circuit = None
        base_url = getattr(provider, "base_url", None)
        if base_url is not None:
            circuit = str(http.breaker_for(base_url).state)
        health: Literal["healthy", "degraded", "down", "unknown"]
        if provider.kind == "offline":
            health = "healthy"  # nothing to reach
        elif probed is not None:
            health = "healthy" if probed.ok else "down"
        elif circuit == "open" or (len(recent) >= 3 and all(not r.get("ok") for r in recent[:3])):
            health = "down"
        elif error_rate is None:
            health = "unknown"
        elif error_rate >= 0.25:
            health = "degraded"
        else:
            health = "healthy"
        statuses.append(
            ProviderStatus(
                name=provider.name,
                kind=provider.kind,
                local=provider.local,
                base_url=base_url,
                models=provider.models,
                health=health,
                circuit=circuit,
                recent_calls=len(recent),
                recent_errors=errors,
                error_rate=error_rate,
                latency=LatencyStats(
                    avg_ms=round(sum(latencies) / len(latencies), 2) if latencies else None,
                    p50_ms=_percentile(latencies, 0.5),
                    p95_ms=_percentile(latencies, 0.95),
                ),
                total_calls=int(totals.get("calls", 0)),
                total_errors=int(totals.get("errors", 0)),
                last_error=totals.get("last_error"),
                last_error_at=totals.get("last_error_at"),
                probe=probed,
            )
        )
    return statuses


def _totals(row: dict[str, float]) -> UsageTotals:
    return UsageTotals(
        **{k: int(row.get(k, 0)) for k in METRICS_INT}, cost_usd=round(row.get("cost_usd", 0.0), 6)
    )


async def usage_report(
    gateway: Gateway, *, caller: str | None, since: float | None, provider: str | None
) -> UsageReport:
    """Usage totals from `since`, by caller and provider."""
    until = time.time()
    table, complete = await gateway.repo.usage_table(since, until)
    overall: dict[str, float] = defaultdict(float)
    by_provider: dict[str, dict[str, float]] = defaultdict(lambda: defaultdict(float))
    by_caller: dict[str, dict[str, dict[str, float]]] = defaultdict(dict)
    caller_totals: dict[str, dict[str, float]] = defaultdict(lambda: defaultdict(float))
    for (row_caller, row_provider), row in sorted(table.items()):
        if caller is not None and row_caller != caller:
            continue
        if provider is not None and row_provider != provider:
            continue
        by_caller[row_caller][row_provider] = row
        for metric, value in row.items():
            overall[metric] += value
            by_provider[row_provider][metric] += value
            caller_totals[row_caller][metric] += value

    def iso(ts: float) -> str:
        return datetime.fromtimestamp(ts, UTC).isoformat().replace("+00:00", "Z")

    return UsageReport(
        since=iso(since) if since is not None else None,
        until=iso(until),
        caller=caller,
        provider=provider,
        complete=complete,
        totals=_totals(overall),
        by_caller={
            name: CallerUsage(
                totals=_totals(caller_totals[name]),
                by_provider={p: _totals(r) for p, r in rows.items()},
            )
            for name, rows in by_caller.items()
        },
        by_provider={p: _totals(r) for p, r in by_provider.items()},
    )
