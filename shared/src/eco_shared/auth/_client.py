"""Getting tokens: a service's own (client credentials), a user's (API key), a run's (grant).

The token endpoint is `POST {issuer}/auth/token` (form-encoded, RFC 6749 / RFC 8693):

    grant_type=client_credentials  client_id=<service> client_secret=... audience=<target>
                                   instance_id=<this instance>
    grant_type=urn:ietf:params:oauth:grant-type:token-exchange, with subject_token_type
      urn:eco:params:oauth:token-type:api-key     a user's API key -> a token for `audience`
      urn:ietf:params:oauth:token-type:access_token + requested_token_type=RUN_GRANT
        + resource=urn:eco:run:<id> + client credentials  a user's token -> a run grant
      urn:eco:params:oauth:token-type:run-grant + client credentials + audience
                                                  a run grant -> a token acting for the user
      urn:ietf:params:oauth:token-type:jwt        a Kubernetes service-account token

Tokens are cached per audience and fetched again a minute before they expire. While a run
executes inside `acting_for(grant)`, every token the service asks for acts for the run's
user (RFC 8693 `act`), so what the run stores is the user's and says who acted.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Iterator
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any, Protocol

import httpx

from eco_shared.http._errors import ServiceCallError

TOKEN_EXCHANGE = "urn:ietf:params:oauth:grant-type:token-exchange"
API_KEY_TYPE = "urn:eco:params:oauth:token-type:api-key"
ACCESS_TOKEN_TYPE = "urn:ietf:params:oauth:token-type:access_token"
RUN_GRANT_TYPE = "urn:eco:params:oauth:token-type:run-grant"
JWT_TYPE = "urn:ietf:params:oauth:token-type:jwt"
REFRESH_MARGIN_S = 60.0

_acting: ContextVar[str | None] = ContextVar("eco_acting_for", default=None)


class TokenError(ServiceCallError):
    """The issuer refused a token (or could not be reached); `status` is its HTTP status."""

    def __init__(
        self, message: str, *, status: int | None = None, error: str = "", target: str = ""
    ) -> None:
        super().__init__(message, target=target or "issuer")
        self.status = status
        self.error = error


class TokenProvider(Protocol):
    async def token_for(self, audience: str) -> str: ...


@contextlib.contextmanager
def acting_for(grant: str | None) -> Iterator[None]:
    """Within this block, service calls carry tokens acting for the grant's user."""
    reset = _acting.set(grant)
    try:
        yield
    finally:
        _acting.reset(reset)


def current_grant() -> str | None:
    return _acting.get()


@dataclass
class _Cached:
    token: str
    refresh_at: float


class _TokenEndpoint:
    """One issuer's token endpoint, with a per-key cache of what it minted."""

    def __init__(self, issuer_url: str, client: httpx.AsyncClient | None = None) -> None:
        self.url = issuer_url.rstrip("/") + "/auth/token"
        self._owns = client is None
        self._client = client or httpx.AsyncClient(
            timeout=httpx.Timeout(10.0, connect=2.0), transport=httpx.AsyncHTTPTransport(retries=2)
        )
        self._cache: dict[tuple[str, ...], _Cached] = {}
        self._locks: dict[tuple[str, ...], asyncio.Lock] = {}

    async def post(self, form: dict[str, str]) -> dict[str, Any]:
        try:
            response = await self._client.post(self.url, data=form)
        except httpx.HTTPError as exc:
            raise TokenError(
                f"the issuer at {self.url} cannot be reached: {exc}", target=self.url
            ) from exc
        try:
            body = response.json()
        except ValueError:
            body = {}
        if response.status_code != 200 or not isinstance(body, dict):
            detail = body.get("error_description") or body.get("detail") or response.text[:200]
            raise TokenError(
                f"the issuer refused the token: {detail}",
                status=response.status_code,
                error=str(body.get("error", "")),
                target=self.url,
            )
        return body

    async def cached(self, key: tuple[str, ...], form: dict[str, str]) -> str:
        hit = self._cache.get(key)
        if hit is not None and hit.refresh_at > time.monotonic():
            return hit.token
        lock = self._locks.setdefault(key, asyncio.Lock())
        async with lock:
            hit = self._cache.get(key)
            if hit is not None and hit.refresh_at > time.monotonic():
                return hit.token
            body = await self.post(form)
            lifetime = float(body.get("expires_in", 300))
            token = str(body["access_token"])
            margin = min(REFRESH_MARGIN_S, lifetime / 2)
            self._cache[key] = _Cached(token, time.monotonic() + lifetime - margin)
            return token

    def forget(self, key: tuple[str, ...]) -> None:
        self._cache.pop(key, None)

    async def aclose(self) -> None:
        if self._owns:
            await self._client.aclose()


class ServiceTokens:
    """A service's tokens: its own by client credentials, or its run's user's by grant."""

    def __init__(
        self,
        issuer_url: str,
        service: str,
        secret: str,
        *,
        instance_id: str | None = None,
        client: httpx.AsyncClient | None = None,
    ) -> None:
        self.service = service
        self.instance_id = instance_id
        self._secret = secret
        self._endpoint = _TokenEndpoint(issuer_url, client)
        # set once this instance holds a discovery lease (tokens for others need one)
        self.registered: asyncio.Event | None = None

    def _client_form(self) -> dict[str, str]:
        form = {"client_id": self.service, "client_secret": self._secret}
        if self.instance_id:
            form["instance_id"] = self.instance_id
        return form

    async def token_for(self, audience: str) -> str:
        grant = _acting.get()
        if grant is not None:
            return await self.delegated_token(grant, audience)
        if audience != "discovery" and self.registered is not None:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.registered.wait(), timeout=10)
        form = {"grant_type": "client_credentials", "audience": audience, **self._client_form()}
        return await self._endpoint.cached(("own", audience), form)

    async def delegated_token(self, grant: str, audience: str) -> str:
        """A token for `audience` acting for the user the run grant belongs to."""
        form = {
            "grant_type": TOKEN_EXCHANGE,
            "subject_token": grant,
            "subject_token_type": RUN_GRANT_TYPE,
            "audience": audience,
            **self._client_form(),
        }
        return await self._endpoint.cached(("grant", grant, audience), form)

    async def run_grant(self, user_token: str, run_id: str) -> tuple[str, float]:
        """Turn the token a user called us with into a grant bound to one run: (grant, ttl)."""
        body = await self._endpoint.post(
            {
                "grant_type": TOKEN_EXCHANGE,
                "subject_token": user_token,
                "subject_token_type": ACCESS_TOKEN_TYPE,
                "requested_token_type": RUN_GRANT_TYPE,
                "resource": f"urn:eco:run:{run_id}",
                **self._client_form(),
            }
        )
        return str(body["access_token"]), float(body.get("expires_in", 0))

    def forget(self, audience: str) -> None:
        """Drop a cached token (the target refused it): the next call fetches a new one."""
        self._endpoint.forget(("own", audience))
        grant = _acting.get()
        if grant is not None:
            self._endpoint.forget(("grant", grant, audience))

    async def aclose(self) -> None:
        await self._endpoint.aclose()


class ApiKeyTokens:
    """A user's tokens, exchanged from their API key per audience (the CLI, tests)."""

    def __init__(
        self, issuer_url: str, api_key: str, *, client: httpx.AsyncClient | None = None
    ) -> None:
        self._key = api_key
        self._endpoint = _TokenEndpoint(issuer_url, client)

    async def token_for(self, audience: str) -> str:
        form = {
            "grant_type": TOKEN_EXCHANGE,
            "subject_token": self._key,
            "subject_token_type": API_KEY_TYPE,
            "audience": audience,
        }
        return await self._endpoint.cached(("key", audience), form)

    def forget(self, audience: str) -> None:
        self._endpoint.forget(("key", audience))

    async def aclose(self) -> None:
        await self._endpoint.aclose()


class BearerAuth(httpx.Auth):
    """httpx auth that adds a provider's token for one audience to every request."""

    def __init__(self, provider: TokenProvider, audience: str) -> None:
        self.provider = provider
        self.audience = audience

    async def async_auth_flow(
        self, request: httpx.Request
    ) -> Any:  # AsyncGenerator[httpx.Request, httpx.Response]
        token = await self.provider.token_for(self.audience)
        request.headers["Authorization"] = f"Bearer {token}"
        yield request
