"""Pages: overview, services, logs, ask, and `/go/{id}`."""

from __future__ import annotations

import asyncio
import re
from datetime import UTC, datetime
from typing import Annotated, Literal
from urllib.parse import quote

from fastapi import APIRouter, Form, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from eco_shared.auth import PUBLIC
from eco_shared.capabilities import openapi_operations
from eco_shared.problems import problem_responses

from ..deps import CsrfChecked, UserDep
from ..service import deps_graph, overview
from ..service.fetch import fetch
from ..service.trace_search import SINCE_CHOICES
from ._render import render

router = APIRouter(tags=["pages"], dependencies=[PUBLIC])
Level = Literal["debug", "info", "warning", "error", "critical"]
HEX32 = re.compile(r"^[0-9a-f]{32}$")
HEX16 = re.compile(r"^[0-9a-f]{16}$")
DEPS_CHOICES = {k: v for k, v in SINCE_CHOICES.items() if k}


@router.get("/", summary="Overview", response_class=HTMLResponse)
async def overview_page(request: Request, user: UserDep) -> HTMLResponse:
    parts = await asyncio.gather(*(fetch_part(user.eco) for fetch_part in overview.PARTS.values()))
    context = {k: v for part in parts for k, v in part.items()}
    return render(request, "overview.html", user=user, **context)


@router.get(
    "/services",
    summary="Services, their instances, and their dependencies from spans",
    response_class=HTMLResponse,
)
async def services_page(
    request: Request, user: UserDep, since: Annotated[str | None, Query(max_length=8)] = None
) -> HTMLResponse:
    window = since if since in DEPS_CHOICES else "1h"
    listed, deps = await asyncio.gather(
        overview.instances(user.eco),
        fetch("log-collector", user.eco.logs.dependencies(since=window)),
    )
    return render(
        request,
        "services.html",
        user=user,
        **listed,
        deps=deps,
        deps_view=deps_graph.view(deps.value, DEPS_CHOICES[window]) if deps.value else None,
        deps_since=window,
        deps_choices=DEPS_CHOICES,
        status_code=422 if since and since not in DEPS_CHOICES else 200,
    )


@router.get(
    "/services/{name}",
    summary="One service: instances, checks, capabilities",
    response_class=HTMLResponse,
    responses=problem_responses(404),
)
async def service_page(request: Request, name: str, user: UserDep) -> HTMLResponse:
    instances, spec = await asyncio.gather(
        fetch("discovery", user.eco.discovery.get_service(name)),
        fetch("discovery", user.eco.discovery.service_openapi(name)),
    )
    operations = openapi_operations(spec.value) if spec.value else []
    return render(
        request,
        "service.html",
        user=user,
        name=name,
        instances=instances,
        spec=spec,
        operations=operations,
        now=datetime.now(UTC),
        status_code=404 if instances.status == 404 else 200,
    )


@router.get("/logs", summary="Search the logs; follow them live", response_class=HTMLResponse)
async def logs_page(
    request: Request,
    user: UserDep,
    q: Annotated[str | None, Query(max_length=500)] = None,
    service: Annotated[str | None, Query(max_length=64)] = None,
    level: Level | None = None,
    trace_id: Annotated[str | None, Query(max_length=64)] = None,
    cursor: Annotated[str | None, Query(max_length=500)] = None,
) -> HTMLResponse:
    page = await fetch(
        "log-collector",
        user.eco.logs.logs(
            q=q or None,
            service=service or None,
            level=level,
            trace_id=trace_id or None,
            cursor=cursor or None,
            limit=50,
        ),
    )
    filters = {
        "q": q or "",
        "service": service or "",
        "level": level or "",
        "trace_id": trace_id or "",
    }
    return render(request, "logs.html", user=user, page=page, filters=filters)


@router.get("/ask", summary="Ask the ecosystem something", response_class=HTMLResponse)
async def ask_page(request: Request, user: UserDep) -> HTMLResponse:
    return render(request, "ask.html", user=user, error=None, query="")


@router.post(
    "/ask",
    summary="Submit a query; continue on its run page",
    response_class=Response,
    responses=problem_responses(403),
)
async def ask(
    request: Request,
    user: CsrfChecked,
    query: Annotated[str, Form(min_length=1, max_length=2000)],
    review: Annotated[bool, Form()] = False,
) -> Response:
    accepted = await fetch("orchestrator", user.eco.orchestrator.submit_query(query, review=review))
    if accepted.value is None:
        return render(
            request,
            "ask.html",
            user=user,
            error=accepted.error,
            query=query,
            status_code=accepted.status if accepted.status in (400, 403, 422, 429) else 502,
        )
    return RedirectResponse(f"/runs/{accepted.value.run_id}", status_code=303)


@router.get("/go", summary="The id box of the header, without JavaScript", response_class=Response)
async def go_form(
    user: UserDep, id: Annotated[str, Query(min_length=1, max_length=200)]
) -> Response:
    return RedirectResponse(f"/go/{quote(id.strip(), safe='')}", status_code=303)


@router.get(
    "/go/{item_id}",
    summary="The page of a run, trace, span or document id",
    response_class=Response,
    responses=problem_responses(404),
)
async def go(request: Request, item_id: str, user: UserDep) -> Response:
    eco = user.eco
    item = item_id.strip().lower()
    if HEX32.match(item):
        trace = await fetch("log-collector", eco.logs.trace(item))
        if trace.value is not None:
            return RedirectResponse(f"/traces/{item}", status_code=303)
    if HEX16.match(item):
        span = await fetch("log-collector", eco.logs.span(item))
        if span.value is not None:
            where = f"/traces/{span.value.trace_id}?span={span.value.span_id}"
            return RedirectResponse(f"{where}#span-{span.value.span_id}", status_code=303)
    run = await fetch("orchestrator", eco.orchestrator.get_run(item_id))
    if run.value is not None:
        return RedirectResponse(f"/runs/{run.value.run_id}", status_code=303)
    doc = await fetch("doc-store", eco.docs.get_document(item_id))
    if doc.value is not None:
        return RedirectResponse(f"/documents/{doc.value.id}", status_code=303)
    return render(request, "notfound.html", user=user, item_id=item_id, status_code=404)
