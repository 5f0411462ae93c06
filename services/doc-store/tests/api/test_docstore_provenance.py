"""`GET /documents/{id}/provenance`: the stored record and its W3C PROV-JSON export."""

from __future__ import annotations

import copy
import hashlib
from typing import Any

import httpx
from prov.model import ProvDocument

from eco_shared.auth import service_subject
from eco_shared.testing.auth import TestAuth, token

DOC_STORE = "doc-store"
ORCHESTRATOR = service_subject("orchestrator")

CONTENT = "# Findings\n\nThe answer is 42.\n"
SHA = hashlib.sha256(CONTENT.encode()).hexdigest()
RECORD: dict[str, Any] = {
    "workflow_execution": {
        "execution_id": "run-123",
        "workflow_name": "answer_query",
        "started_at": "2025-03-01T10:00:00Z",
        "completed_at": "2025-03-01T10:00:07.5Z",
        "status": "completed",
    },
    "services_chain": [
        {
            "service": "llm-gateway",
            "instance_id": "llm-gateway-a",
            "operation": "chat_completions",
            "started_at": "2025-03-01T10:00:01Z",
            "duration_ms": 812.5,
            "status": 200,
        },
        {"service": "discovery", "operation": "resolve", "status": "ok"},
        {"service": "llm-gateway", "operation": "chat_completions", "status": 200},
    ],
    "user_context": {
        "user_id": "alice",
        "query": "What is the answer?",
        "intent": "question",
        "entities": ["answer"],
    },
    "prompts_used": [{"name": "answer", "version": "3", "sha256": "ab" * 32}],
    "data_lineage": {
        "inputs": [
            {"uri": "https://example.org/source.html", "sha256": "cd" * 32},
            {"uri": "memory://notes"},
        ],
        "steps": ["retrieve", {"name": "generate"}],
        "outputs": [{"uri": "memory://draft", "sha256": "ef" * 32}],
    },
    "quality_metrics": {"confidence": 0.9, "completeness": 0.75},
    "content_sha256": SHA,
    "trace_id": "4bf92f3577b34da6a3ce929d0e0e4736",
    "llm": {"provider": "openai", "model": "gpt-4o-mini", "tokens_in": 120, "tokens_out": 80},
    "orchestrator_version": "0.1.0",
}


async def create(client: httpx.AsyncClient, **fields: Any) -> dict[str, Any]:
    body = {"title": "Findings", "format": "markdown", "content": CONTENT, **fields}
    response = await client.post("/documents", json=body)
    assert response.status_code == 201, response.text
    document: dict[str, Any] = response.json()
    return document


def relations(prov: dict[str, Any], kind: str) -> list[dict[str, Any]]:
    return list(prov.get(kind, {}).values())


def for_alice(*actors: str) -> dict[str, str]:
    """Alice's token, with `actors` acting for her (RFC 8693 `act`, nearest first)."""
    act: dict[str, Any] | None = None
    for actor in reversed(actors):
        act = {"sub": actor, **({"act": act} if act else {})}
    extra = {"act": act} if act else {}
    minted = token(DOC_STORE, ["docs:read", "docs:write"], subject="user:alice", **extra)
    return {"Authorization": f"Bearer {minted}"}


async def test_record_is_stored_as_given(client: httpx.AsyncClient) -> None:
    doc = await create(client, provenance=RECORD)
    record = (await client.get(f"/documents/{doc['id']}/provenance")).json()
    assert record["workflow_execution"]["execution_id"] == "run-123"
    assert record["workflow_execution"]["completed_at"] == "2025-03-01T10:00:07.500000Z"
    assert record["services_chain"][0]["duration_ms"] == 812.5
    assert record["services_chain"][1]["status"] == "ok"
    assert record["user_context"]["entities"] == ["answer"]
    assert record["data_lineage"]["inputs"][1] == {"uri": "memory://notes", "sha256": None}
    assert record["data_lineage"]["steps"] == ["retrieve", {"name": "generate"}]
    assert record["quality_metrics"]["accuracy"] is None
    assert record["content_sha256"] == SHA
    assert record["llm"]["tokens_out"] == 80
    assert record["orchestrator_version"] == "0.1.0"  # extra fields are kept
    # Who stored it comes from the token; the record's user id is only a claim.
    assert (record["principal"], record["acting_chain"]) == ("user:test", ["user:test"])
    assert record["user_context"]["user_id"] == "test"
    assert record["user_context"]["claimed_user_id"] == "alice"
    # A version stored without a record answers with an empty one: nothing is invented
    # beyond who stored it.
    await client.put(f"/documents/{doc['id']}", json={"content": "edited by hand"})
    latest = (await client.get(f"/documents/{doc['id']}/provenance")).json()
    assert latest["workflow_execution"] is None
    assert latest["llm"] is None
    assert latest["user_context"] is None
    assert latest["principal"] == "user:test"
    first = (await client.get(f"/documents/{doc['id']}/provenance?version=1")).json()
    assert first == record


async def test_the_record_names_the_principal_and_who_acted_for_it(
    client: httpx.AsyncClient,
) -> None:
    # A record that names another principal does not make it so.
    forged = {
        **copy.deepcopy(RECORD),
        "principal": "user:mallory",
        "acting_chain": ["user:mallory"],
    }
    body = {"title": "Findings", "format": "markdown", "content": CONTENT, "provenance": forged}
    created = await client.post("/documents", json=body, headers=for_alice(ORCHESTRATOR), auth=None)
    assert created.status_code == 201, created.text
    doc = created.json()
    assert doc["owner"] == "user:alice"
    record = (await client.get(f"/documents/{doc['id']}/provenance")).json()
    assert record["principal"] == "user:alice"
    assert record["acting_chain"] == ["user:alice", ORCHESTRATOR]
    assert record["user_context"]["claimed_user_id"] == "alice"
    assert record["user_context"]["user_id"] == "alice"
    versions = (await client.get(f"/documents/{doc['id']}/versions")).json()
    assert versions["items"][0]["principal"] == "user:alice"


async def test_prov_json_has_the_relations(client: httpx.AsyncClient) -> None:
    created = await client.post(
        "/documents",
        json={"title": "Findings", "format": "markdown", "content": CONTENT, "provenance": RECORD},
        headers=for_alice(ORCHESTRATOR),
        auth=None,
    )
    assert created.status_code == 201, created.text
    doc = created.json()
    second = {
        "workflow_execution": {"execution_id": "run-456", "status": "completed"},
        "services_chain": [{"service": "llm-gateway"}],
        "user_context": {"user_id": "bob"},
        "data_lineage": {"inputs": []},
        "llm": {"provider": "anthropic", "model": "claude-3-haiku"},
    }
    # An admin adds version 2; the record claims it was bob.
    admin = TestAuth(DOC_STORE, subject="user:root")
    put = await client.put(
        f"/documents/{doc['id']}", json={"content": "v2 text", "provenance": second}, auth=admin
    )
    assert put.status_code == 200
    response = await client.get(f"/documents/{doc['id']}/provenance?format=prov-json")
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json"
    prov = response.json()
    # It is real PROV-JSON: the prov package reads it back.
    parsed = ProvDocument.deserialize(content=response.text, format="json")
    assert len(parsed.get_records()) > 10

    v1 = f"eco:document/{doc['id']}/v/1"
    v2 = f"eco:document/{doc['id']}/v/2"
    entities = prov["entity"]
    assert entities[v1]["eco:sha256"] == SHA
    assert entities[v2]["eco:sha256"] == hashlib.sha256(b"v2 text").hexdigest()
    assert entities[v1]["eco:confidence"] == {"$": "0.9", "type": "xsd:double"}
    assert entities[v1]["eco:accuracy"] == "unknown"
    activities = prov["activity"]
    assert set(activities) == {"eco:run/run-123", "eco:run/run-456"}
    run1 = activities["eco:run/run-123"]
    assert run1["prov:startTime"].startswith("2025-03-01T10:00:00")
    assert run1["eco:trace_id"] == RECORD["trace_id"]
    agents = prov["agent"]
    assert {
        "eco:service/llm-gateway",
        "eco:service/discovery",
        "eco:model/openai%2Fgpt-4o-mini",
        "eco:model/anthropic%2Fclaude-3-haiku",
        "eco:user/alice",
        "eco:user/root",
        "eco:service/orchestrator",
    } <= set(agents)
    assert "eco:user/bob" not in agents  # a claim is not an agent
    assert activities["eco:run/run-456"]["eco:claimed_user_id"] == "bob"
    assert run1["eco:claimed_user_id"] == "alice"
    assert agents["eco:user/alice"]["prov:type"]["$"] == "prov:Person"
    assert agents["eco:user/alice"]["eco:subject"] == "user:alice"
    assert agents["eco:model/openai%2Fgpt-4o-mini"]["eco:model"] == "openai/gpt-4o-mini"

    generated = {(r["prov:entity"], r["prov:activity"]) for r in relations(prov, "wasGeneratedBy")}
    assert (v1, "eco:run/run-123") in generated
    assert (v2, "eco:run/run-456") in generated
    assert ("eco:output/memory%3A%2F%2Fdraft", "eco:run/run-123") in generated
    used = {(r["prov:activity"], r["prov:entity"]) for r in relations(prov, "used")}
    source = "eco:input/https%3A%2F%2Fexample.org%2Fsource.html"
    notes = "eco:input/memory%3A%2F%2Fnotes"
    assert ("eco:run/run-123", source) in used
    assert ("eco:run/run-123", notes) in used
    assert ("eco:run/run-123", "eco:prompt/answer/3") in used
    assert not any(a == "eco:run/run-456" for a, _ in used)  # it declared no inputs
    assert entities[source]["eco:sha256"] == "cd" * 32
    assert entities[notes]["eco:sha256"] == "unknown"
    associated = {
        (r["prov:activity"], r["prov:agent"]) for r in relations(prov, "wasAssociatedWith")
    }
    assert {
        ("eco:run/run-123", "eco:service/llm-gateway"),
        ("eco:run/run-123", "eco:service/discovery"),
        ("eco:run/run-123", "eco:model/openai%2Fgpt-4o-mini"),
        ("eco:run/run-123", "eco:user/alice"),
        ("eco:run/run-456", "eco:user/root"),
    } <= associated
    delegations = {
        (r["prov:delegate"], r["prov:responsible"], r.get("prov:activity"))
        for r in relations(prov, "actedOnBehalfOf")
    }
    assert delegations == {("eco:service/orchestrator", "eco:user/alice", "eco:run/run-123")}
    # Three calls, two services: one association each.
    assert sum(1 for a in associated if a == ("eco:run/run-123", "eco:service/llm-gateway")) == 1
    attributed = {(r["prov:entity"], r["prov:agent"]) for r in relations(prov, "wasAttributedTo")}
    assert (v1, "eco:user/alice") in attributed
    assert (v2, "eco:user/root") in attributed
    assert (v2, "eco:user/bob") not in attributed
    derived = relations(prov, "wasDerivedFrom")
    revisions = [d for d in derived if d.get("prov:type", {}).get("$") == "prov:Revision"]
    assert [(d["prov:generatedEntity"], d["prov:usedEntity"]) for d in revisions] == [(v2, v1)]
    from_inputs = {
        (d["prov:generatedEntity"], d["prov:usedEntity"]) for d in derived if d not in revisions
    }
    assert from_inputs == {(v1, source), (v1, notes)}

    only_v1 = (
        await client.get(f"/documents/{doc['id']}/provenance?format=prov-json&version=1")
    ).json()
    assert set(only_v1["entity"]) >= {v1}
    assert v2 not in only_v1["entity"]


async def test_unknowns_are_shown_as_unknown(client: httpx.AsyncClient) -> None:
    doc = await create(
        client, provenance={"services_chain": [{"service": "orchestrator"}], "llm": {}}
    )
    await client.put(f"/documents/{doc['id']}", json={"content": "no record"})
    prov = (await client.get(f"/documents/{doc['id']}/provenance?format=prov-json")).json()
    run_id = f"eco:run/unknown/{doc['id']}/v/1"
    run = prov["activity"][run_id]
    assert run["eco:execution_id"] == "unknown"
    assert run["eco:tokens_in"] == "unknown"
    assert "prov:startTime" not in run
    unknown_input = f"eco:input/unknown/{doc['id']}/v/1"
    assert prov["entity"][unknown_input]["prov:label"] == "unknown"
    used = {(r["prov:activity"], r["prov:entity"]) for r in relations(prov, "used")}
    assert used == {(run_id, unknown_input)}
    assert "eco:model/unknown%2Funknown" in prov["agent"]
    # The record names no user; the principal from the token is known all the same.
    assert prov["agent"]["eco:user/test"]["eco:user_id"] == "test"
    assert "eco:user/unknown" not in prov["agent"]
    assert "eco:claimed_user_id" not in run
    v2 = prov["entity"][f"eco:document/{doc['id']}/v/2"]
    assert v2["eco:provenance"] == "unknown"
    attributed = {(r["prov:entity"], r["prov:agent"]) for r in relations(prov, "wasAttributedTo")}
    assert (f"eco:document/{doc['id']}/v/2", "eco:user/test") in attributed
    # No run is invented for the version without a record.
    generated = {r["prov:entity"] for r in relations(prov, "wasGeneratedBy")}
    assert f"eco:document/{doc['id']}/v/2" not in generated
