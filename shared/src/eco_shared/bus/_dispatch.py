"""Handing decoded events to a consumer's handler, inside `process <stream>` spans."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.trace import INVALID_SPAN, Link, SpanKind

from eco_shared.bus._event import Event
from eco_shared.telemetry import extract_context

EventHandler = Callable[[Event], Awaitable[None]]
BatchHandler = Callable[[list[Event]], Awaitable[None]]
Handled = tuple[list[Event], list[tuple[Event, str]]]
"""The events a handler took (to ACK) and the ones it failed on, with the reason."""

_MAX_REASON = 2000

_tracer = trace.get_tracer("eco_shared.bus")


def _tracing_enabled() -> bool:
    """False while only the API's no-op (or not yet replaced proxy) provider is installed."""
    provider = trace.get_tracer_provider()
    return not isinstance(provider, (trace.ProxyTracerProvider, trace.NoOpTracerProvider))


def handler_name(handler: Callable[..., Any]) -> str:
    """`module.qualname` of a handler, as dead letters and logs name it."""
    qualname = getattr(handler, "__qualname__", None)
    if qualname is None:
        return repr(handler)
    module = getattr(handler, "__module__", None)
    return f"{module}.{qualname}" if module else str(qualname)


def failure_reason(exc: BaseException) -> str:
    """An exception as the (bounded) reason recorded with a failed or dead entry."""
    return f"{type(exc).__qualname__}: {exc}"[:_MAX_REASON]


class Dispatcher:
    """Calls one handler, per event or per batch, in CONSUMER spans that join the producer."""

    def __init__(
        self,
        handler: EventHandler | BatchHandler,
        *,
        batch: bool,
        stream: str,
        group: str,
        consumer: str,
        stopping: Callable[[], bool],
        log: Callable[[], Any],
    ) -> None:
        self.handler = handler
        self.name = handler_name(handler)
        self.batch = batch
        self._stopping = stopping
        self._log = log
        self._span_name = f"process {stream}"
        self._span_attributes = {
            "messaging.system": "redis",
            "messaging.destination.name": stream,
            "messaging.consumer.group.name": group,
            "messaging.operation.type": "process",
            "messaging.operation.name": "process",
            "messaging.client.id": consumer,
        }

    async def handle(self, events: list[Event]) -> Handled:
        """Run the handler on `events`; a batch handler succeeds or fails as a whole."""
        if self.batch:
            return await self._handle_batch(events)
        return await self._handle_each(events)

    async def _handle_each(self, events: list[Event]) -> Handled:
        handler: EventHandler = self.handler  # type: ignore[assignment]
        acked: list[Event] = []
        failed: list[tuple[Event, str]] = []
        tracing = _tracing_enabled()
        for event in events:
            if self._stopping():
                break
            try:
                if tracing:
                    attributes = dict(self._span_attributes)
                    attributes["messaging.message.id"] = event.id
                    with _tracer.start_as_current_span(
                        self._span_name,
                        context=extract_context({"traceparent": event.traceparent}),
                        kind=SpanKind.CONSUMER,
                        attributes=attributes,
                    ):
                        await handler(event)
                else:
                    # what the no-op tracer would do (the producer's span becomes current),
                    # without the cost of its context managers on every event
                    parent = (
                        trace.get_current_span(extract_context({"traceparent": event.traceparent}))
                        if event.traceparent
                        else INVALID_SPAN
                    )
                    token = otel_context.attach(trace.set_span_in_context(parent))
                    try:
                        await handler(event)
                    finally:
                        otel_context.detach(token)
            except Exception as exc:
                failed.append((event, self._failure(exc, [event])))
            else:
                acked.append(event)
        return acked, failed

    async def _handle_batch(self, events: list[Event]) -> Handled:
        if not events or self._stopping():
            return [], []
        handler: BatchHandler = self.handler  # type: ignore[assignment]
        links = []
        for event in events:
            parent = trace.get_current_span(extract_context({"traceparent": event.traceparent}))
            if parent.get_span_context().is_valid:
                links.append(Link(parent.get_span_context()))
        attributes: dict[str, Any] = dict(self._span_attributes)
        attributes["messaging.batch.message_count"] = len(events)
        try:
            with _tracer.start_as_current_span(
                self._span_name,
                context=extract_context({}),
                kind=SpanKind.CONSUMER,
                attributes=attributes,
                links=links,
            ):
                await handler(events)
        except Exception as exc:
            reason = self._failure(exc, events)
            return [], [(event, reason) for event in events]
        return events, []

    def _failure(self, exc: Exception, events: list[Event]) -> str:
        reason = failure_reason(exc)
        if len(events) == 1:
            ids: dict[str, Any] = {"event_id": events[0].id, "entry_id": events[0].entry_id}
        else:
            ids = {"batch_size": len(events), "first_entry_id": events[0].entry_id}
        self._log().warning(
            "bus_handler_failed",
            handler=self.name,
            deliveries=max(e.deliveries for e in events),
            error=reason,
            exc_info=exc,
            **ids,
        )
        return reason
