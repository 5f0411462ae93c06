"""OTLP/HTTP ingestion (the SDK's own exporter, hand-written OTLP/JSON) and trace queries."""

from __future__ import annotations

import gzip
import os
import time
from typing import Any

import httpx
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.trace import SpanKind, Status, StatusCode

from eco_shared.auth import service_subject
from eco_shared.bus import EVENTS, Event
from eco_shared.testing import ServiceProcess, wait_until
from eco_shared.testing.auth import TestAuth, bearer

AUTH = TestAuth("log-collector")


def _provider(service: str, endpoint: str) -> TracerProvider:
    # what a service's exporter sends: its own token, which holds logs:write
    headers = bearer("log-collector", ["logs:write"], subject=service_subject(service))
    provider = TracerProvider(resource=Resource.create({"service.name": service}))
    exporter = OTLPSpanExporter(endpoint=endpoint, headers=headers)
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    return provider


def _walk(node: dict[str, Any], depth: int = 0) -> list[tuple[int, str, str]]:
    out = [(depth, node["service"], node["name"])]
    for child in node["children"]:
        out += _walk(child, depth + 1)
    return out


def test_sdk_protobuf_export_is_stored_as_a_span_tree(
    shared_collector: ServiceProcess, lc: Any
) -> None:
    front, back = lc.unique("front"), lc.unique("back")
    endpoint = f"{shared_collector.url}/v1/traces"
    a, b = _provider(front, endpoint), _provider(back, endpoint)
    try:
        with a.get_tracer("t").start_as_current_span("GET /page", kind=SpanKind.SERVER) as root:
            root.set_attribute("http.route", "/page")
            with a.get_tracer("t").start_as_current_span("GET", kind=SpanKind.CLIENT):
                with b.get_tracer("t").start_as_current_span(
                    "POST /work", kind=SpanKind.SERVER, attributes={"retries": 2, "ok": False}
                ) as work:
                    time.sleep(0.02)
                    work.set_status(Status(StatusCode.ERROR, "boom"))
        trace_id = format(root.get_span_context().trace_id, "032x")
    finally:
        a.shutdown()
        b.shutdown()

    body = httpx.get(f"{shared_collector.url}/traces/{trace_id}", auth=AUTH).json()
    assert body["span_count"] == 3
    assert body["services"] == sorted([front, back])
    [tree] = body["roots"]
    assert _walk(tree) == [(0, front, "GET /page"), (1, front, "GET"), (2, back, "POST /work")]
    work_span = tree["children"][0]["children"][0]
    assert work_span["kind"] == "server"
    assert work_span["status_code"] == "error"
    assert work_span["status_message"] == "boom"
    assert work_span["attributes"]["retries"] == 2
    assert work_span["attributes"]["ok"] is False
    assert work_span["parent_span_id"] == tree["children"][0]["span_id"]
    assert work_span["duration_ms"] >= 20
    assert tree["attributes"]["http.route"] == "/page"

    listed = httpx.get(f"{shared_collector.url}/traces", params={"service": back}, auth=AUTH).json()
    [summary] = listed["items"]
    assert summary["trace_id"] == trace_id
    assert (summary["root_service"], summary["root_name"]) == (front, "GET /page")
    assert summary["services"] == sorted([front, back])
    assert (summary["span_count"], summary["error_count"]) == (3, 1)
    slow = httpx.get(
        f"{shared_collector.url}/traces",
        params={"service": back, "min_duration_ms": 60_000},
        auth=AUTH,
    ).json()
    assert slow["items"] == []


def _json_request(service: str, trace_id: str, spans: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "resourceSpans": [
            {
                "resource": {
                    "attributes": [{"key": "service.name", "value": {"stringValue": service}}]
                },
                "scopeSpans": [{"scope": {"name": "manual"}, "spans": spans}],
            }
        ]
    }


def test_otlp_json_with_hex_ids_is_accepted(shared_collector: ServiceProcess, lc: Any) -> None:
    service = lc.unique("json")
    trace_id = os.urandom(16).hex()
    now = time.time_ns()
    spans = [
        {
            "traceId": trace_id,
            "spanId": "00f067aa0ba902b7",
            "name": "parent",
            "kind": 2,
            "startTimeUnixNano": str(now),
            "endTimeUnixNano": str(now + 5_000_000),
            "attributes": [
                {"key": "n", "value": {"intValue": "7"}},
                {"key": "tags", "value": {"arrayValue": {"values": [{"stringValue": "x"}]}}},
            ],
            "status": {"code": 1},
        },
        {
            "traceId": trace_id,
            "spanId": "53995c3f42cd8ad8",
            "parentSpanId": "00f067aa0ba902b7",
            "name": "child",
            "kind": 3,
            "startTimeUnixNano": now + 1_000_000,
            "endTimeUnixNano": now + 2_000_000,
        },
        {"traceId": "", "spanId": "1111111111111111", "name": "no trace id"},
    ]
    response = httpx.post(
        f"{shared_collector.url}/v1/traces", json=_json_request(service, trace_id, spans), auth=AUTH
    )
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("application/json")
    assert response.json()["partialSuccess"]["rejectedSpans"] == "1"

    body = httpx.get(f"{shared_collector.url}/traces/{trace_id}", auth=AUTH).json()
    [root] = body["roots"]
    assert (root["span_id"], root["name"], root["kind"], root["status_code"]) == (
        "00f067aa0ba902b7",
        "parent",
        "server",
        "ok",
    )
    assert root["attributes"]["n"] == 7
    assert root["attributes"]["tags"] == ["x"]
    assert root["duration_ms"] == 5.0
    [child] = root["children"]
    assert (child["span_id"], child["parent_span_id"], child["kind"]) == (
        "53995c3f42cd8ad8",
        "00f067aa0ba902b7",
        "client",
    )
    # sent again (an exporter retry): stored once
    again = httpx.post(
        f"{shared_collector.url}/v1/traces",
        json=_json_request(service, trace_id, spans[:2]),
        auth=AUTH,
    )
    assert again.status_code == 200
    assert again.json() == {}
    assert (
        httpx.get(f"{shared_collector.url}/traces/{trace_id}", auth=AUTH).json()["span_count"] == 2
    )


def test_gzip_protobuf_bodies_are_accepted(shared_collector: ServiceProcess, lc: Any) -> None:
    from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
        ExportTraceServiceRequest,
        ExportTraceServiceResponse,
    )
    from opentelemetry.proto.trace.v1.trace_pb2 import ResourceSpans, ScopeSpans, Span

    trace_id = os.urandom(16)
    request = ExportTraceServiceRequest(
        resource_spans=[
            ResourceSpans(
                scope_spans=[
                    ScopeSpans(
                        spans=[
                            Span(
                                trace_id=trace_id,
                                span_id=os.urandom(8),
                                name="zipped",
                                start_time_unix_nano=time.time_ns(),
                                end_time_unix_nano=time.time_ns(),
                            )
                        ]
                    )
                ]
            )
        ]
    )
    response = httpx.post(
        f"{shared_collector.url}/v1/traces",
        content=gzip.compress(request.SerializeToString()),
        headers={"content-type": "application/x-protobuf", "content-encoding": "gzip"},
        auth=AUTH,
    )
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/x-protobuf"
    ExportTraceServiceResponse.FromString(response.content)
    body = httpx.get(f"{shared_collector.url}/traces/{trace_id.hex()}", auth=AUTH).json()
    assert [(r["name"], r["service"]) for r in body["roots"]] == [("zipped", "unknown_service")]


def _attribute_body(value: bytes) -> bytes:
    return (
        b'{"resourceSpans": [{"resource": {"attributes": [{"key": "a", "value": '
        + value
        + b"}]}}]}"
    )


def test_undecodable_otlp_bodies_are_400_and_other_types_415(
    shared_collector: ServiceProcess,
) -> None:
    url = f"{shared_collector.url}/v1/traces"
    cases = [
        (b"\xff\xff\xff\xff", "application/x-protobuf", {}),
        (b"{not json", "application/json", {}),
        (b"[1, 2]", "application/json", {}),
        (
            b'{"resourceSpans": [{"scopeSpans": [{"spans": [{"traceId": "abc"}]}]}]}',
            "application/json",
            {},
        ),
        (b'{"resourceSpans": "nope"}', "application/json", {}),
        # what protobuf's JSON parser alone would bend: a string where a message belongs,
        # a boolean or an overflowing number where a double belongs, an id that is not hex
        (b'{"resourceSpans": ["AAA"]}', "application/json", {}),
        (_attribute_body(b'{"doubleValue": true}'), "application/json", {}),
        (_attribute_body(b'{"doubleValue": 1' + b"0" * 400 + b"}"), "application/json", {}),
        (_attribute_body(b'{"intValue": "+7"}'), "application/json", {}),
        (
            b'{"resourceSpans": [{"scopeSpans": [{"spans": [{"spanId": "zz"}]}]}]}',
            "application/json",
            {},
        ),
        (b"not gzip", "application/x-protobuf", {"content-encoding": "gzip"}),
    ]
    for body, content_type, extra in cases:
        response = httpx.post(
            url, content=body, headers={"content-type": content_type, **extra}, auth=AUTH
        )
        assert response.status_code == 400, (body, response.text)
        assert response.headers["content-type"] == "application/problem+json"
    response = httpx.post(url, content=b"hello", headers={"content-type": "text/plain"}, auth=AUTH)
    assert response.status_code == 415
    assert response.headers["content-type"] == "application/problem+json"


def test_trace_detail_interleaves_logs_and_events_in_time_order(
    shared_collector: ServiceProcess, redis_url: str, module_prefix: str, lc: Any
) -> None:
    service = lc.unique("mixed")
    endpoint = f"{shared_collector.url}/v1/traces"
    provider = _provider(service, endpoint)
    tracer = provider.get_tracer("t")
    try:
        with tracer.start_as_current_span("handle") as span:
            ctx = span.get_span_context()
            trace_id, span_id = format(ctx.trace_id, "032x"), format(ctx.span_id, "016x")
            lc.publish_logs(
                redis_url,
                module_prefix,
                [lc.log_fields("step_one", service=service, trace_id=trace_id, span_id=span_id)],
            )
            time.sleep(0.01)
            event = Event(
                type="run.completed",
                source=service,
                data={},
                traceparent=f"00-{trace_id}-{span_id}-01",
            )
            lc.publish(redis_url, f"{module_prefix}{EVENTS}", [event.to_fields()])
            time.sleep(0.01)
            lc.publish_logs(
                redis_url,
                module_prefix,
                [lc.log_fields("step_two", service=service, trace_id=trace_id, level="warning")],
            )
    finally:
        provider.shutdown()

    def detail() -> dict[str, Any]:
        return httpx.get(f"{shared_collector.url}/traces/{trace_id}", auth=AUTH).json()

    wait_until(lambda: len(detail().get("timeline", [])) == 4, timeout_s=15)
    body = detail()
    assert [(i["kind"], i["name"]) for i in body["timeline"]] == [
        ("span", "handle"),
        ("log", "step_one"),
        ("event", "run.completed"),
        ("log", "step_two"),
    ]
    assert body["timeline"][1]["span_id"] == span_id
    assert body["timeline"][3]["level"] == "warning"
    assert [e["event_id"] for e in body["events"]] == [event.id]
    assert [r["message"] for r in body["logs"]] == ["step_one", "step_two"]


def test_unknown_and_invalid_trace_ids(shared_collector: ServiceProcess) -> None:
    missing = httpx.get(f"{shared_collector.url}/traces/{'0a' * 16}", auth=AUTH)
    assert missing.status_code == 404
    assert missing.headers["content-type"] == "application/problem+json"
    invalid = httpx.get(f"{shared_collector.url}/traces/not-a-trace", auth=AUTH)
    assert invalid.status_code == 422
    bad_list = httpx.get(
        f"{shared_collector.url}/traces", params={"min_duration_ms": -1}, auth=AUTH
    )
    assert bad_list.status_code == 422
