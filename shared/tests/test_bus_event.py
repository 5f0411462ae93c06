"""The envelope helpers the publisher, the consumer and the log shipper share (no Redis)."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest

from eco_shared.bus import CONTENT_TYPE, EVENTS, SPECVERSION, Event, MalformedEvent, envelope_fields
from eco_shared.bus._dead_letters import DeadEntry, DeadLetter


def test_envelope_fields_are_what_an_event_encodes_to() -> None:
    event = Event(type="t.x", source="svc", data={"b": 1, "a": [2]}, traceparent="00-ab-cd-01")
    assert (
        envelope_fields(
            id=event.id,
            source="svc",
            type="t.x",
            time=event.time,
            traceparent="00-ab-cd-01",
            data={"b": 1, "a": [2]},
        )
        == event.to_fields()
    )
    assert event.to_fields()["data"] == '{"b":1,"a":[2]}'
    assert (event.to_fields()["specversion"], event.to_fields()["datacontenttype"]) == (
        SPECVERSION,
        CONTENT_TYPE,
    )


def test_envelope_fields_encode_odd_values_with_json_default() -> None:
    when = datetime(2025, 1, 2, tzinfo=UTC)
    fields = envelope_fields(
        id="e1",
        source="svc",
        type="log.record",
        time="2025-01-02T00:00:00Z",
        traceparent="",
        data={"at": when},
        json_default=str,
    )
    assert json.loads(fields["data"]) == {"at": str(when)}
    with pytest.raises(TypeError):
        envelope_fields(id="e1", source="s", type="t", time="", traceparent="", data={"at": when})


def test_from_fields_takes_str_and_bytes_alike() -> None:
    fields = Event(type="t.x", source="svc", data={"k": "v"}).to_fields()
    mixed = {(k.encode() if i % 2 else k): v for i, (k, v) in enumerate(fields.items())}
    assert Event.from_fields(mixed) == Event.from_fields(fields)
    with pytest.raises(MalformedEvent, match="UTF-8"):
        Event.from_fields({**fields, b"\xff": "x"})


def test_a_dead_entry_keeps_its_fields_and_reads_back_as_a_dead_letter() -> None:
    event = Event(type="t.x", source="svc", data={"k": 1})
    raw = {k.encode(): v.encode() for k, v in event.to_fields().items()}
    raw[b"\xff"] = b"\xfe"  # not UTF-8: kept, not dropped
    fields = DeadEntry("5-0", raw, "boom", 3).dlq_fields(
        stream="eco.events", group="g", handler="mod.fn", consumer="c1", now="2025-01-02T00:00:00Z"
    )
    assert fields[b"\xff"] == b"\xfe"
    assert fields["id"] == event.id.encode()
    letter = DeadLetter.from_fields("9-0", fields)
    assert (letter.stream, letter.group, letter.original_entry_id) == ("eco.events", "g", "5-0")
    assert (letter.handler, letter.reason, letter.deliveries) == ("mod.fn", "boom", 3)
    assert (letter.dead_lettered_by, letter.source) == ("c1", "svc")
    assert letter.event() == Event.from_fields(
        event.to_fields(), stream="eco.events", entry_id="5-0"
    )


def test_event_fields_round_trip_and_malformed_entries() -> None:
    event = Event(type="document.stored", source="svc", data={"a": [1, "x"]})
    decoded = Event.from_fields(
        {k.encode(): v.encode() for k, v in event.to_fields().items()},
        stream=EVENTS,
        entry_id="1-0",
        deliveries=2,
    )
    assert decoded == Event(
        type="document.stored",
        source="svc",
        data={"a": [1, "x"]},
        id=event.id,
        time=event.time,
        stream=EVENTS,
        entry_id="1-0",
        deliveries=2,
    )
    good = event.to_fields()
    for broken, message in [
        ({"foo": "bar"}, "missing fields"),
        ({**good, "data": "{nope"}, "data is not JSON"),
        ({**good, "data": "[1]"}, "not a JSON object"),
        ({**good, "time": "yesterday"}, "time"),
        ({**good, "specversion": "0.3"}, "specversion"),
        ({**good, "id": b"\xff\xfe"}, "UTF-8"),
    ]:
        with pytest.raises(MalformedEvent, match=message):
            Event.from_fields(broken)
