"""The event bus: CloudEvents envelopes on Redis Streams, read through consumer groups.

Delivery is at least once: a consumer ACKs an entry only after its handler returned,
entries left pending by dead or failing consumers are reclaimed with XAUTOCLAIM, and an
entry delivered more than `max_deliveries` times (or one that cannot be decoded) moves to
the `eco.dlq` stream with its reason. Handlers must therefore be idempotent by event id.

`_event` is the envelope, `_publisher` the `EventBus`, `_consumer` the read loop,
`_group` its Redis commands, `_dispatch` the handler calls and their spans,
`_dead_letters` what lands in `eco.dlq`, `_feed` a watch feed's reading of a stream.
"""

from eco_shared.bus._consumer import Consumer
from eco_shared.bus._dead_letters import DeadLetter
from eco_shared.bus._dispatch import BatchHandler, EventHandler
from eco_shared.bus._event import (
    CONTENT_TYPE,
    DLQ,
    EVENTS,
    LOGS,
    SPECVERSION,
    Event,
    MalformedEvent,
    envelope_fields,
    new_event_id,
    utc_now_rfc3339,
)
from eco_shared.bus._feed import EventFeed
from eco_shared.bus._group import FAILURES_KEY, FAILURES_TTL_S
from eco_shared.bus._publisher import ConsumerOptions, EventBus
from eco_shared.streams import stream_entries

__all__ = [
    "CONTENT_TYPE",
    "DLQ",
    "EVENTS",
    "FAILURES_KEY",
    "FAILURES_TTL_S",
    "LOGS",
    "SPECVERSION",
    "BatchHandler",
    "Consumer",
    "ConsumerOptions",
    "DeadLetter",
    "Event",
    "EventBus",
    "EventFeed",
    "EventHandler",
    "MalformedEvent",
    "envelope_fields",
    "new_event_id",
    "stream_entries",
    "utc_now_rfc3339",
]
