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
    answer = f"eco:prompt/answer/3/{'ab' * 32}"
    assert ("eco:run/run-123", answer) in used
    assert not any(a == "eco:run/run-456" for a, _ in used)  # it declared no inputs or prompts
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
    assert from_inputs == {(v1, source), (v1, notes), (v1, answer)}

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


PROMPT_A = "ab" * 32
PROMPT_B = "cd" * 32


async def test_prov_json_derives_each_version_from_the_prompt_versions_it_used(
    client: httpx.AsyncClient,
) -> None:
    first = {
        **copy.deepcopy(RECORD),
        "prompts_used": [
            {
                "name": "answer",
                "version": "3",
                "sha256": PROMPT_A,
                "label": "production",
                "source": "store",
                "rendered_sha256": "12" * 32,
                "experiment_id": "exp-1",
                "experiment_arm": "concise",
            },
            {"name": "classify", "version": "1", "sha256": PROMPT_B, "source": "seed"},
            {"name": "legacy"},  # an old record: nobody hashed what it used
        ],
    }
    doc = await create(client, provenance=first)
    # the next run read the same bytes from its cache, outside any experiment
    second = {
        "workflow_execution": {"execution_id": "run-789", "status": "completed"},
        "prompts_used": [
            {"name": "answer", "version": "3", "sha256": PROMPT_A, "source": "stale"},
            {"name": "legacy"},
        ],
    }
    put = await client.put(
        f"/documents/{doc['id']}", json={"content": "v2 text", "provenance": second}
    )
    assert put.status_code == 200, put.text
    response = await client.get(f"/documents/{doc['id']}/provenance?format=prov-json")
    assert response.status_code == 200, response.text
    parsed = ProvDocument.deserialize(content=response.text, format="json")
    prov = response.json()

    v1 = f"eco:document/{doc['id']}/v/1"
    v2 = f"eco:document/{doc['id']}/v/2"
    answer = f"eco:prompt/answer/3/{PROMPT_A}"
    classify = f"eco:prompt/classify/1/{PROMPT_B}"
    legacy_1 = f"eco:prompt/legacy/unknown/unknown/{doc['id']}/v/1"
    legacy_2 = f"eco:prompt/legacy/unknown/unknown/{doc['id']}/v/2"
    prompts = {k: v for k, v in prov["entity"].items() if k.startswith("eco:prompt/")}
    # one entity per exact bytes: the two uses of answer v3 are the same entity
    assert set(prompts) == {answer, classify, legacy_1, legacy_2}
    assert prompts[answer]["eco:sha256"] == PROMPT_A
    assert prompts[answer]["eco:name"] == "answer"
    assert prompts[answer]["eco:version"] == "3"
    assert prompts[answer]["prov:type"]["$"] == "eco:PromptVersion"
    # what nobody hashed is unknown, never a guess, and never merged with another use
    for legacy in (legacy_1, legacy_2):
        assert prompts[legacy]["eco:sha256"] == "unknown"
        assert prompts[legacy]["eco:version"] == "unknown"

    derived = {
        (d["prov:generatedEntity"], d["prov:usedEntity"]): d
        for d in relations(prov, "wasDerivedFrom")
        if d["prov:usedEntity"].startswith("eco:prompt/")
    }
    assert set(derived) == {
        (v1, answer),
        (v1, classify),
        (v1, legacy_1),
        (v2, answer),
        (v2, legacy_2),
    }
    # how each run came by the bytes is a fact of that use
    use = derived[(v1, answer)]
    assert use["prov:activity"] == "eco:run/run-123"
    assert use["eco:label"] == "production"
    assert use["eco:source"] == "store"
    assert use["eco:rendered_sha256"] == "12" * 32
    assert use["eco:experiment_id"] == "exp-1"
    assert use["eco:experiment_arm"] == "concise"
    again = derived[(v2, answer)]
    assert again["prov:activity"] == "eco:run/run-789"
    assert again["eco:source"] == "stale"
    assert "eco:experiment_arm" not in again
    assert "eco:label" not in again
    assert derived[(v1, classify)]["eco:source"] == "seed"
    assert "eco:source" not in derived[(v1, legacy_1)]
    used = {
        (r["prov:activity"], r["prov:entity"]): r
        for r in relations(prov, "used")
        if r["prov:entity"].startswith("eco:prompt/")
    }
    assert set(used) == {
        ("eco:run/run-123", answer),
        ("eco:run/run-123", classify),
        ("eco:run/run-123", legacy_1),
        ("eco:run/run-789", answer),
        ("eco:run/run-789", legacy_2),
    }
    assert used[("eco:run/run-123", answer)]["eco:experiment_arm"] == "concise"

    # the prov package reads it back with the same derivations
    read_back = {
        (
            str(r.get_attribute("prov:generatedEntity").pop()),
            str(r.get_attribute("prov:usedEntity").pop()),
        )
        for r in parsed.get_records()
        if r.get_type().localpart == "Derivation"
    }
    assert {(v1, answer), (v2, answer), (v1, legacy_1)} <= read_back
