"""`LazyTLSTransport`: an httpx transport that loads the CA bundle on its first https call."""

from __future__ import annotations

import functools
import ssl
from typing import Any

import httpx


@functools.cache
def verifying_tls_context() -> ssl.SSLContext:
    """httpx's default verifying context (certifi, or `SSL_CERT_FILE`/`SSL_CERT_DIR`), made
    once per process: loading the CA bundle takes tens of milliseconds."""
    return httpx.create_ssl_context()


def _trusts_nothing() -> ssl.SSLContext:
    # verifies, with no CA loaded: the plain transport carries http:// only, and any TLS
    # handshake it were ever asked for would fail closed
    return ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)


class LazyTLSTransport(httpx.AsyncBaseTransport):
    """`httpx.AsyncHTTPTransport` whose verifying TLS transport is made on the first
    `https://` request: a short-lived client that calls only `http://` (the `eco` CLI on
    one machine) never loads the CA bundle. Keyword arguments go to both transports."""

    def __init__(self, **transport_kwargs: Any) -> None:
        if "verify" in transport_kwargs:
            raise TypeError("LazyTLSTransport always verifies, with httpx's default context")
        self._kwargs = transport_kwargs
        self._plain = httpx.AsyncHTTPTransport(verify=_trusts_nothing(), **transport_kwargs)
        self._tls: httpx.AsyncHTTPTransport | None = None

    @property
    def tls_loaded(self) -> bool:
        """True once an https request has made the verifying transport."""
        return self._tls is not None

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        if request.url.scheme != "https":
            return await self._plain.handle_async_request(request)
        if self._tls is None:
            self._tls = httpx.AsyncHTTPTransport(verify=verifying_tls_context(), **self._kwargs)
        return await self._tls.handle_async_request(request)

    async def aclose(self) -> None:
        await self._plain.aclose()
        if self._tls is not None:
            await self._tls.aclose()
