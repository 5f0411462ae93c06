"""The prompt-store adapter, held against the real service process and its OpenAPI document."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import pytest

from eco_shared.adapters import AdapterError, check_adapter_against_openapi
from eco_shared.adapters.prompt_store import PromptStoreAdapter, PromptVersionCreate
from eco_shared.http import ServiceClient
from eco_shared.testing.auth import MintedTokens


async def test_the_adapter_matches_the_openapi_document(store: Any) -> None:
    async with httpx.AsyncClient() as raw:
        spec = (await raw.get(f"{store.url}/openapi.json")).json()
    assert check_adapter_against_openapi(PromptStoreAdapter, spec) == []
    scopes = spec["paths"]["/prompts/{name}/labels/{label}"]["put"]["x-eco-scopes"]
    assert scopes == ["prompts:write"]
    assert spec["paths"]["/prompts"]["get"]["x-eco-scopes"] == ["prompts:read"]


async def test_the_adapter_drives_the_real_service(store: Any, name: str) -> None:
    async with ServiceClient(service_name="test", tokens=MintedTokens()) as http:
        prompts = PromptStoreAdapter(http, base_url=store.url)
        assert (await prompts.health())["service"] == "prompt-store"
        created = await prompts.create_prompt(name, description="adapter", tags=["a"])
        assert (created.name, created.tags, created.latest_version) == (name, ["a"], None)
        body = PromptVersionCreate(template="Hi {{ who }}", variables={"who": {"type": "string"}})
        v1 = await prompts.add_version(name, body)
        v2 = await prompts.add_version(
            name, {"template": "Bye {{ who }}", "variables": body.variables}
        )
        assert (v1.version, v2.version, v2.labels) == (1, 2, ["latest"])
        assert (await prompts.add_version(name, body)).version == 1  # identical: the first
        assert (await prompts.get_version(name, 1)).sha256 == v1.sha256
        assert (await prompts.get_by_sha256(v2.sha256)).version == 2
        assert (await prompts.get_label(name, "latest")).version == 2
        assert [v.version for v in (await prompts.list_versions(name)).items] == [2, 1]
        assert [p.name for p in (await prompts.list_prompts(name)).items] == [name]

        label = await prompts.move_label(name, "prod", 1, None, reason="launch")
        assert (label.version, label.moved_by) == (1, "user:test")
        with pytest.raises(AdapterError) as conflict:
            await prompts.move_label(name, "prod", 2, 2)
        assert conflict.value.status == 409
        assert conflict.value.problem["current_version"] == 1
        await prompts.move_label(name, "prod", 2, 1)
        rolled = await prompts.rollback(name, "prod", reason="bad")
        assert (rolled.version, rolled.previous_version) == (1, 2)
        history = await prompts.label_history(name, "prod")
        assert [(m.from_version, m.to_version) for m in history.items] == [
            (2, 1),
            (1, 2),
            (None, 1),
        ]

        resolved = await prompts.resolution(name, "prod")
        assert resolved is not None
        assert (resolved.version.version, resolved.experiment) == (1, None)
        assert resolved.etag
        assert await prompts.resolution(name, "prod", etag=resolved.etag) is None

        diff = await prompts.diff(name, 1, 2)
        assert diff.changes.template
        assert not diff.changes.variables
        rendered = await prompts.render(name, 1, {"who": "Ada"})
        assert rendered.rendered == "Hi Ada"
        with pytest.raises(AdapterError) as refused:
            await prompts.render(name, 1, {})
        assert refused.value.status == 422
        assert refused.value.problem["errors"][0]["variable"] == "who"
        linted = await prompts.lint("{{ x }}", variables={})
        assert [p.code for p in linted.problems] == ["undeclared_variable"]
        with pytest.raises(AdapterError) as unknown:
            await prompts.get_prompt("no-such-prompt-here")
        assert unknown.value.status == 404

        async def first_move() -> Any:
            async for event in prompts.watch(last_event_id="0"):
                if event.data["name"] == name:
                    return event
            return None

        event = await asyncio.wait_for(first_move(), 60)
        assert (event.type, event.data["label"], event.data["version"]) == (
            "prompt.label_moved",
            "latest",
            1,
        )
        assert event.cursor
