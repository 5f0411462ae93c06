"""Documents: search, the document page (sandboxed view, provenance, trace, logs), downloads."""

from __future__ import annotations

import asyncio
import json
from typing import Annotated

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse, Response

from eco_shared.adapters.doc_store import DocStoreAdapter
from eco_shared.auth import PUBLIC
from eco_shared.models.doc_store import DocumentPublic
from eco_shared.problems import problem_responses

from ..deps import PageError, SettingsDep, UserDep
from ..service.diff import LineDiff, line_diff, too_large
from ..service.fetch import Fetched, fetch
from ..service.links import chain_spans
from ..service.prov_graph import prov_graph
from ..service.waterfall import ancestors, find, layout
from ._render import render

router = APIRouter(prefix="/documents", tags=["documents"], dependencies=[PUBLIC])
# the document's own bytes: nothing runs, nothing loads, nothing leaves
CONTENT_CSP = "default-src 'none'; style-src 'unsafe-inline'; img-src data:; sandbox"
VERSIONS_SHOWN = 100
VersionQuery = Annotated[
    int | None, Query(ge=1, le=2**31 - 1, description="A version; the latest when omitted.")
]


@router.get(
    "", summary="Search documents", response_class=HTMLResponse, responses=problem_responses(400)
)
async def documents_page(
    request: Request,
    user: UserDep,
    settings: SettingsDep,
    q: Annotated[str | None, Query(max_length=500)] = None,
    cursor: Annotated[str | None, Query(max_length=300, pattern=r"^[A-Za-z0-9_-]+$")] = None,
) -> HTMLResponse:
    # the doc store's own cursor (a keyset over the newest-first order), passed through
    found = await fetch(
        "doc-store",
        user.eco.docs.search_documents(q or None, page_size=settings.page_size, cursor=cursor),
    )
    next_cursor = found.value.next_cursor if found.value else None
    return render(
        request, "documents.html", user=user, found=found, q=q or "", next_cursor=next_cursor
    )


@router.get(
    "/{document_id}",
    summary="A document: its view, provenance, trace and logs",
    response_class=HTMLResponse,
    responses=problem_responses(404),
)
async def document_page(
    request: Request,
    document_id: str,
    user: UserDep,
    settings: SettingsDep,
    version: VersionQuery = None,
    span: Annotated[str | None, Query(pattern=r"^[0-9a-f]{16}$")] = None,
) -> HTMLResponse:
    eco = user.eco
    doc, prov, versions, prov_doc = await asyncio.gather(
        fetch("doc-store", eco.docs.get_document(document_id, version)),
        fetch("doc-store", eco.docs.get_provenance(document_id, version)),
        fetch("doc-store", eco.docs.list_versions(document_id, page_size=VERSIONS_SHOWN)),
        fetch("doc-store", eco.docs.get_prov_json(document_id, version)),
    )
    if doc.value is None:
        return render(request, "document.html", user=user, doc=doc, status_code=doc.status or 502)
    trace_id = prov.value.trace_id if prov.value else None
    trace: Fetched = Fetched(error="The provenance names no trace.")
    if trace_id:
        trace = await fetch("log-collector", eco.logs.trace(trace_id))
        if trace.ok and trace.value is None:
            trace = Fetched(error=f"The log collector holds no spans of trace {trace_id} (yet).")
    waterfall = links = selected = None
    span_logs: list[object] = []
    if trace.value is not None:
        chain = prov.value.services_chain if prov.value else []
        links = chain_spans(chain, trace.value.roots)
        # the spans the chain links to (and the one selected) are drawn open on the page
        shown = [*links, span]
        reveal = {a for sid in shown if sid for a in ancestors(trace.value.roots, sid) or []}
        selected = find(trace.value.roots, span) if span else None
        span_logs = [r for r in trace.value.logs if selected and r.span_id == selected.span_id]
        waterfall = layout(
            trace.value.roots,
            open_depth=settings.trace_open_depth,
            budget=settings.trace_row_budget,
            reveal=reveal,
        )
    run_id = (doc.value.metadata or {}).get("run_id") or (
        prov.value.workflow_execution.execution_id
        if prov.value and prov.value.workflow_execution
        else None
    )
    return render(
        request,
        "document.html",
        user=user,
        doc=doc,
        prov=prov,
        trace=trace,
        trace_id=trace_id,
        waterfall=waterfall,
        links=links or [],
        run_id=run_id,
        selected=selected,
        span_logs=span_logs,
        versions=versions,
        version=version,
        prov_graph=prov_graph(prov_doc.value) if prov_doc.value is not None else None,
        prov_graph_error=prov_doc.error,
    )


@router.get(
    "/{document_id}/content",
    summary="The document's bytes for the sandboxed view",
    response_class=Response,
    responses=problem_responses(404),
)
async def document_content(
    document_id: str, user: UserDep, version: VersionQuery = None
) -> Response:
    got = await fetch("doc-store", user.eco.docs.download(document_id, version))
    if got.value is None:
        raise PageError(got.status or 502, "No content", got.error or "")
    # HTML and PDF are shown as themselves (sandboxed); everything else as plain text, so
    # the browser never offers it as a download instead of showing it
    ctype = got.value.content_type
    if not ctype.startswith(("text/html", "application/pdf")):
        ctype = "text/plain; charset=utf-8"
    return Response(
        got.value.content,
        media_type=ctype,
        headers={
            "Content-Security-Policy": CONTENT_CSP,
            "X-Frame-Options": "SAMEORIGIN",
            "Cache-Control": "private, no-store",
        },
    )


@router.get(
    "/{document_id}/prov.json",
    summary="The document's provenance as W3C PROV-JSON",
    response_class=Response,
    responses=problem_responses(404),
)
async def prov_json(document_id: str, user: UserDep, version: VersionQuery = None) -> Response:
    got = await fetch("doc-store", user.eco.docs.get_prov_json(document_id, version))
    if got.value is None:
        raise PageError(got.status or 502, "No provenance", got.error or "")
    return Response(
        json.dumps(got.value, indent=2),
        media_type="application/json",
        headers={"Content-Disposition": f'attachment; filename="{document_id}.prov.json"'},
    )


@router.get(
    "/{document_id}/bundle.zip",
    summary="The document, its provenance and trace as a ZIP (RO-Crate)",
    response_class=Response,
    responses=problem_responses(404),
)
async def bundle(document_id: str, user: UserDep, version: VersionQuery = None) -> Response:
    got = await fetch("doc-store", user.eco.docs.download_bundle(document_id, version))
    if got.value is None:
        raise PageError(got.status or 502, "No bundle", got.error or "")
    return Response(
        got.value.content,
        media_type="application/zip",
        headers={"Content-Disposition": f'attachment; filename="{document_id}.zip"'},
    )


@router.get(
    "/{document_id}/diff",
    summary="A line diff of two versions of a document",
    response_class=HTMLResponse,
    responses=problem_responses(404, 422),
)
async def document_diff(
    request: Request,
    document_id: str,
    user: UserDep,
    from_: Annotated[int, Query(alias="from", ge=1, le=2**31 - 1)],
    to: Annotated[int, Query(ge=1, le=2**31 - 1)],
) -> HTMLResponse:
    docs = user.eco.docs
    old, new = await asyncio.gather(
        fetch("doc-store", docs.get_document(document_id, from_)),
        fetch("doc-store", docs.get_document(document_id, to)),
    )
    context = {"user": user, "document_id": document_id, "old": old, "new": new}
    if old.value is None or new.value is None:
        status = (old if old.value is None else new).status or 502
        return render(request, "doc_diff.html", **context, diff=None, status_code=status)
    diff = await _diff_of(document_id, docs, old.value, new.value)
    return render(request, "doc_diff.html", **context, diff=diff)


async def _diff_of(
    document_id: str, docs: DocStoreAdapter, old: DocumentPublic, new: DocumentPublic
) -> LineDiff:
    """The line diff of two versions, without fetching what the limits refuse anyway."""
    if "pdf" in (old.format, new.format):
        return LineDiff(reason="Not text: a PDF has no line diff. Download both versions.")
    reason = too_large(max(old.size_bytes, new.size_bytes))
    if reason:
        return LineDiff(reason=reason)
    if old.sha256 == new.sha256:
        return LineDiff()
    a, b = await asyncio.gather(
        fetch("doc-store", docs.download(document_id, old.version)),
        fetch("doc-store", docs.download(document_id, new.version)),
    )
    if a.value is None or b.value is None:
        return LineDiff(reason=a.error or b.error or "The doc store gave no content.")
    return line_diff(a.value.content, b.value.content)
