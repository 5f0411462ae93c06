"""The RO-Crate of a document version: its bytes, provenance, PROV-JSON, trace and logs.

`ro-crate-metadata.json` (written by the `rocrate` package) describes every file with its
sha256; the root dataset says whether the run's trace could be included (`traceStatus`), so
a log collector that cannot be reached makes a smaller crate, never a failed download.

The doc store asks the log collector with its own token, so it includes a trace only when
the caller could read it anyway (`logs:read`) or a service recorded the trace id (the
version's acting chain names one: the run's own trace). A trace id a user wrote into a
record themselves is only a claim, and fetching it for them would hand out another run's
logs (`not_permitted`).
"""

from __future__ import annotations

import asyncio
import hashlib
import json
from dataclasses import dataclass, field
from io import BytesIO
from typing import Literal

import structlog
from rocrate.rocrate import ROCrate

from eco_doc_store.models import EXTENSIONS, MEDIA_TYPES
from eco_doc_store.service import DocStoreService
from eco_doc_store.settings import DocStoreSettings
from eco_shared.adapters.log_collector import LogCollectorAdapter, TraceDetail
from eco_shared.auth import SERVICE_SUBJECT_PREFIX, Principal
from eco_shared.models.doc_store import DocumentPublic

log = structlog.get_logger("eco_doc_store.bundle")

TraceStatus = Literal["included", "no_trace_id", "not_permitted", "not_found", "unavailable"]


@dataclass(frozen=True)
class BundleFile:
    """One file of the crate and how `ro-crate-metadata.json` describes it."""

    path: str
    data: bytes
    encoding_format: str
    description: str


@dataclass(frozen=True)
class TraceFiles:
    """The run's spans and log lines, or why the crate has none."""

    status: TraceStatus
    detail: str
    files: list[BundleFile] = field(default_factory=list)


def _json_file(path: str, value: object, description: str) -> BundleFile:
    data = json.dumps(value, indent=2, ensure_ascii=False).encode()
    return BundleFile(path, data, "application/json", description)


def trace_files(trace_id: str, detail: TraceDetail, log_limit: int) -> list[BundleFile]:
    """`trace.json` (the span tree) and `logs.jsonl` (the run's log lines, in time order)."""
    spans = detail.model_dump(mode="json", include={"trace_id", "services", "span_count"})
    spans["spans"] = [root.model_dump(mode="json") for root in detail.roots]
    lines = [r.model_dump_json() for r in sorted(detail.logs, key=lambda r: r.time)][:log_limit]
    return [
        _json_file("trace.json", spans, f"The spans of trace {trace_id}, as a tree."),
        BundleFile(
            "logs.jsonl",
            "".join(f"{line}\n" for line in lines).encode(),
            "application/x-ndjson",
            f"The log lines of trace {trace_id} (at most {log_limit}), one JSON object a line.",
        ),
    ]


def crate_zip(document: DocumentPublic, files: list[BundleFile], trace: TraceFiles) -> bytes:
    """The RO-Crate as ZIP bytes, every file described with its size and sha256."""
    crate = ROCrate()
    root = crate.root_dataset
    root["name"] = document.title
    root["identifier"] = f"{document.id}/v/{document.version}"
    root["description"] = (
        f"Document {document.id} version {document.version} ({document.format.value}) with"
        " its provenance record, its W3C PROV-JSON and the run's trace."
    )
    root["dateCreated"] = document.version_created_at.isoformat()
    root["traceStatus"] = trace.status
    root["traceStatusDetail"] = trace.detail
    for item in [*files, *trace.files]:
        crate.add_file(
            BytesIO(item.data),
            dest_path=item.path,
            properties={
                "name": item.path,
                "description": item.description,
                "encodingFormat": item.encoding_format,
                "contentSize": str(len(item.data)),
                "sha256": hashlib.sha256(item.data).hexdigest(),
            },
        )
    return b"".join(crate.stream_zip())


class Bundler:
    """Builds the crate from the doc store's own records and the log collector's trace."""

    def __init__(
        self, doc_store: DocStoreService, logs: LogCollectorAdapter, settings: DocStoreSettings
    ) -> None:
        self.doc_store = doc_store
        self.logs = logs
        self.settings = settings

    async def build(
        self, caller: Principal, document_id: str, version: int | None, base_url: str
    ) -> tuple[DocumentPublic, bytes]:
        """The document's view and its crate's ZIP bytes (404 like the document itself)."""
        docs = self.doc_store
        document, content = await docs.download(caller, document_id, version, base_url)
        record = await docs.provenance(caller, document_id, document.version)
        prov = await docs.provenance_prov_json(caller, document_id, document.version)
        ext = EXTENSIONS[document.format]
        files = [
            BundleFile(
                f"document.{ext}",
                content,
                MEDIA_TYPES[document.format].split(";")[0],
                f"The document as stored (version {document.version}, sha256 {document.sha256}).",
            ),
            _json_file(
                "provenance.json",
                record.model_dump(mode="json"),
                "The provenance record stored with this version.",
            ),
            BundleFile(
                "provenance.prov.json",
                prov.encode(),
                "application/json",
                f"W3C PROV-JSON of versions 1..{document.version}.",
            ),
        ]
        chain = getattr(record, "acting_chain", None) or []
        recorded_by_service = any(s.startswith(SERVICE_SUBJECT_PREFIX) for s in chain)
        if record.trace_id and not (recorded_by_service or caller.has("logs:read")):
            trace = TraceFiles(
                "not_permitted",
                "The trace id was written by the principal itself, not by a service of the"
                " run; its trace is included only for a caller holding logs:read.",
            )
        else:
            trace = await self._trace(record.trace_id)
        data = await asyncio.to_thread(crate_zip, document, files, trace)
        log.info(
            "bundle_built",
            document_id=document.id,
            version=document.version,
            trace_status=trace.status,
            size_bytes=len(data),
        )
        return document, data

    async def _trace(self, trace_id: str | None) -> TraceFiles:
        if not trace_id:
            return TraceFiles("no_trace_id", "The provenance record names no trace.")
        try:
            async with asyncio.timeout(self.settings.bundle_fetch_timeout_s):
                detail = await self.logs.trace(trace_id)
        except Exception as exc:  # noqa: BLE001 - whatever the failure, the crate says it
            reason = f"{type(exc).__name__}: {exc}"[:300]
            log.warning("bundle_trace_unavailable", trace_id=trace_id, error=reason)
            return TraceFiles("unavailable", f"The log collector could not be asked: {reason}")
        if detail is None:
            return TraceFiles("not_found", f"The log collector has no trace {trace_id}.")
        files = trace_files(trace_id, detail, self.settings.bundle_log_limit)
        return TraceFiles("included", f"Trace {trace_id}: {detail.span_count} spans.", files)
