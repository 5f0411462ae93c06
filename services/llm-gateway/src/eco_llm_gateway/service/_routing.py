"""Routing: limits, the task spec, model resolution, what the caller's key allows (models,
budget, rate limit), the sensitive-content policy (local providers only) and the cache key,
all decided before any provider is called."""

from __future__ import annotations

import hashlib
import json

import structlog

from eco_llm_gateway.models import Caller, Candidate, Plan
from eco_llm_gateway.protocol import TaskSpec, TaskSpecError, find_task
from eco_llm_gateway.providers import Message, Provider, ProviderRequest
from eco_llm_gateway.repository import GatewayRepository
from eco_llm_gateway.sensitive import detect_messages
from eco_llm_gateway.service._access import Access
from eco_llm_gateway.service._accounting import Accounting
from eco_llm_gateway.service._params import keep_honouring, requested
from eco_llm_gateway.settings import LlmGatewaySettings
from eco_shared.models.llm_gateway import ChatCompletionRequest, Finding
from eco_shared.problems import NotFound, ProblemError, TooLarge, ValidationProblem

log = structlog.get_logger(__name__)

UNKNOWN_MODEL = "urn:eco:problem:unknown-model"


def _normalise(text: str) -> str:
    return "\n".join(line.rstrip() for line in text.strip().splitlines())


def _unknown_model(requested: str, detail: str) -> ProblemError:
    return NotFound(
        "Model", requested, detail, title="Unknown model", type=UNKNOWN_MODEL, model=requested
    )


class Router:
    """Turns a request into a `Plan`, or a problem+json refusal."""

    def __init__(
        self,
        settings: LlmGatewaySettings,
        providers: dict[str, Provider],
        repository: GatewayRepository,
        accounting: Accounting,
    ) -> None:
        self.settings = settings
        self.providers = providers
        self.repo = repository
        self.accounting = accounting
        self.access = Access(settings, repository, accounting)
        fingerprint = json.dumps(
            [[p.name, p.kind, p.models, p.local] for p in settings.providers]
            + [settings.preference()],
            sort_keys=True,
        )
        self._config_hash = hashlib.sha256(fingerprint.encode()).hexdigest()[:16]

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
            raise _unknown_model(
                requested,
                f"Provider {name!r} offers no model {model!r}; it offers {provider.models}.",
            )
        # A bare model name: the first provider offering it, preferred ones first.
        preferred = [p for p, _ in self.settings.preference()]
        ranked = preferred + [n for n in self.providers if n not in preferred]
        owners = [n for n in ranked if requested in self.providers[n].models]
        if owners:
            return [Candidate(self.providers[owners[0]], requested)], "requested model"
        raise _unknown_model(
            requested,
            f"No configured provider or model is called {requested!r}; "
            "see GET /v1/models (or use 'auto').",
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
            raise ValidationProblem.field(
                "body",
                "messages",
                "too many messages",
                detail=f"{len(request.messages)} messages; the limit is {s.max_messages}.",
                title="Too many messages",
            )
        size = sum(len(m.text) for m in request.messages)
        if size > s.max_prompt_chars:
            raise TooLarge(
                f"The prompt is {size} characters; the limit is {s.max_prompt_chars}.",
                title="Prompt too large",
                type="urn:eco:problem:prompt-too-large",
                limit_chars=s.max_prompt_chars,
            )
        if size == 0 or all(not m.text.strip() for m in request.messages):
            raise ValidationProblem.field(
                "body",
                "messages",
                "every message is empty",
                detail="Every message is empty.",
                title="Empty messages",
            )
        for name in ("max_tokens", "max_completion_tokens"):
            limit = getattr(request, name)
            if limit is not None and limit > s.max_output_tokens:
                raise ValidationProblem.field(
                    "body",
                    name,
                    "out of range",
                    type="range",
                    detail=f"{name} is {limit}; it must be between 1 and {s.max_output_tokens}.",
                    title=f"{name} out of range",
                )

    def _cache_key(
        self, request: ChatCompletionRequest, caller: Caller, sensitive: bool
    ) -> str | None:
        if not self.settings.cache_enabled or sensitive or request.cache is False:
            return None
        if request.cache is None and request.temperature != 0:
            return None
        normalised = {
            "v": 2,
            # One principal's cache: a hit must not tell anyone what another one asked.
            "caller": caller.subject,
            "config": self._config_hash,
            "model": request.model,
            "messages": [
                ["system" if m.role == "developer" else m.role, _normalise(m.text)]
                for m in request.messages
            ],
            "temperature": request.temperature,
            "top_p": request.top_p,
            "max_tokens": request.output_limit,
            "stop": sorted(request.stops),
            "json": request.json_mode,
            "sampling": [
                request.seed,
                request.presence_penalty,
                request.frequency_penalty,
                sorted((request.logit_bias or {}).items()),
            ],
        }
        blob = json.dumps(normalised, sort_keys=True, ensure_ascii=False)
        return hashlib.sha256(blob.encode()).hexdigest()

    async def plan(self, request: ChatCompletionRequest, caller: Caller) -> Plan:
        """Validate, limit, classify and route a request (raises problem+json errors)."""
        self._check_limits(request)
        pairs = [(m.role, m.text) for m in request.messages]
        try:
            task, _ = find_task(pairs)
        except TaskSpecError as exc:
            raise ValidationProblem(
                exc.errors, exc.detail, title="Invalid task spec", type="urn:eco:problem:task-spec"
            ) from exc
        candidates, reason = self.resolve(request.model)
        candidates, reason = await self.access.allowed(request, caller, task, candidates, reason)
        await self.access.admit(request, caller, task)
        findings = [
            Finding(type=d.type, detail=d.detail, message=index, start=d.start, end=d.end)
            for index, d in detect_messages([text for _, text in pairs])
        ]
        fallback = request.model == "auto"
        if findings:
            candidates, reason = await self._keep_local(
                request, caller, task, findings, candidates, fallback
            )
            candidates, reason = await self.access.allowed(
                request, caller, task, candidates, reason
            )
            fallback = True
        candidates, reason = keep_honouring(request, candidates, reason)
        provider_request = ProviderRequest(
            model="",
            messages=tuple(
                Message("system" if role == "developer" else role, text) for role, text in pairs
            ),
            temperature=request.temperature,
            top_p=request.top_p,
            max_tokens=request.output_limit,
            stop=tuple(request.stops),
            json_mode=request.json_mode,
            task=task,
            seed=request.seed,
            presence_penalty=request.presence_penalty,
            frequency_penalty=request.frequency_penalty,
            logit_bias=tuple(sorted((request.logit_bias or {}).items())),
        )
        return Plan(
            requested=request.model,
            candidates=candidates,
            reason=reason,
            fallback=fallback,
            findings=findings,
            task=task,
            provider_request=provider_request,
            cache_key=self._cache_key(request, caller, bool(findings)),
            caller=caller,
            params=requested(request),
        )

    async def _keep_local(
        self,
        request: ChatCompletionRequest,
        caller: Caller,
        task: TaskSpec | None,
        findings: list[Finding],
        candidates: list[Candidate],
        fallback: bool,
    ) -> tuple[list[Candidate], str]:
        """Only local providers for a prompt with sensitive content (or a 422 when none)."""
        types = sorted({f.type for f in findings})
        log.warning(
            "sensitive_content_detected",
            caller=caller.subject,
            finding_types=types,
            spans=[[f.message, f.start, f.end] for f in findings],
        )
        remote = [c for c in candidates if not c.provider.local]
        local = [c for c in candidates if c.provider.local]
        if remote or not local:
            local = self._local_candidates() if fallback or not local else local
        if not local:
            await self.accounting.refused(
                request,
                caller,
                task,
                findings,
                status=422,
                outcome="refused_sensitive",
                reason="sensitive content and no local provider",
            )
            raise ProblemError(
                422,
                f"The prompt contains sensitive content ({', '.join(types)}) and no local "
                "provider is configured; it is not sent to a remote provider.",
                title="Sensitive content refused",
                type="urn:eco:problem:sensitive-content",
                findings=[f.model_dump() for f in findings],
            )
        note = f"sensitive content ({', '.join(types)}): local providers only"
        if remote and not fallback:
            note += f"; {remote[0].label} is not local, so the request was rerouted"
        return local, note
