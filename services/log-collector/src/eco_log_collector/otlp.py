"""OTLP/HTTP trace requests: protobuf and JSON decoding into span rows."""

from __future__ import annotations

import base64
import json
import re
import zlib
from typing import Any

from google.protobuf import json_format
from google.protobuf.message import DecodeError
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTracePartialSuccess,
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue
from opentelemetry.proto.trace.v1.trace_pb2 import Span as PbSpan
from opentelemetry.proto.trace.v1.trace_pb2 import Status

from eco_log_collector.records import clean_text, dump_json

PROTOBUF = "application/x-protobuf"
JSON = "application/json"

_KINDS = {
    PbSpan.SPAN_KIND_UNSPECIFIED: "unspecified",
    PbSpan.SPAN_KIND_INTERNAL: "internal",
    PbSpan.SPAN_KIND_SERVER: "server",
    PbSpan.SPAN_KIND_CLIENT: "client",
    PbSpan.SPAN_KIND_PRODUCER: "producer",
    PbSpan.SPAN_KIND_CONSUMER: "consumer",
}
_STATUS = {
    Status.STATUS_CODE_UNSET: "unset",
    Status.STATUS_CODE_OK: "ok",
    Status.STATUS_CODE_ERROR: "error",
}
_HEX_ID = re.compile(r"^[0-9a-fA-F]*$")
_ID_FIELDS = ("traceId", "spanId", "parentSpanId", "trace_id", "span_id", "parent_span_id")


class OtlpDecodeError(ValueError):
    """The body is not an OTLP ExportTraceServiceRequest in the announced encoding."""


class BodyTooLarge(ValueError):
    """The body inflates past the configured limit."""


def decompress(body: bytes, encoding: str | None, limit: int) -> bytes:
    """Undo `Content-Encoding: gzip|deflate`, refusing to inflate past `limit` bytes."""
    encoding = (encoding or "identity").strip().lower()
    if encoding in ("", "identity"):
        return body
    if encoding not in ("gzip", "deflate"):
        raise OtlpDecodeError(f"unsupported content encoding {encoding!r}")
    wbits = 16 + zlib.MAX_WBITS if encoding == "gzip" else zlib.MAX_WBITS
    inflater = zlib.decompressobj(wbits)
    try:
        out = inflater.decompress(body, limit + 1)
    except zlib.error as exc:
        raise OtlpDecodeError(f"the body is not valid {encoding}: {exc}") from None
    if len(out) > limit:
        raise BodyTooLarge(f"the body inflates past {limit} bytes")
    return out


def _hex_ids_to_base64(node: Any) -> Any:
    """OTLP/JSON writes trace and span ids as hex; protobuf's JSON mapping expects base64."""
    if isinstance(node, dict):
        out = {}
        for key, value in node.items():
            if key in _ID_FIELDS and isinstance(value, str) and _HEX_ID.match(value):
                if len(value) % 2:
                    raise OtlpDecodeError(f"{key} is not a hex id: {value[:40]!r}")
                out[key] = base64.b64encode(bytes.fromhex(value)).decode()
            else:
                out[key] = _hex_ids_to_base64(value)
        return out
    if isinstance(node, list):
        return [_hex_ids_to_base64(v) for v in node]
    return node


def decode_request(body: bytes, content_type: str) -> ExportTraceServiceRequest:
    """Decode an export request sent as protobuf or as OTLP/JSON."""
    request = ExportTraceServiceRequest()
    if content_type == PROTOBUF:
        try:
            request.ParseFromString(body)
        except (DecodeError, ValueError) as exc:
            raise OtlpDecodeError(f"the body is not an OTLP protobuf message: {exc}") from None
        return request
    try:
        document = json.loads(body)
    except (ValueError, UnicodeDecodeError) as exc:
        raise OtlpDecodeError(f"the body is not JSON: {exc}") from None
    if not isinstance(document, dict):
        raise OtlpDecodeError("the body is not a JSON object")
    try:
        json_format.ParseDict(_hex_ids_to_base64(document), request, ignore_unknown_fields=True)
    except (json_format.ParseError, ValueError, TypeError) as exc:
        raise OtlpDecodeError(f"the body is not an OTLP/JSON trace request: {exc}") from None
    return request


def any_value(value: AnyValue) -> Any:
    """An OTLP AnyValue as plain JSON-able Python."""
    which = value.WhichOneof("value")
    if which == "string_value":
        return value.string_value
    if which == "bool_value":
        return value.bool_value
    if which == "int_value":
        return value.int_value
    if which == "double_value":
        return value.double_value
    if which == "array_value":
        return [any_value(v) for v in value.array_value.values]
    if which == "kvlist_value":
        return attributes(value.kvlist_value.values)
    if which == "bytes_value":
        return base64.b64encode(value.bytes_value).decode()
    return None


def attributes(items: Any) -> dict[str, Any]:
    """OTLP key-values as a dict."""
    result: dict[str, Any] = {}
    for kv in items:
        assert isinstance(kv, KeyValue)
        result[kv.key] = any_value(kv.value)
    return result


def _valid_id(raw: bytes, size: int) -> bool:
    return len(raw) == size and any(raw)


def span_rows(
    request: ExportTraceServiceRequest, received_us: int
) -> tuple[list[dict[str, Any]], int, str]:
    """Rows for the spans table, the number of spans rejected and why."""
    rows: list[dict[str, Any]] = []
    rejected = 0
    reason = ""
    for resource_spans in request.resource_spans:
        resource = attributes(resource_spans.resource.attributes)
        service = str(resource.get("service.name") or "unknown_service")
        for scope_spans in resource_spans.scope_spans:
            scope = scope_spans.scope.name
            for span in scope_spans.spans:
                if not _valid_id(span.trace_id, 16) or not _valid_id(span.span_id, 8):
                    rejected += 1
                    reason = "spans need a 16-byte trace id and an 8-byte span id"
                    continue
                start = int(span.start_time_unix_nano)
                end = max(int(span.end_time_unix_nano), start)
                attrs = attributes(span.attributes)
                if scope:
                    attrs.setdefault("otel.scope.name", scope)
                if "service.instance.id" in resource:
                    attrs.setdefault("service.instance.id", resource["service.instance.id"])
                events = [
                    {
                        "name": e.name,
                        "time_unix_nano": int(e.time_unix_nano),
                        "attributes": attributes(e.attributes),
                    }
                    for e in span.events
                ]
                parent = span.parent_span_id
                rows.append(
                    {
                        "trace_id": span.trace_id.hex(),
                        "span_id": span.span_id.hex(),
                        "parent_span_id": parent.hex() if _valid_id(parent, 8) else None,
                        "service": clean_text(service, 200),
                        "name": clean_text(span.name, 2000),
                        "kind": _KINDS.get(span.kind, "unspecified"),
                        "start_ns": start,
                        "end_ns": end,
                        "duration_ms": (end - start) / 1_000_000,
                        "status_code": _STATUS.get(span.status.code, "unset"),
                        "status_message": clean_text(span.status.message, 2000) or None,
                        "attributes": dump_json(attrs),
                        "events": dump_json(events),
                        "received_us": received_us,
                    }
                )
    return rows, rejected, reason


def encode_response(content_type: str, rejected: int, reason: str) -> bytes:
    """The ExportTraceServiceResponse in the request's encoding (partial success if any)."""
    response = ExportTraceServiceResponse()
    if rejected:
        response.partial_success.CopyFrom(
            ExportTracePartialSuccess(rejected_spans=rejected, error_message=reason)
        )
    if content_type == PROTOBUF:
        return response.SerializeToString()
    return json.dumps(json_format.MessageToDict(response)).encode()
