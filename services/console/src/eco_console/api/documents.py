"""Documents: search, the document page (sandboxed view, provenance, trace, logs), downloads."""

from __future__ import annotations

import asyncio
import json
from typing import Annotated

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse, Response

from eco_shared.auth import PUBLIC
from eco_shared.pagination import decode_cursor, encode_cursor
from eco_shared.problems import problem_responses

from ..deps import PageError, SettingsDep, UserDep
from ..service.fetch import Fetched, fetch
from ..service.links import chain_spans
from ..service.waterfall import ancestors, layout
from ._render import render

router = APIRouter(prefix="/documents", tags=["documents"], dependencies=[PUBLIC])
# the document's own bytes: nothing runs, nothing loads, nothing leaves
CONTENT_CSP = "default-src 'none'; style-src 'unsafe-inline'; img-src data:; sandbox"


@router.get(
    "", summary="Search documents", response_class=HTMLResponse, responses=problem_responses(400)
)
async def documents_page(
    request: Request,
    user: UserDep,
    settings: SettingsDep,
    q: Annotated[str | None, Query(max_length=500)] = None,
    cursor: Annotated[str | None, Query(max_length=200)] = None,
) -> HTMLResponse:
    page = int(decode_cursor(cursor, int)[0]) if cursor else 1
    found = await fetch(
        "doc-store",
        user.eco.docs.search_documents(q or None, page=page, page_size=settings.page_size),
    )
    next_cursor = None
    if found.value and page * settings.page_size < found.value.total:
        next_cursor = encode_cursor(page + 1)
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
    request: Request, document_id: str, user: UserDep, settings: SettingsDep
) -> HTMLResponse:
    eco = user.eco
    doc, prov = await asyncio.gather(
        fetch("doc-store", eco.docs.get_document(document_id)),
        fetch("doc-store", eco.docs.get_provenance(document_id)),
    )
    if doc.value is None:
        return render(request, "document.html", user=user, doc=doc, status_code=doc.status or 502)
    trace_id = prov.value.trace_id if prov.value else None
    trace: Fetched = Fetched(error="The provenance names no trace.")
    if trace_id:
        trace = await fetch("log-collector", eco.logs.trace(trace_id))
        if trace.ok and trace.value is None:
            trace = Fetched(error=f"The log collector holds no spans of trace {trace_id} (yet).")
    waterfall = links = None
    if trace.value is not None:
        chain = prov.value.services_chain if prov.value else []
        links = chain_spans(chain, trace.value.roots)
        # the spans the chain links to are drawn open on the page
        reveal = {a for sid in links if sid for a in ancestors(trace.value.roots, sid) or []}
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
        selected=None,
    )


@router.get(
    "/{document_id}/content",
    summary="The document's bytes for the sandboxed view",
    response_class=Response,
    responses=problem_responses(404),
)
async def document_content(document_id: str, user: UserDep) -> Response:
    got = await fetch("doc-store", user.eco.docs.download(document_id))
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
async def prov_json(document_id: str, user: UserDep) -> Response:
    got = await fetch("doc-store", user.eco.docs.get_prov_json(document_id))
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
async def bundle(document_id: str, user: UserDep) -> Response:
    got = await fetch("doc-store", user.eco.docs.download_bundle(document_id))
    if got.value is None:
        raise PageError(got.status or 502, "No bundle", got.error or "")
    return Response(
        got.value.content,
        media_type="application/zip",
        headers={"Content-Disposition": f'attachment; filename="{document_id}.zip"'},
    )
