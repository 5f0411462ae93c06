"""The overview's live stream: discovery's watch, the runs' change feed and the error log,
fanned in to one same-origin SSE stream.

Each upstream change marks the parts it touches; after a short pause that gathers a burst
of changes into one redraw, each marked part is fetched again and sent whole, as the HTML
of its part of the page. Every message is a snapshot, so a reader who pauses loses
nothing (the queue replays in order), and a browser that reconnects (it sends
`Last-Event-ID`) is sent every part at once and is current again.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import deque
from collections.abc import AsyncIterator, Awaitable
from typing import Annotated

from fastapi import APIRouter, Header
from sse_starlette import EventSourceResponse, ServerSentEvent

from eco_shared.auth import PUBLIC
from eco_shared.models.log_collector import LogRecordOut
from eco_shared.problems import problem_responses

from ..deps import ResourcesDep, UserDep
from ..service import overview
from ..service.clients import Eco
from ..service.fetch import explain
from .live import fragment, upstream

router = APIRouter(tags=["live"], dependencies=[PUBLIC])
GATHER_S = 0.3  # changes within this long after the first are one redraw
RETRY_S = 2.0  # an upstream stream that ended or failed is opened again after this long
READY_WAIT_S = 10.0  # how long the first message waits for every upstream to answer
# the parts of the page each part's fetch fills: (SSE event name, template)
TEMPLATES = {
    "services": [("services", "_overview_services.html")],
    "runs": [("running", "_overview_running.html"), ("waiting", "_overview_waiting.html")],
    "errors": [("errors", "_overview_errors.html")],
    "usage": [("usage", "_overview_usage.html")],
}


# each upstream: (service, path, query), and the parts of the page its changes touch
SOURCES = {
    "services": ("discovery", "/watch", {}),
    "runs": ("orchestrator", "/runs/watch", {}),
    "errors": ("log-collector", "/logs/tail", {"level": "error"}),
}
TOUCHES = {"services": {"services"}, "runs": {"runs", "usage"}, "errors": {"errors"}}
Change = tuple[str, str, str | None]  # (source, the event's data, why it failed)


async def _follow(
    eco: Eco, name: str, changed: asyncio.Queue[Change], opened: asyncio.Event
) -> None:
    """Put `name` on the queue at each upstream event; say why when the stream fails."""
    service, path, params = SOURCES[name]
    while True:
        try:
            async for _, _, data in upstream(
                eco, service, path, params=params, last_id=None, on_open=opened.set
            ):
                await changed.put((name, data, None))
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # noqa: BLE001 - the reader sees why; the stream is reopened
            message, _ = explain(service, exc)
            await changed.put((name, "", message))
        await asyncio.sleep(RETRY_S)


@router.get(
    "/live/overview",
    summary="The overview's parts, redrawn when the registry, a run or the error log changes",
    response_class=EventSourceResponse,
    responses=problem_responses(401),
)
async def overview_live(
    user: UserDep,
    resources: ResourcesDep,
    last_event_id: Annotated[str | None, Header(alias="Last-Event-ID", max_length=41)] = None,
) -> EventSourceResponse:
    env = resources.templates
    eco = user.eco

    heard: deque[LogRecordOut] = deque(maxlen=overview.RECENT)  # errors the tail sent

    async def redraw(parts: set[str], serial: int) -> list[ServerSentEvent]:
        fetched: list[Awaitable[dict[str, object]]] = [
            overview.errors(eco, heard) if p == "errors" else overview.PARTS[p](eco)
            for p in sorted(parts)
        ]
        contexts = await asyncio.gather(*fetched)
        events = []
        for part, context in zip(sorted(parts), contexts, strict=True):
            for event, template in TEMPLATES[part]:
                html = fragment(env, template, **context)
                events.append(ServerSentEvent(data=html, event=event, id=f"ov-{serial}"))
        return events

    async def stream() -> AsyncIterator[ServerSentEvent]:
        changed: asyncio.Queue[Change] = asyncio.Queue()
        opened = {name: asyncio.Event() for name in SOURCES}
        tasks = [asyncio.create_task(_follow(eco, name, changed, opened[name])) for name in SOURCES]
        serial = 0
        try:
            # every upstream is followed from here: said on the page (tests wait for it)
            waiters = [asyncio.create_task(e.wait()) for e in opened.values()]
            await asyncio.wait(waiters, timeout=READY_WAIT_S)
            for waiter in waiters:
                waiter.cancel()
            ready = [name for name, e in opened.items() if e.is_set()]
            said = f"Following {', '.join(ready)}." if ready else "Following nothing yet."
            yield ServerSentEvent(data=said, event="following")
            if last_event_id:  # a reconnect: what changed while away is in no queue
                serial += 1
                for event in await redraw(set(TEMPLATES), serial):
                    yield event
            while True:
                first = await changed.get()
                await asyncio.sleep(GATHER_S)
                batch = [first]
                while not changed.empty():
                    batch.append(changed.get_nowait())
                parts: set[str] = set()
                for name, data, problem in batch:
                    if name == "errors" and problem is None:
                        with contextlib.suppress(ValueError):
                            heard.append(LogRecordOut.model_validate_json(data))
                    if problem is not None:
                        html = fragment(env, "_stream_error.html", message=problem)
                        yield ServerSentEvent(data=html, event="problem")
                    else:
                        parts |= TOUCHES[name]
                if parts:
                    serial += 1
                    for event in await redraw(parts, serial):
                        yield event
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)

    return EventSourceResponse(stream(), ping=15)
