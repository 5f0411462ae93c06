"""`POST /v1/traces`: OTLP/HTTP span ingestion, protobuf or JSON, as the SDK exporters send."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response

from eco_log_collector import otlp
from eco_log_collector import repository as repo
from eco_log_collector.deps import Engine, Settings
from eco_log_collector.records import now_us
from eco_shared.problems import ProblemError

router = APIRouter(prefix="/v1", tags=["otlp"])

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
                otlp.JSON: {"schema": {"type": "object"}},
            },
        }
    },
    responses={
        200: {
            "description": "ExportTraceServiceResponse (partial success lists rejected spans)",
            "content": {otlp.PROTOBUF: {"schema": _SCHEMA}, otlp.JSON: {"schema": {}}},
        }
    },
)
async def export_traces(request: Request, engine: Engine, settings: Settings) -> Response:
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if content_type not in (otlp.PROTOBUF, otlp.JSON):
        raise ProblemError(
            415,
            f"Send {otlp.PROTOBUF} or {otlp.JSON}, not {content_type or 'nothing'!r}.",
            title="Unsupported Media Type",
        )
    body = await request.body()
    try:
        raw = otlp.decompress(
            body, request.headers.get("content-encoding"), settings.max_otlp_decompressed_bytes
        )
        decoded = otlp.decode_request(raw, content_type)
    except otlp.BodyTooLarge as exc:
        raise ProblemError(413, str(exc), title="Content Too Large") from None
    except otlp.OtlpDecodeError as exc:
        raise ProblemError(400, str(exc), title="Malformed OTLP request") from None
    rows, rejected, reason = otlp.span_rows(decoded, now_us())
    async with engine.begin() as conn:
        await repo.insert_ignoring_duplicates(conn, repo.SPANS, rows)
    return Response(otlp.encode_response(content_type, rejected, reason), media_type=content_type)
