"""The planner is offered only the tools the run's owner may call: tools carry the scopes
their operation declares (`x-eco-scopes`, as discovery passes them on), the `understand`
node lists only the allowed ones (and only the workflows whose calls the owner may make)
as labels to the LLM, and the capability workflow refuses a tool beyond the owner's
scopes. Over real HTTP: one small app plays discovery (services,
instances, capabilities) and the LLM gateway (recording what it was asked)."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest
from fastapi import FastAPI, Request

from eco_orchestrator.settings import OrchestratorSettings
from eco_orchestrator.workflows import RunContext
from eco_orchestrator.workflows.capability import invoke
from eco_orchestrator.workflows.understand import CAPABILITY_PREFIX, understand
from eco_shared.directory import ServiceDirectory
from eco_shared.http import ServiceClient
from eco_shared.testing.servers import ThreadedServer
from eco_shared.tools import ToolRegistry

CAPABILITIES: list[dict[str, Any]] = [
    {
        "service": "discovery",
        "method": "GET",
        "path": "/services",
        "operation_id": "list_services",
        "scopes": ["discovery:read"],
    },
    {
        "service": "llm-gateway",
        "method": "POST",
        "path": "/v1/chat/completions",
        "operation_id": "chat_completions",
        "request_schema": {"type": "object"},
        "scopes": ["gateway:chat"],
    },
    {
        "service": "prompts",
        "method": "GET",
        "path": "/prompts",
        "operation_id": "search_prompts",
        "intent": "search the prompt library",
        "query_params": ["q"],
        "scopes": ["prompts:read"],
    },
    {
        "service": "prompts",
        "method": "POST",
        "path": "/prompts",
        "operation_id": "publish_prompt",
        "intent": "publish a new prompt to the library",
        "request_schema": {"type": "object", "properties": {"text": {"type": "string"}}},
        "x-eco-scopes": ["prompts:write"],
    },
    {
        "service": "registry",
        "method": "POST",
        "path": "/register/{name}",
        "operation_id": "register_name",
        "intent": "register a name",
        "path_params": ["name"],
        "scopes": ["discovery:register:{name}"],
    },
    {
        # a service that declares no scopes: only it can say who may call it
        "service": "legacy",
        "method": "GET",
        "path": "/things",
        "operation_id": "list_things",
        "intent": "list the legacy things",
    },
]
SERVICES = sorted({c["service"] for c in CAPABILITIES})


class FakeEcosystem:
    """Discovery's read routes and the LLM gateway's chat route, recording each task."""

    def __init__(self) -> None:
        self.tasks: list[dict[str, Any]] = []
        self.url = ""
        self.app = FastAPI()
        app = self.app

        @app.get("/services")
        async def services() -> dict[str, Any]:
            return {"services": [{"name": name, "status": "passing"} for name in SERVICES]}

        @app.get("/services/{name}")
        async def instances(name: str) -> dict[str, Any]:
            return {"instances": [{"base_url": self.url, "instance_id": f"{name}-1"}]}

        @app.get("/capabilities")
        async def capabilities() -> dict[str, Any]:
            return {"items": CAPABILITIES, "total": len(CAPABILITIES)}

        @app.post("/v1/chat/completions")
        async def chat(request: Request) -> dict[str, Any]:
            body = await request.json()
            self.tasks.append(json.loads(body["messages"][0]["content"]))
            answer = {"label": "unsupported", "confidence": 0.9, "entities": []}
            return {"choices": [{"message": {"content": json.dumps(answer)}}], "usage": {}}


@pytest.fixture
def ecosystem() -> Iterator[FakeEcosystem]:
    fake = FakeEcosystem()
    with ThreadedServer(fake.app) as server:
        fake.url = server.url
        yield fake


@pytest.fixture
async def tools(ecosystem: FakeEcosystem) -> AsyncIterator[ToolRegistry]:
    async with ServiceClient(service_name="orchestrator") as http:
        yield ToolRegistry(http, ServiceDirectory(ecosystem.url, http))


def _context(tools: ToolRegistry, scopes: set[str] | None) -> RunContext:
    async def nothing(*_: Any) -> Any:
        return False

    return RunContext(
        run_id="r1",
        settings=OrchestratorSettings(),
        tools=tools,
        directory=tools.directory,
        events=None,  # type: ignore[arg-type]  # understand and invoke emit nothing
        is_cancelled=nothing,
        on_node=nothing,
        owner="user:alice",
        scopes=frozenset(scopes) if scopes is not None else None,
    )


async def test_tools_know_the_scopes_their_operations_declare(tools: ToolRegistry) -> None:
    by_name = {t.name: t for t in await tools.tools()}
    assert by_name["prompts.search_prompts"].scopes == ("prompts:read",)
    assert by_name["prompts.publish_prompt"].scopes == ("prompts:write",)
    assert by_name["legacy.list_things"].scopes is None
    reader = {"prompts:read"}
    assert by_name["prompts.search_prompts"].allowed(reader)
    assert not by_name["prompts.publish_prompt"].allowed(reader)
    assert by_name["prompts.publish_prompt"].allowed({"prompts:write"})
    assert by_name["prompts.publish_prompt"].allowed({"admin"})
    # a scope naming a request value is held for any value, but only that scope
    assert by_name["registry.register_name"].allowed({"discovery:register:doc-store"})
    assert not by_name["registry.register_name"].allowed({"discovery:read"})
    assert by_name["legacy.list_things"].allowed(set())

    offered = {t.name for t in await tools.with_intent({"prompts:read"})}
    assert offered == {"prompts.search_prompts", "legacy.list_things"}
    everything = {t.name for t in await tools.with_intent()}
    assert everything == {
        "prompts.search_prompts",
        "prompts.publish_prompt",
        "registry.register_name",
        "legacy.list_things",
    }


def _offered_labels(ecosystem: FakeEcosystem) -> tuple[set[str], set[str]]:
    """The workflows and the tools the classification task was offered."""
    [classify] = [t for t in ecosystem.tasks if t.get("task") == "classify"]
    names = {str(label["name"]) for label in classify["labels"]} - {"unsupported"}
    tools = {n[len(CAPABILITY_PREFIX) :] for n in names if n.startswith(CAPABILITY_PREFIX)}
    return {n for n in names if not n.startswith(CAPABILITY_PREFIX)}, tools


ALL_WORKFLOWS = {"api_documentation", "ecosystem_report", "incident_digest", "document_answer"}


@pytest.mark.parametrize(
    ("scopes", "workflows", "offered"),
    [
        (
            {"discovery:read", "gateway:chat", "docs:write", "prompts:read"},
            set(),
            {"prompts.search_prompts", "legacy.list_things"},
        ),
        (
            {"discovery:read", "gateway:chat", "docs:read", "docs:write", "prompts:write"},
            {"api_documentation", "document_answer"},
            {"prompts.publish_prompt", "legacy.list_things"},
        ),
        (
            {"gateway:chat", "docs:write", "logs:read", "discovery:register:x"},
            {"incident_digest"},
            {"registry.register_name", "legacy.list_things"},
        ),
        # a run with no scopes recorded (authentication off) is offered everything
        (
            None,
            ALL_WORKFLOWS,
            {
                "prompts.search_prompts",
                "prompts.publish_prompt",
                "registry.register_name",
                "legacy.list_things",
            },
        ),
    ],
)
async def test_the_planner_is_offered_only_what_the_owner_may_do(
    ecosystem: FakeEcosystem,
    tools: ToolRegistry,
    scopes: set[str] | None,
    workflows: set[str],
    offered: set[str],
) -> None:
    state: Any = {"query": "do a thing"}
    update = await understand(state, _context(tools, scopes))
    assert _offered_labels(ecosystem) == (workflows, offered)
    # what the clarification says it can do is the same
    clarification = update["clarification"]
    assert {c["tool"] for c in clarification["capabilities"]} == offered
    assert set(clarification["workflows"]) - {"capability"} == workflows


async def test_a_tool_beyond_the_owners_scopes_is_refused(tools: ToolRegistry) -> None:
    state: Any = {"query": "publish", "params": {"tool": "prompts.publish_prompt", "ids": []}}
    with pytest.raises(PermissionError, match="prompts:write"):
        await invoke(state, _context(tools, {"prompts:read"}))
