"""Serve an ASGI app with a real uvicorn server in a background thread (tests only)."""

from __future__ import annotations

import asyncio
import threading
import time
from typing import Any, Literal, Self

import uvicorn

from eco_shared._closing import Started
from eco_shared.redis_server import free_port


class ThreadedServer(Started):
    """Run `app` on 127.0.0.1:`port` until stopped; usable as a context manager."""

    def __init__(
        self, app: Any, port: int | None = None, lifespan: Literal["auto", "on", "off"] = "on"
    ) -> None:
        self.port = port or free_port()
        config = uvicorn.Config(
            app, host="127.0.0.1", port=self.port, log_level="warning", lifespan=lifespan
        )
        self.server = uvicorn.Server(config)
        self.thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout_s: float = 10.0) -> Self:
        self.thread = threading.Thread(target=lambda: asyncio.run(self.server.serve()), daemon=True)
        self.thread.start()
        deadline = time.monotonic() + timeout_s
        while not self.server.started:
            if not self.thread.is_alive():
                raise RuntimeError("server thread exited at start")
            if time.monotonic() > deadline:
                raise TimeoutError(f"server on port {self.port} did not start")
            time.sleep(0.01)
        return self

    def stop(self) -> None:
        self.server.should_exit = True
        if self.thread is not None:
            self.thread.join(10)
