"""`Gateway`: the one service object routes talk to, over routing, answering, streaming,
accounting and reports."""

from __future__ import annotations

from collections.abc import AsyncIterator

from eco_llm_gateway.ledger import Ledger
from eco_llm_gateway.models import Caller, Plan, StreamStart
from eco_llm_gateway.providers import Provider
from eco_llm_gateway.repository import GatewayRepository
from eco_llm_gateway.service._access import model_not_allowed
from eco_llm_gateway.service._accounting import Accounting
from eco_llm_gateway.service._answers import Answerer, eco_info
from eco_llm_gateway.service._reports import provider_statuses, usage_report
from eco_llm_gateway.service._routing import UNKNOWN_MODEL, Router
from eco_llm_gateway.service._streaming import Streamer
from eco_llm_gateway.settings import LlmGatewaySettings
from eco_shared.auth import Principal
from eco_shared.http import ServiceClient
from eco_shared.models.llm_gateway import (
    ChatCompletion,
    ChatCompletionRequest,
    EcoInfo,
    ModelCard,
    ModelList,
    ProviderList,
    UsageLog,
    UsageReport,
)
from eco_shared.problems import NotFound


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
        ledger = Ledger(
            repository,
            max_pending=settings.accounting_max_pending,
            max_batch=settings.accounting_batch_size,
            linger_s=settings.accounting_flush_interval_s,
        )
        self.accounting = Accounting(repository, ledger)
        self.router = Router(settings, providers, repository, self.accounting)
        self._answerer = Answerer(providers, repository, self.accounting)
        self._streamer = Streamer(providers, repository, self.accounting)

    # -- chat -------------------------------------------------------------------------

    async def plan(self, request: ChatCompletionRequest, caller: Caller) -> Plan:
        """Validate, limit, classify and route a request (raises problem+json errors)."""
        return await self.router.plan(request, caller)

    async def complete(self, plan: Plan) -> ChatCompletion:
        """Answer a planned request in one piece."""
        return await self._answerer.complete(plan)

    async def open_stream(self, plan: Plan) -> StreamStart:
        """Start a planned request's stream (falls back before the first chunk only)."""
        return await self._streamer.open(plan)

    def sse(self, start: StreamStart, include_usage: bool) -> AsyncIterator[str]:
        """The started stream as OpenAI chunk events ending with `[DONE]`."""
        return self._streamer.sse(start, include_usage)

    def stream_info(self, start: StreamStart) -> EcoInfo:
        """The `eco` block of a started stream (for its headers)."""
        assert start.candidate is not None
        return eco_info(start.plan, start.candidate, start.attempts, start.cache_hit)

    async def drain(self) -> None:
        """Wait for accounting still in flight and write what is pending (shutdown)."""
        await self.accounting.drain()

    # -- reports ----------------------------------------------------------------------

    def models(self, caller: Caller | None = None) -> ModelList:
        """`auto` and `provider/model` for every configured model (the caller's key allows)."""
        auto = ModelCard(
            id="auto", owned_by="llm-gateway", provider="auto", kind="router", local=False
        )
        cards = [auto]
        for provider in self.providers.values():
            cards.extend(
                ModelCard(
                    id=f"{provider.name}/{model}",
                    owned_by=provider.name,
                    provider=provider.name,
                    kind=provider.kind,
                    local=provider.local,
                )
                for model in provider.models
                if caller is None or caller.allows(provider.name, model)
            )
        return ModelList(data=cards)

    def model(self, model_id: str, caller: Caller | None = None) -> ModelCard:
        """One model card (404 when no configured provider offers it, 403 when the caller's
        key does not allow it)."""
        card = next((c for c in self.models().data if c.id == model_id), None)
        if card is not None and caller is not None and card.id != "auto":
            if not caller.allows(card.provider, card.id.partition("/")[2]):
                raise model_not_allowed(caller, model_id)
        if card is None:
            raise NotFound(
                "Model",
                model_id,
                f"The model {model_id!r} does not exist; see GET /v1/models.",
                type=UNKNOWN_MODEL,
                model=model_id,
            )
        return card

    async def provider_list(self, http: ServiceClient, *, probe: bool) -> ProviderList:
        """Every provider's health, latency and error rate, and the `auto` order."""
        await self.accounting.flush()
        return ProviderList(
            providers=await provider_statuses(
                list(self.providers.values()), self.repo, http, probe_now=probe
            ),
            routing=[f"{p}/{m}" for p, m in self.settings.preference()],
        )

    async def usage(
        self,
        principal: Principal,
        *,
        caller: str | None,
        since: float | None,
        provider: str | None,
    ) -> UsageReport:
        """Usage totals from `since`, by caller and provider (the principal's own only,
        unless it holds `gateway:read:all`)."""
        await self.accounting.flush()
        return await usage_report(
            self.repo,
            caller=caller,
            since=since,
            provider=provider,
            only=None if principal.sees_all("gateway:read") else principal.subject,
        )

    async def usage_log(
        self,
        principal: Principal,
        *,
        caller: str | None,
        since: float | None,
        limit: int,
        run_id: str | None = None,
    ) -> UsageLog:
        """The newest calls first, each with its classification and route (the principal's
        own only, unless it holds `gateway:read:all`)."""
        if not principal.sees_all("gateway:read"):
            if caller not in (None, principal.subject):
                return UsageLog(entries=[])  # another principal's calls are not there for it
            caller = principal.subject
        await self.accounting.flush()
        entries = await self.repo.usage_log(since=since, caller=caller, limit=limit, run_id=run_id)
        return UsageLog(entries=entries)
