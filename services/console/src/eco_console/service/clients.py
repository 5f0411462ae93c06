"""The signed-in user's view of the ecosystem: adapters whose calls carry the user's tokens.

Each session gets a `ServiceClient` whose tokens are exchanged from the user's API key at
the issuer (`ApiKeyTokens`), on one shared connection pool; the `ServiceDirectory` stays
the console's own (finding a service is the console's business, calling it the user's).
The clients are a bounded in-memory cache over the sessions kept in Redis.
"""

from __future__ import annotations

from collections import OrderedDict

import httpx

from eco_shared.adapters.ecosystem import Ecosystem as Eco
from eco_shared.auth import ApiKeyTokens
from eco_shared.directory import ServiceDirectory
from eco_shared.http import ServiceClient
from eco_shared.models.discovery_auth import WhoAmI


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
