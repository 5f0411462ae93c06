"""The orchestrator's prompts against a real prompt-store process: the shipped prompts are
seeded idempotently with the sha256s of their files, a `production` label someone else set
is left alone, seeding waits in the background for a store that is not there yet, and a
run renders the template bytes it pinned even after the label moved under it."""

from __future__ import annotations

import asyncio
import hashlib
import json
from collections.abc import AsyncIterator, Iterator
from importlib import resources
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import httpx
import pytest

from eco_orchestrator._seeding import push_seeds
from eco_orchestrator.prompts import seeds
from eco_orchestrator.settings import OrchestratorSettings
from eco_orchestrator.workflows import api_documentation as doc
from eco_orchestrator.workflows._base import merge
from eco_shared.adapters.prompt_store import PromptStoreAdapter
from eco_shared.http import ServiceClient
from eco_shared.prompts.client import PromptClient
from eco_shared.redis_server import free_port
from eco_shared.testing import ServiceProcess
from eco_shared.testing.auth import MintedTokens, TestAuth

APP = "eco_prompt_store.main:create_app"
PROMPTS = ("prompts:read", "prompts:write")
ORCHESTRATOR = "spiffe://eco.local/service/orchestrator"
SPEC: dict[str, Any] = {
    "openapi": "3.1.0",
    "info": {"title": "things", "version": "1"},
    "paths": {
        "/things": {
            "get": {
                "operationId": "list_things",
                "summary": "List {things} {{braces}}",  # braces in values are only text
                "tags": ["things"],
                "responses": {"200": {"description": "ok"}},
            }
        }
    },
}


def _store_process(
    redis_url: str, prefix: str, data_dir: Path, port: int | None = None
) -> ServiceProcess:
    data_dir.mkdir(parents=True, exist_ok=True)
    return ServiceProcess(
        APP,
        env={
            "ECO_REDIS_URL": redis_url,
            "ECO_REDIS_PREFIX": prefix,
            "ECO_DATA_DIR": str(data_dir),
            "ECO_ENVIRONMENT": "test",
            "ECO_LOG_FORMAT": "json",
            "ECO_DISCOVERY_URL": f"http://127.0.0.1:{free_port()}",
            "ECO_PROMPT_STORE_REGISTER_WITH_DISCOVERY": "false",
            "ECO_PROMPT_STORE_DATABASE_URL": f"sqlite:///{data_dir / 'prompts.db'}",
        },
        port=port,
        port_env="ECO_PROMPT_STORE_PORT",
        log_dir=data_dir,
    )


@pytest.fixture
def store(redis_url: str, redis_prefix: str, tmp_path: Path) -> Iterator[ServiceProcess]:
    proc = _store_process(redis_url, redis_prefix, tmp_path / "store").start(timeout_s=90)
    yield proc
    proc.terminate()


@pytest.fixture
async def http() -> AsyncIterator[ServiceClient]:
    tokens = MintedTokens(PROMPTS, subject=ORCHESTRATOR)
    async with ServiceClient(service_name="orchestrator", tokens=tokens, retries=1) as client:
        yield client


def _file_sha256s() -> dict[str, str]:
    folder = resources.files("eco_orchestrator").joinpath("prompts")
    return {
        item.name.split(".v")[0]: hashlib.sha256(item.read_bytes()).hexdigest()
        for item in folder.iterdir()
        if item.name.endswith((".md", ".json"))
    }


def _editor(store: ServiceProcess) -> httpx.Client:
    return httpx.Client(base_url=store.url, auth=TestAuth("prompt-store", PROMPTS), timeout=10)


def _versions(editor: httpx.Client, name: str) -> list[int]:
    return [v["version"] for v in editor.get(f"/prompts/{name}/versions").json()["items"]]


async def test_seeds_carry_the_files_sha256s_and_are_pushed_once(
    store: ServiceProcess, http: ServiceClient
) -> None:
    adapter = PromptStoreAdapter(http, base_url=store.url)
    shipped = _file_sha256s()
    assert set(seeds()) == set(shipped)
    assert {n: s.sha256 for n, s in seeds().items()} == shipped
    first = await push_seeds(adapter, seeds(), "production")
    with _editor(store) as editor:
        for name, sha256 in shipped.items():
            version = editor.get(f"/prompts/{name}/labels/production").json()
            assert (version["version"], version["sha256"]) == (first[name], sha256)
        # someone points production elsewhere; the next start's seeding leaves it there
        text = json.dumps(json.loads(seeds()["classify_query"].text))
        other = editor.post("/prompts/classify_query/versions", json={"template": text}).json()
        moved = editor.put(
            "/prompts/classify_query/labels/production",
            json={"version": other["version"], "expected_version": first["classify_query"]},
        )
        assert moved.status_code == 200, moved.text
        counts = {name: len(_versions(editor, name)) for name in shipped}
        again = await push_seeds(adapter, seeds(), "production")
        assert again == first  # identical bytes: the existing versions
        assert {name: len(_versions(editor, name)) for name in shipped} == counts
        kept = editor.get("/prompts/classify_query/labels/production").json()
        assert kept["version"] == other["version"]


async def test_seeding_waits_in_the_background_for_a_store_that_is_not_there_yet(
    redis_url: str, redis_prefix: str, tmp_path: Path, http: ServiceClient
) -> None:
    port = free_port()
    adapter = PromptStoreAdapter(http, base_url=f"http://127.0.0.1:{port}")
    task = asyncio.create_task(push_seeds(adapter, seeds(), "production", initial_s=0.1, max_s=0.5))
    await asyncio.sleep(1.5)
    assert not task.done()  # no store: it keeps trying, it does not fail
    proc = await asyncio.to_thread(
        _store_process(redis_url, redis_prefix, tmp_path / "late", port=port).start, 90
    )
    try:
        pushed = await asyncio.wait_for(task, timeout=60)
        assert set(pushed) == set(seeds())
    finally:
        proc.terminate()


async def test_a_run_renders_the_template_bytes_it_pinned(
    store: ServiceProcess, http: ServiceClient
) -> None:
    adapter = PromptStoreAdapter(http, base_url=store.url)
    await push_seeds(adapter, seeds(), "production")
    client = PromptClient(adapter, seeds=seeds())
    client.last_event_id = "0-0"
    client.start()
    ctx: Any = SimpleNamespace(
        settings=OrchestratorSettings(), prompts=client, owner="user:ann", run_id="run-1"
    )
    info = {
        "name": "things",
        "title": "things",
        "version": "1",
        "description": "",
        "instances": [{"instance_id": "things-1", "status": "passing"}],
        "spec_sha256": "ab" * 32,
    }
    try:
        state: dict[str, Any] = {"spec": SPEC, "service_info": info, "overview": "All {x}."}
        state |= await doc.content(state, ctx)
        state["outline"] = [{"tag": "things", "operations": ["GET /things"]}]
        state = merge(state, await doc.select_template(state, ctx))
        name = state["template"]["name"]
        seed = seeds()[name]
        assert state["pinned_prompts"][name]["sha256"] == seed.sha256

        # the label moves while the run is between selecting and formatting
        with _editor(store) as editor:
            current = editor.get(f"/prompts/{name}/labels/production").json()
            body = {"template": seed.text + "\n_moved_\n", "variables": current["variables"]}
            newer = editor.post(f"/prompts/{name}/versions", json=body).json()
            editor.put(
                f"/prompts/{name}/labels/production",
                json={"version": newer["version"], "expected_version": current["version"]},
            ).raise_for_status()
        for _ in range(300):  # the client hears of it through the watch feed
            if (await client.resolve(name)).version == newer["version"]:
                break
            await asyncio.sleep(0.05)
        assert (await client.resolve(name)).version == newer["version"]

        pinned = await doc.format_document(state, ctx)
        assert "_moved_" not in pinned["markdown"]
        ref = pinned["prompts"][name]
        assert (ref["sha256"], ref["version"]) == (seed.sha256, str(current["version"]))
        rendered = hashlib.sha256(pinned["markdown"].encode()).hexdigest()
        assert ref["rendered_sha256"] == rendered
        # the fstring renderer writes what str.format on the shipped file did, nothing more
        values = _values(state, info)
        known = {k: v for k, v in values.items() if k in seed.variables}
        assert pinned["markdown"] == seed.text.format(**known)

        # the next run pins the new version
        fresh: dict[str, Any] = {k: v for k, v in state.items() if k != "pinned_prompts"}
        fresh = merge(fresh, await doc.select_template(fresh, ctx))
        assert "_moved_" in (await doc.format_document(fresh, ctx))["markdown"]
    finally:
        await client.aclose()


def _values(state: dict[str, Any], info: dict[str, Any]) -> dict[str, str]:
    section = state["sections"]["GET /things"]
    return {
        "title": "things API reference",
        "overview": "All {x}.",
        "service": "things",
        "version": "1",
        "instances": "`things-1` (passing)",
        "operation_count": "1",
        "tag_count": "1",
        "spec_sha256": info["spec_sha256"],
        "toc": "- [things](#things)",
        "sections": "## things\n\n" + section,
        "schemas": "None.",
    }
