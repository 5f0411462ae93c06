"""Every route of every installed service, held on the built apps: none of them makes a
request wait for FastAPI's thread pool.

FastAPI runs a plain `def` endpoint or dependency in its thread pool: a hop to a worker
thread and back on every request (the doc store's create path had three; making them
`async def` cut its server CPU per create by about a sixth, docs/PERFORMANCE.md).
"""

from __future__ import annotations

import importlib
import inspect
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute, iter_route_contexts

from eco_shared.services import installed_services


def _runs_on_the_loop(call: Callable[..., Any]) -> bool:
    target = call if inspect.isfunction(call) or inspect.ismethod(call) else call.__call__  # type: ignore[operator]
    return inspect.iscoroutinefunction(target) or inspect.isasyncgenfunction(target)


def _calls(dependant: Dependant) -> Iterator[Callable[..., Any]]:
    for sub in dependant.dependencies:
        if sub.call is not None:
            yield sub.call
        yield from _calls(sub)


def _blocking(app: FastAPI) -> list[str]:
    found = []
    for context in iter_route_contexts(app.routes):
        if not isinstance(context.original_route, APIRoute):
            continue
        dependant: Dependant = context.dependant
        where = f"{sorted(context.methods or ())} {context.path}"
        if dependant.call is not None and not _runs_on_the_loop(dependant.call):
            found.append(f"{where}: endpoint {dependant.call.__qualname__}")
        for call in _calls(dependant):
            if not _runs_on_the_loop(call):
                name = getattr(call, "__qualname__", type(call).__qualname__)
                found.append(f"{where}: dependency {name}")
    return sorted(set(found))


@pytest.mark.parametrize("spec", installed_services(), ids=lambda spec: spec.name)
def test_no_route_of_a_service_runs_in_the_thread_pool(spec: Any) -> None:
    module, _, factory = spec.app.partition(":")
    app = getattr(importlib.import_module(module), factory)()
    routes = list(iter_route_contexts(app.routes))
    assert len(routes) > 5, "the walk sees the service's routes"
    assert _blocking(app) == []


def test_the_walk_finds_a_plain_def_dependency_and_endpoint() -> None:
    from fastapi import Depends

    from eco_shared.auth import PUBLIC

    def plain() -> int:
        return 1

    async def nested(value: int = Depends(plain)) -> int:  # noqa: B008
        return value

    app = FastAPI()

    @app.get("/async", dependencies=[PUBLIC])
    async def fine(value: int = Depends(nested)) -> int:  # noqa: B008
        return value

    @app.get("/sync", dependencies=[PUBLIC])
    def blocking() -> int:
        return 1

    assert _blocking(app) == [
        "['GET'] /async: dependency test_the_walk_finds_a_plain_def_dependency_and_endpoint"
        ".<locals>.plain",
        "['GET'] /sync: endpoint test_the_walk_finds_a_plain_def_dependency_and_endpoint"
        ".<locals>.blocking",
    ]
