"""The signed-in user's view of the ecosystem: adapters whose calls carry the user's tokens.

Each session gets a `ServiceClient` whose tokens are exchanged from the user's API key at
the issuer (`ApiKeyTokens`), on one shared connection pool; the `ServiceDirectory` stays
the console's own (finding a service is the console's business, calling it the user's).
The clients are a bounded in-memory cache over the sessions kept in Redis.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass
from functools import cached_property

import httpx

from eco_shared.adapters.discovery import DiscoveryAdapter
from eco_shared.adapters.doc_store import DocStoreAdapter
from eco_shared.adapters.llm_gateway import LlmGatewayAdapter
from eco_shared.adapters.log_collector import LogCollectorAdapter
from eco_shared.adapters.orchestrator import OrchestratorAdapter
from eco_shared.adapters.prompt_store import PromptStoreAdapter
from eco_shared.auth import ApiKeyTokens
from eco_shared.directory import ServiceDirectory
from eco_shared.http import ServiceClient
from eco_shared.models.discovery_auth import WhoAmI


@dataclass
class Eco:
    """Adapters of every service, calling as one user."""

    http: ServiceClient
    directory: ServiceDirectory
    discovery_url: str

    @cached_property
    def discovery(self) -> DiscoveryAdapter:
        return DiscoveryAdapter(self.http, base_url=self.discovery_url)

    @cached_property
    def docs(self) -> DocStoreAdapter:
        return DocStoreAdapter(self.http, self.directory)

    @cached_property
    def logs(self) -> LogCollectorAdapter:
        return LogCollectorAdapter(self.http, self.directory)

    @cached_property
    def orchestrator(self) -> OrchestratorAdapter:
        return OrchestratorAdapter(self.http, self.directory)

    @cached_property
    def gateway(self) -> LlmGatewayAdapter:
        return LlmGatewayAdapter(self.http, self.directory)

    @cached_property
    def prompts(self) -> PromptStoreAdapter:
        return PromptStoreAdapter(self.http, self.directory)


class UserClients:
    """One `Eco` per signed-in session, least recently used dropped first."""

    def __init__(
        self,
        issuer_url: str,
        discovery_url: str,
        directory: ServiceDirectory,
        *,
        capacity: int,
    ) -> None:
        self.issuer_url = issuer_url
        self.discovery_url = discovery_url
        self.directory = directory
        self.capacity = capacity
        self.pool = httpx.AsyncClient(timeout=httpx.Timeout(15.0, connect=2.0))
        self._by_session: OrderedDict[str, tuple[ApiKeyTokens, Eco]] = OrderedDict()

    def _client(self, tokens: ApiKeyTokens) -> ServiceClient:
        return ServiceClient(service_name="console", client=self.pool, retries=2, tokens=tokens)

    def for_session(self, session_id: str, api_key: str) -> Eco:
        hit = self._by_session.get(session_id)
        if hit is not None:
            self._by_session.move_to_end(session_id)
            return hit[1]
        tokens = ApiKeyTokens(self.issuer_url, api_key, client=self.pool)
        eco = Eco(self._client(tokens), self.directory, self.discovery_url)
        self._by_session[session_id] = (tokens, eco)
        while len(self._by_session) > self.capacity:
            self._by_session.popitem(last=False)
        return eco

    def forget(self, session_id: str) -> None:
        self._by_session.pop(session_id, None)

    async def verify(self, api_key: str) -> WhoAmI:
        """Who the key belongs to: exchanged at the issuer, then asked of discovery.

        Raises `TokenError` when the issuer refuses the key.
        """
        tokens = ApiKeyTokens(self.issuer_url, api_key, client=self.pool)
        eco = Eco(self._client(tokens), self.directory, self.discovery_url)
        return await eco.discovery.whoami()

    async def aclose(self) -> None:
        self._by_session.clear()
        await self.pool.aclose()
