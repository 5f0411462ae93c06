"""The console's own guard: `Host` and `Origin` checks and the security headers.

One pure-ASGI layer in front of every route. `Host` must name the console (its allowed
hosts); an unsafe method must come from the console's own origin (`Origin`, else
`Referer`), so another site cannot drive a signed-in browser; every response carries a
strict Content-Security-Policy unless the route set its own (the sandboxed document view).
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from urllib.parse import urlsplit

from starlette.types import ASGIApp, Message, Receive, Scope, Send

CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; frame-src 'self'; "
    "object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
)
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
# probes of discovery and the orchestrators of containers name the service however they reach it
UNGUARDED = ("/health", "/metrics")


def host_name(value: str) -> str:
    """`Host` without its port (`[::1]:5030` -> `[::1]`)."""
    value = value.strip().lower()
    if value.startswith("["):
        return value[: value.find("]") + 1] if "]" in value else value
    return value.rsplit(":", 1)[0] if value.count(":") == 1 else value


class ConsoleGuard:
    def __init__(self, app: ASGIApp, *, hosts: Iterable[str]) -> None:
        self.app = app
        self.hosts = frozenset(hosts)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"].startswith(UNGUARDED):
            await self.app(scope, receive, send)
            return
        headers = {k.decode("latin-1"): v.decode("latin-1") for k, v in scope["headers"]}
        host = headers.get("host", "")
        if host_name(host) not in self.hosts:
            await _refuse(send, 400, "Unknown host", f"This console does not answer to {host!r}.")
            return
        if scope["method"] not in SAFE_METHODS:
            source = headers.get("origin") or headers.get("referer") or ""
            parts = urlsplit(source)
            if source == "null" or not parts.netloc or parts.netloc.lower() != host.lower():
                await _refuse(
                    send,
                    403,
                    "Cross-origin request refused",
                    "A form of the console must be sent from the console's own pages.",
                )
                return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                present = {k.lower() for k, _ in message.get("headers", [])}
                extra = [
                    (b"content-security-policy", CSP.encode()),
                    (b"x-content-type-options", b"nosniff"),
                    (b"referrer-policy", b"same-origin"),
                    (b"x-frame-options", b"DENY"),
                    (b"cross-origin-opener-policy", b"same-origin"),
                ]
                message["headers"] = list(message.get("headers", [])) + [
                    (k, v) for k, v in extra if k not in present
                ]
            await send(message)

        await self.app(scope, receive, send_with_headers)


async def _refuse(send: Send, status: int, title: str, detail: str) -> None:
    body = json.dumps({"type": "about:blank", "title": title, "status": status, "detail": detail})
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/problem+json"),
                (b"content-security-policy", CSP.encode()),
                (b"x-content-type-options", b"nosniff"),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body.encode()})
