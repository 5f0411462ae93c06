"""OTLP/HTTP trace requests: protobuf and JSON decoding into span rows."""

from __future__ import annotations

import base64
import json
import re
import sys
import zlib
from typing import Any

from google.protobuf import json_format
from google.protobuf.descriptor import Descriptor, FieldDescriptor
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
_HEX_ID = re.compile(r"(?:[0-9a-fA-F]{2})*")
_MAX_NANOS = 2**63 - 1  # the spans table holds signed 64-bit nanoseconds
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
            if key in _ID_FIELDS and isinstance(value, str):
                if not _HEX_ID.fullmatch(value):
                    raise OtlpDecodeError(f"{key} is not a hex id: {value[:40]!r}")
                out[key] = base64.b64encode(bytes.fromhex(value)).decode()
            else:
                out[key] = _hex_ids_to_base64(value)
        return out
    if isinstance(node, list):
        return [_hex_ids_to_base64(v) for v in node]
    return node


_FLOATS = (FieldDescriptor.CPPTYPE_DOUBLE, FieldDescriptor.CPPTYPE_FLOAT)
# (digits a decimal string may have, bounds of a JSON number) per integer type. Bounds that
# are exact as floats, since not every JSON reader keeps larger integers exact: int64 beyond
# +-2**53 goes as a string, uint64 (nanosecond times) as a number up to 9e18 (year 2255).
INTEGER_LIMITS = {
    FieldDescriptor.CPPTYPE_INT32: (r"-?[0-9]{1,9}", -(2**31), 2**31 - 1),
    FieldDescriptor.CPPTYPE_UINT32: (r"[0-9]{1,9}", 0, 2**32 - 1),
    FieldDescriptor.CPPTYPE_INT64: (r"-?[0-9]{1,18}", -(2**53), 2**53),
    FieldDescriptor.CPPTYPE_UINT64: (r"[0-9]{1,19}", 0, 9 * 10**18),
}


def _number_ok(value: Any, cpp_type: int) -> bool:
    """What the declared schema allows: JSON numbers (integers as digits too), no booleans."""
    if cpp_type not in _FLOATS and cpp_type not in INTEGER_LIMITS:
        return True
    if isinstance(value, bool):
        return False
    if cpp_type in _FLOATS:
        return isinstance(value, int | float) and abs(value) <= sys.float_info.max
    digits, low, high = INTEGER_LIMITS[cpp_type]
    if isinstance(value, str):
        return re.fullmatch(digits, value) is not None
    if isinstance(value, float) and not value.is_integer():
        return False
    return isinstance(value, int | float) and low <= value <= high


def _check_messages(node: Any, descriptor: Descriptor, path: str) -> None:
    """Refuse what protobuf's JSON parser would bend: a string or list where a message
    belongs (read as a message of unknown fields), `true` or "inf" as a number."""
    if not isinstance(node, dict):
        raise OtlpDecodeError(f"{path} must be a JSON object")
    for key, value in node.items():
        field = descriptor.fields_by_camelcase_name.get(key) or descriptor.fields_by_name.get(key)
        if field is None or value is None:
            continue
        items = value if field.is_repeated and isinstance(value, list) else [value]
        for item in items:
            if item is None:  # the parser refuses null items itself
                continue
            if field.message_type is not None:
                _check_messages(item, field.message_type, f"{path}.{key}")
            elif not _number_ok(item, field.cpp_type):
                raise OtlpDecodeError(f"{path}.{key} is not a number: {str(item)[:40]!r}")


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
    except (ValueError, RecursionError) as exc:
        raise OtlpDecodeError(f"the body is not JSON: {exc}") from None
    _check_messages(document, ExportTraceServiceRequest.DESCRIPTOR, "body")
    try:
        json_format.ParseDict(_hex_ids_to_base64(document), request, ignore_unknown_fields=True)
    except (json_format.ParseError, ValueError, TypeError, OverflowError, RecursionError) as exc:
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
                if max(span.start_time_unix_nano, span.end_time_unix_nano) > _MAX_NANOS:
                    rejected += 1
                    reason = "span times must be before 2262 (signed 64-bit nanoseconds)"
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
