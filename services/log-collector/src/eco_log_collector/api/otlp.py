"""`POST /v1/traces`: OTLP/HTTP span ingestion, protobuf or JSON, as the SDK exporters send."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response

from eco_log_collector import otlp
from eco_log_collector.api._otlp_schema import EXPORT_TRACE_REQUEST
from eco_log_collector.api._scopes import LOGS_WRITE
from eco_log_collector.deps import LogCollectorDep
from eco_shared.problems import ProblemError, problem_responses

router = APIRouter(prefix="/v1", tags=["otlp"], dependencies=[LOGS_WRITE])

_SCHEMA = {"type": "string", "format": "binary"}


@router.post(
    "/traces",
    summary="Receive spans over OTLP/HTTP (application/x-protobuf or application/json)",
    response_class=Response,
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {
                otlp.PROTOBUF: {"schema": _SCHEMA},
                otlp.JSON: {"schema": EXPORT_TRACE_REQUEST},
            },
        }
    },
    responses={
        200: {
            "description": "ExportTraceServiceResponse (partial success lists rejected spans)",
            "content": {otlp.PROTOBUF: {"schema": _SCHEMA}, otlp.JSON: {"schema": {}}},
        },
        **problem_responses(
            (400, "The body does not decode as OTLP in the announced encoding"),
            (413, "The body, or what it inflates to, is over the limit"),
            (415, "Neither application/x-protobuf nor application/json"),
        ),
    },
)
async def export_traces(request: Request, collector: LogCollectorDep) -> Response:
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if content_type not in (otlp.PROTOBUF, otlp.JSON):
        raise ProblemError(
            415,
            f"Send {otlp.PROTOBUF} or {otlp.JSON}, not {content_type or 'nothing'!r}.",
            title="Unsupported Media Type",
        )
    answer = await collector.ingest.export_traces(
        await request.body(), content_type, request.headers.get("content-encoding")
    )
    return Response(answer, media_type=content_type)
