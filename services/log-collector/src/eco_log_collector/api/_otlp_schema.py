"""The OTLP/JSON `ExportTraceServiceRequest`, as far as the collector reads it.

Declared fields carry exactly the types protobuf's JSON mapping accepts for them (null
means "not set"); any other field is allowed, since OTLP receivers ignore unknown fields.
Trace and span ids are hex, as OTLP/JSON writes them.
"""

from __future__ import annotations

import sys
from itertools import combinations
from typing import Any

from google.protobuf.descriptor import FieldDescriptor

from eco_log_collector.otlp import INTEGER_LIMITS


def _nullable(schema: dict[str, Any]) -> dict[str, Any]:
    return {"anyOf": [schema, {"type": "null"}]}


def _obj(**properties: dict[str, Any]) -> dict[str, Any]:
    return {"type": "object", "properties": properties}


def _list(item: dict[str, Any]) -> dict[str, Any]:
    return _nullable({"type": "array", "items": item})


_TEXT = _nullable({"type": "string"})
_HEX = _nullable({"type": "string", "pattern": "^([0-9a-fA-F]{2})*$"})


def _integer(cpp_type: int) -> dict[str, Any]:
    digits, low, high = INTEGER_LIMITS[cpp_type]
    return _nullable(
        {
            "anyOf": [
                {"type": "integer", "minimum": low, "maximum": high},
                {"type": "string", "pattern": f"^{digits}$"},
            ]
        }
    )


_NANOS = _integer(FieldDescriptor.CPPTYPE_UINT64)
_SCALARS = {
    "stringValue": _TEXT,
    "boolValue": _nullable({"type": "boolean"}),
    "intValue": _integer(FieldDescriptor.CPPTYPE_INT64),
    "doubleValue": _nullable(
        {"type": "number", "minimum": -sys.float_info.max, "maximum": sys.float_info.max}
    ),
}
# `value` is a oneof: two of its members set (not null) in one object is a decode error
_SET = {"not": {"type": "null"}}
_ANY_VALUE = _nullable(
    {
        **_obj(**_SCALARS),
        "not": {
            "anyOf": [
                {"required": list(pair), "properties": dict.fromkeys(pair, _SET)}
                for pair in combinations(_SCALARS, 2)
            ]
        },
    }
)
_ATTRIBUTES = _list(_obj(key=_TEXT, value=_ANY_VALUE))
_SPAN = _obj(
    traceId=_HEX,
    spanId=_HEX,
    parentSpanId=_HEX,
    name=_TEXT,
    startTimeUnixNano=_NANOS,
    endTimeUnixNano=_NANOS,
    attributes=_ATTRIBUTES,
)
EXPORT_TRACE_REQUEST: dict[str, Any] = _obj(
    resourceSpans=_list(
        _obj(
            resource=_nullable(_obj(attributes=_ATTRIBUTES)),
            scopeSpans=_list(
                _obj(scope=_nullable(_obj(name=_TEXT, version=_TEXT)), spans=_list(_SPAN))
            ),
        )
    )
)
