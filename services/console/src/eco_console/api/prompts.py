"""Prompts (read-only): the list with search, and a prompt's versions, label history and
experiments with their results. Writing prompts is the CLI's job (`eco prompts push`)."""

from __future__ import annotations

import asyncio
from typing import Annotated

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse

from eco_shared.auth import PUBLIC
from eco_shared.models.prompt_store import MAX_PAGE_SIZE
from eco_shared.problems import problem_responses

from ..deps import SettingsDep, UserDep
from ..service.fetch import Fetched, fetch
from ._render import render

router = APIRouter(prefix="/prompts", tags=["prompts"], dependencies=[PUBLIC])
SERVICE = "prompt-store"
HISTORY_PER_LABEL = 20
EXPERIMENTS = 20


@router.get("", summary="Prompts, with search", response_class=HTMLResponse)
async def prompts_page(
    request: Request,
    user: UserDep,
    settings: SettingsDep,
    q: Annotated[str | None, Query(max_length=500)] = None,
    cursor: Annotated[str | None, Query(max_length=500)] = None,
) -> HTMLResponse:
    found = await fetch(
        SERVICE,
        user.eco.prompts.list_prompts(
            q or None, cursor=cursor or None, limit=min(settings.page_size, MAX_PAGE_SIZE)
        ),
    )
    next_cursor = found.value.next_cursor if found.value else None
    return render(
        request,
        "prompts.html",
        user=user,
        found=found,
        q=q or "",
        next_cursor=next_cursor,
    )


@router.get(
    "/{name}",
    summary="A prompt: versions, labels with their history, experiments with results",
    response_class=HTMLResponse,
    responses=problem_responses(404),
)
async def prompt_page(
    request: Request,
    name: str,
    user: UserDep,
    cursor: Annotated[str | None, Query(max_length=500)] = None,
) -> HTMLResponse:
    store = user.eco.prompts
    prompt, versions, experiments = await asyncio.gather(
        fetch(SERVICE, store.get_prompt(name)),
        fetch(SERVICE, store.list_versions(name, cursor=cursor or None, limit=MAX_PAGE_SIZE)),
        fetch(SERVICE, store.list_experiments(name, limit=EXPERIMENTS)),
    )
    if prompt.value is None:
        return render(
            request,
            "prompt.html",
            user=user,
            name=name,
            prompt=prompt,
            status_code=prompt.status if prompt.status in (403, 404) else 502,
        )
    labels = sorted(prompt.value.labels)
    histories = await asyncio.gather(
        *(fetch(SERVICE, store.label_history(name, lb, limit=HISTORY_PER_LABEL)) for lb in labels)
    )
    running = experiments.value.items if experiments.value else []
    results = await asyncio.gather(
        *(fetch(SERVICE, store.experiment_results(e.id)) for e in running)
    )
    return render(
        request,
        "prompt.html",
        user=user,
        name=name,
        prompt=prompt,
        versions=versions,
        next_cursor=versions.value.next_cursor if versions.value else None,
        histories=dict(zip(labels, histories, strict=True)),
        experiments=experiments,
        results={e.id: r for e, r in zip(running, results, strict=True)},
        no_results=Fetched(error="No results."),
    )
