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
from ..service.fetch import fetch
from ._render import render

router = APIRouter(tags=["pages"], dependencies=[PUBLIC])
Level = Literal["debug", "info", "warning", "error", "critical"]
HEX32 = re.compile(r"^[0-9a-f]{32}$")


@router.get("/", summary="Overview", response_class=HTMLResponse)
async def overview(request: Request, user: UserDep) -> HTMLResponse:
    eco = user.eco
    today = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0).isoformat()
    services, running, waiting, errors, usage = await asyncio.gather(
        fetch("discovery", eco.discovery.list_services()),
        fetch("orchestrator", eco.orchestrator.list_runs(status="running", page_size=10)),
        fetch("orchestrator", eco.orchestrator.list_runs(status="waiting_review", page_size=10)),
        fetch("log-collector", eco.logs.logs(level="error", limit=10)),
        fetch("llm-gateway", eco.gateway.usage(since=today)),
    )
    return render(
        request,
        "overview.html",
        user=user,
        services=services,
        running=running,
        waiting=waiting,
        errors=errors,
        usage=usage,
    )


@router.get("/services", summary="Services and their instances", response_class=HTMLResponse)
async def services_page(request: Request, user: UserDep) -> HTMLResponse:
    listing = await fetch("discovery", user.eco.discovery.list_services())
    names = [s.name for s in listing.value.services] if listing.value else []
    instances = await asyncio.gather(
        *(fetch("discovery", user.eco.discovery.get_service(n)) for n in names)
    )
    return render(
        request,
        "services.html",
        user=user,
        listing=listing,
        instances=dict(zip(names, instances, strict=True)),
        now=datetime.now(UTC),
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
    run = await fetch("orchestrator", eco.orchestrator.get_run(item_id))
    if run.value is not None:
        return RedirectResponse(f"/runs/{run.value.run_id}", status_code=303)
    doc = await fetch("doc-store", eco.docs.get_document(item_id))
    if doc.value is not None:
        return RedirectResponse(f"/documents/{doc.value.id}", status_code=303)
    return render(request, "notfound.html", user=user, item_id=item_id, status_code=404)
