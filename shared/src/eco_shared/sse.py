"""Reading server-sent events: one parser for every client of an SSE stream.

Discovery's `/watch`, the log collector's `/logs/tail`, run events and streamed
completions are all read through it.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterable, AsyncIterator, Iterable, Iterator
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True, slots=True)
class ServerSentEvent:
    """One event: its id, its type (`message` when unnamed) and its data lines joined."""

    id: str
    event: str
    data: str

    def json(self) -> Any:
        """The data parsed as JSON."""
        return json.loads(self.data)


class _Builder:
    """Feed lines; a blank line (or the end of the stream) completes an event."""

    def __init__(self) -> None:
        self.id = ""
        self.event = ""
        self.data: list[str] = []

    def feed(self, line: str) -> ServerSentEvent | None:
        if line == "":
            return self.flush()
        if line.startswith(":"):  # a comment or keep-alive
            return None
        name, _, value = line.partition(":")
        value = value.removeprefix(" ")
        if name == "id":
            self.id = value
        elif name == "event":
            self.event = value
        elif name == "data":
            self.data.append(value)
        return None

    def flush(self) -> ServerSentEvent | None:
        event = (
            ServerSentEvent(self.id, self.event or "message", "\n".join(self.data))
            if self.data
            else None
        )
        self.id, self.event, self.data = "", "", []
        return event


async def aiter_sse(lines: AsyncIterable[str]) -> AsyncIterator[ServerSentEvent]:
    """Events from a stream of lines (`response.aiter_lines()`), as they complete."""
    builder = _Builder()
    async for line in lines:
        event = builder.feed(line)
        if event is not None:
            yield event
    last = builder.flush()
    if last is not None:
        yield last


def iter_sse(lines: Iterable[str]) -> Iterator[ServerSentEvent]:
    """Events from lines already read."""
    builder = _Builder()
    for line in lines:
        event = builder.feed(line)
        if event is not None:
            yield event
    last = builder.flush()
    if last is not None:
        yield last


def parse_sse(text: str) -> list[ServerSentEvent]:
    """Every event of a complete SSE body."""
    return list(iter_sse(text.splitlines()))
