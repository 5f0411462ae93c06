"""`ServiceClient.request(..., stream=True)` (added to shared for provider streaming)."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncIterator

from fastapi import FastAPI
from fastapi.responses import StreamingResponse

from eco_shared.http import ServiceClient
from eco_shared.testing.servers import ThreadedServer


async def test_stream_returns_before_the_body_is_complete() -> None:
    release = threading.Event()
    app = FastAPI()

    @app.get("/events")
    async def events() -> StreamingResponse:
        async def body() -> AsyncIterator[bytes]:
            yield b"data: first\n\n"
            await asyncio.to_thread(release.wait, 10)
            yield b"data: second\n\n"

        return StreamingResponse(body(), media_type="text/event-stream")

    with ThreadedServer(app) as server:
        async with ServiceClient() as http:
            response = await http.request("GET", f"{server.url}/events", stream=True)
            lines = response.aiter_lines()
            assert await anext(lines) == "data: first"  # while the server still holds the rest
            release.set()
            rest = [line async for line in lines if line]
            await response.aclose()
    assert rest == ["data: second"]
