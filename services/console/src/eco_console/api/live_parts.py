"""Live pages made of parts (the overview, the services list): their upstream feeds
(discovery's watch, the runs' change feed, the error log) fanned in to one same-origin SSE
stream per page.

Each upstream change marks the parts it touches; after a short pause that gathers a burst
of changes into one redraw, each marked part is fetched again and sent whole, as the HTML
of its part of the page (the services list also every 15 s: a lease renewal is silent on
discovery's watch, and the list shows each lease's countdown). Every message is a
snapshot, so a reader who pauses loses nothing (the queue replays in order), and a
browser that reconnects (it sends `Last-Event-ID`) is sent every part at once and is
current again.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import deque
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import APIRouter, Header
from jinja2 import Environment
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
LastEventId = Annotated[str | None, Header(alias="Last-Event-ID", max_length=41)]
# each upstream: (service, path, query)
UPSTREAMS = {
    "services": ("discovery", "/watch", {}),
    "runs": ("orchestrator", "/runs/watch", {}),
    "errors": ("log-collector", "/logs/tail", {"level": "error"}),
}
Change = tuple[str, str, str | None]  # (upstream, the event's data, why it failed)


@dataclass(frozen=True, slots=True)
class LivePage:
    """What a live page follows and what it redraws."""

    touches: dict[str, set[str]]  # each upstream it follows -> the parts its changes touch
    templates: dict[str, list[tuple[str, str]]]  # each part -> its (SSE event, template)s
    prefix: str  # of the event ids: `ov-1`, `ov-2` …
    every_s: float | None = None  # every part drawn again this often, changed or not


OVERVIEW = LivePage(
    touches={"services": {"services"}, "runs": {"runs", "usage"}, "errors": {"errors"}},
    templates={
        "services": [("services", "_overview_services.html")],
        "runs": [("running", "_overview_running.html"), ("waiting", "_overview_waiting.html")],
        "errors": [("errors", "_overview_errors.html")],
        "usage": [("usage", "_overview_usage.html")],
    },
    prefix="ov",
)
SERVICES = LivePage(
    touches={"services": {"instances"}},
    templates={"instances": [("services", "_services_list.html")]},
    prefix="sv",
    every_s=15.0,  # a lease renewal is silent on the watch: its countdown is redrawn
)


async def _follow(
    eco: Eco, name: str, changed: asyncio.Queue[Change], opened: asyncio.Event
) -> None:
    """Put `name` on the queue at each upstream event; say why when the stream fails."""
    service, path, params = UPSTREAMS[name]
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


def live_parts(
    page: LivePage,
    eco: Eco,
    env: Environment,
    fetch_part: Callable[[str], Awaitable[dict[str, Any]]],
    last_event_id: str | None,
    heard: Callable[[str, str], None] = lambda _name, _data: None,
) -> EventSourceResponse:
    """The stream of `page`: each part `fetch_part` fills drawn again when an upstream
    touching it changes; `heard` sees each upstream event's data first."""

    async def redraw(parts: set[str], serial: int) -> list[ServerSentEvent]:
        contexts = await asyncio.gather(*(fetch_part(p) for p in sorted(parts)))
        return [
            ServerSentEvent(
                data=fragment(env, template, **context), event=event, id=f"{page.prefix}-{serial}"
            )
            for part, context in zip(sorted(parts), contexts, strict=True)
            for event, template in page.templates[part]
        ]

    async def stream() -> AsyncIterator[ServerSentEvent]:
        changed: asyncio.Queue[Change] = asyncio.Queue()
        opened = {name: asyncio.Event() for name in page.touches}
        tasks = [asyncio.create_task(_follow(eco, n, changed, opened[n])) for n in page.touches]
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
                for event in await redraw(set(page.templates), serial):
                    yield event
            while True:
                try:
                    first = await asyncio.wait_for(changed.get(), timeout=page.every_s)
                except TimeoutError:  # nothing changed for `every_s`: all drawn again
                    serial += 1
                    for event in await redraw(set(page.templates), serial):
                        yield event
                    continue
                await asyncio.sleep(GATHER_S)
                batch = [first]
                while not changed.empty():
                    batch.append(changed.get_nowait())
                parts: set[str] = set()
                for name, data, problem in batch:
                    if problem is not None:
                        html = fragment(env, "_stream_error.html", message=problem)
                        yield ServerSentEvent(data=html, event="problem")
                        continue
                    heard(name, data)
                    parts |= page.touches[name]
                if parts:
                    serial += 1
                    for event in await redraw(parts, serial):
                        yield event
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)

    return EventSourceResponse(stream(), ping=15)


@router.get(
    "/live/overview",
    summary="The overview's parts, redrawn when the registry, a run or the error log changes",
    response_class=EventSourceResponse,
    responses=problem_responses(401),
)
async def overview_live(
    user: UserDep, resources: ResourcesDep, last_event_id: LastEventId = None
) -> EventSourceResponse:
    eco = user.eco
    errors: deque[LogRecordOut] = deque(maxlen=overview.RECENT)  # the ones the tail sent

    def heard(name: str, data: str) -> None:
        if name == "errors":
            with contextlib.suppress(ValueError):
                errors.append(LogRecordOut.model_validate_json(data))

    async def fetch_part(part: str) -> dict[str, Any]:
        if part == "errors":
            return await overview.errors(eco, errors)
        return await overview.PARTS[part](eco)

    return live_parts(OVERVIEW, eco, resources.templates, fetch_part, last_event_id, heard)


@router.get(
    "/live/services",
    summary="The services list, redrawn when an instance registers, changes health or leaves",
    response_class=EventSourceResponse,
    responses=problem_responses(401),
)
async def services_live(
    user: UserDep, resources: ResourcesDep, last_event_id: LastEventId = None
) -> EventSourceResponse:
    async def fetch_part(part: str) -> dict[str, Any]:
        return await overview.instances(user.eco)

    return live_parts(SERVICES, user.eco, resources.templates, fetch_part, last_event_id)
