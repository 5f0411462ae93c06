"""The CLI's connection to a running ecosystem: discovery first, every other service by name.

Discovery's URL comes from `ECO_DISCOVERY_URL`, else from the state file of a running
`eco up`, else the default `http://127.0.0.1:5045`. Every call names its service, so it
carries a token for that service, exchanged from the CLI's API key (`local_auth.api_key`)
at the issuer.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from eco_cli.local_auth import api_key, issuer_url
from eco_cli.state import read_state
from eco_shared import locations
from eco_shared.adapters.ecosystem import Ecosystem
from eco_shared.auth import ApiKeyTokens
from eco_shared.directory import ServiceDirectory
from eco_shared.http import LazyTLSTransport, ServiceCallError, ServiceClient
from eco_shared.sse import aiter_sse


class NotRunningError(Exception):
    """Discovery does not answer: the ecosystem is not running (or not where we look)."""


def discovery_url(data_dir: Path) -> str:
    """Where discovery is: the environment, a running `eco up`, or the default."""
    given = locations.env_value(locations.DISCOVERY_URL_ENV)  # as EcoSettings reads it
    if given:
        return given.rstrip("/")
    state = read_state(data_dir)
    if state is not None and "discovery" in state.get("services", {}):
        return str(state["services"]["discovery"]).rstrip("/")
    return locations.DEFAULT_DISCOVERY_URL


@dataclass
class Eco(Ecosystem):
    """Every service's adapter, resolved through discovery (`Ecosystem`), plus raw calls
    and server-sent events for the commands no adapter covers."""

    issuer: str = ""

    async def call(
        self, service: str, method: str, path: str, *, base: str | None = None, **kwargs: Any
    ) -> Any:
        """One request to a service by name; its JSON body (AdapterError when it refuses)."""
        from eco_shared.adapters import AdapterError
        from eco_shared.http import read_problem

        url = (base or await self.directory.resolve(service)) + path
        response = await self.http.request(
            method, url, service=service, operation=f"{method} {path}", **kwargs
        )
        if response.status_code >= 300:
            raise AdapterError(service, response.status_code, read_problem(response))
        return response.json() if response.content else None

    async def sse(
        self, service: str, path: str, headers: dict[str, str] | None = None
    ) -> AsyncIterator[tuple[str, str, dict[str, Any]]]:
        """Server-sent events from a service as (id, event, data), until the stream ends."""
        base = await self.directory.resolve(service)
        response = await self.http.request(
            "GET",
            base + path,
            service=service,
            operation=f"GET {path}",
            headers=headers or {},
            timeout=httpx.Timeout(10.0, read=None),
            stream=True,
        )
        try:
            if response.status_code != 200:
                await response.aread()
                response.raise_for_status()
            async for event in aiter_sse(response.aiter_lines()):
                try:
                    data = event.json()
                except ValueError:
                    data = {"text": event.data}
                yield event.id, event.event, data if isinstance(data, dict) else {"value": data}
        finally:
            await response.aclose()


@asynccontextmanager
async def connect(data_dir: Path) -> AsyncIterator[Eco]:
    """Connect to the ecosystem; raise `NotRunningError` when discovery does not answer."""
    url = discovery_url(data_dir)
    key = api_key(data_dir)
    issuer = issuer_url(data_dir, url)
    # the CA bundle (~60 ms) is loaded on the first https:// call, once for both clients
    token_client = httpx.AsyncClient(
        timeout=httpx.Timeout(10.0, connect=2.0), transport=LazyTLSTransport(retries=2)
    )
    tokens = ApiKeyTokens(issuer, key, client=token_client) if key else None
    http = ServiceClient(
        service_name="cli",
        retries=2,
        timeout=httpx.Timeout(30.0, connect=2.0),
        transport=LazyTLSTransport(),
        tokens=tokens,
    )
    directory = ServiceDirectory(url, http)
    try:
        try:
            # liveness is public: a refused API key must not read as "not running"
            await http.request(
                "GET", f"{url}/health", service="discovery", operation="health", authenticate=False
            )
        except (ServiceCallError, httpx.HTTPError) as exc:
            raise NotRunningError(
                f"the ecosystem is not running: discovery does not answer at {url} "
                "(start it with `eco up`)"
            ) from exc
        yield Eco(http=http, directory=directory, issuer=issuer)
    finally:
        await directory.stop()
        await http.close()
        if tokens is not None:
            await tokens.aclose()
        await token_client.aclose()
