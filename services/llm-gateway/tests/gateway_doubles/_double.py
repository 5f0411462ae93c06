"""`ProviderDouble`: a real HTTP server speaking one provider's wire protocol."""

from __future__ import annotations

import json
import re
import threading
from collections import deque
from typing import Any

from fastapi import Request

from eco_shared.testing.servers import ThreadedServer
from gateway_doubles._anthropic import anthropic_app
from gateway_doubles._common import Behavior
from gateway_doubles._openai import openai_app


class ProviderDouble:
    """A real HTTP server speaking one provider's wire protocol, with scripted failures."""

    def __init__(self, protocol: str, key: str) -> None:
        self.protocol = protocol
        self.key = key
        self.script: deque[Behavior] = deque()
        self.requests: list[dict[str, Any]] = []
        self.gate = threading.Event()
        self.gate.set()
        self.app = openai_app(self) if protocol == "openai" else anthropic_app(self)
        self.server = ThreadedServer(self.app)

    @property
    def url(self) -> str:
        return self.server.url

    @property
    def base_url(self) -> str:
        """What a provider config's base_url is for this protocol."""
        return f"{self.url}/v1" if self.protocol == "openai" else self.url

    def then(self, *behaviors: Behavior) -> ProviderDouble:
        self.script.extend(behaviors)
        return self

    def chat_requests(self) -> list[dict[str, Any]]:
        return [r for r in self.requests if r["path"].endswith(("completions", "messages"))]

    def _next(self) -> Behavior:
        return self.script.popleft() if self.script else Behavior()

    async def _record(self, request: Request) -> dict[str, Any]:
        raw = await request.body()
        try:
            body = json.loads(raw) if raw else None
        except ValueError:
            body = None
        entry = {"path": request.url.path, "headers": dict(request.headers), "json": body}
        self.requests.append(entry)
        return entry


def provider_config(
    double: ProviderDouble, name: str | None = None, **extra: Any
) -> dict[str, Any]:
    """A provider config entry pointing at a double."""
    model = "gpt-double" if double.protocol == "openai" else "claude-double"
    return {
        "name": name or double.protocol,
        "kind": double.protocol,
        "base_url": double.base_url,
        "api_key": double.key,
        "models": [model],
        **extra,
    }


OFFLINE: dict[str, Any] = {"name": "offline", "kind": "offline"}


def sse_data(text: str) -> list[str]:
    """The `data:` payloads of an SSE body, in order."""
    payloads = []
    for block in re.split(r"\r?\n\r?\n", text):
        lines = [line[5:].lstrip() for line in block.splitlines() if line.startswith("data:")]
        if lines:
            payloads.append("\n".join(lines))
    return payloads
