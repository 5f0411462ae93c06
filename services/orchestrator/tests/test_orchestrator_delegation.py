"""Delegation end to end, through the real issuer: a user's run acts for that user.

Discovery (the issuer), the LLM gateway, the doc store and the orchestrator run as real
processes on a Redis of their own, all on the test session's key material. A user API key
is created at the issuer with the bootstrap admin key and exchanged for tokens
(`ApiKeyTokens`); the orchestrator turns the user's token into a run grant and every call
of the run carries a token acting for the user. So the stored document is the user's, its
provenance names the user and the acting chain (user, orchestrator), another user cannot
see it, and once the key is revoked the run's next call is refused and the run fails
saying why, storing nothing.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Iterator
from typing import Any

import httpx
import pytest

from eco_shared.adapters import AdapterError
from eco_shared.adapters.orchestrator import OrchestratorAdapter, RunPublic
from eco_shared.auth import ApiKeyTokens, TokenError, service_subject
from eco_shared.http import ServiceClient
from eco_shared.testing.auth import bearer, session_material
from eco_shared.testing.ecosystem import PrivateEcosystem

pytestmark = [pytest.mark.slow, pytest.mark.timeout(600)]

SERVICES = ("llm-gateway", "doc-store", "orchestrator")
USER_SCOPES = [
    "docs:read",
    "docs:write",
    "runs:create",
    "runs:read",
    "runs:write",
    "gateway:chat",
    "gateway:read",
    "discovery:read",
    "auth:keys",
]
QUERY = "Create API documentation for the doc-store service"


@pytest.fixture(scope="module")
def eco(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PrivateEcosystem]:
    eco = PrivateEcosystem(tmp_path_factory.mktemp("delegation"))
    try:
        eco.redis.start()
        eco.env["ECO_REDIS_URL"] = eco.redis.url
        eco.start_service("discovery", ECO_DISCOVERY_REGISTER_WITH_DISCOVERY="false")
        eco.env["ECO_DISCOVERY_URL"] = eco.url("discovery")
        for name in SERVICES:
            eco.start_service(name)
        _wait_passing(eco, set(SERVICES))
        yield eco
    finally:
        eco.stop()


def _wait_passing(eco: PrivateEcosystem, wanted: set[str], timeout_s: float = 90) -> None:
    deadline = time.monotonic() + timeout_s
    with httpx.Client(timeout=10, headers=bearer("discovery", ["discovery:read"])) as client:
        while True:
            listing = client.get(eco.url("discovery") + "/services").json().get("services", [])
            if wanted <= {s["name"] for s in listing if s["status"] == "passing"}:
                return
            assert time.monotonic() < deadline, f"not all passing: {listing}"
            time.sleep(0.3)


@pytest.fixture(scope="module")
def admin_key() -> str:
    key = session_material().admin_key()
    assert key is not None, "the session's key material has no admin key"
    return key.value


async def _create_user_key(issuer: str, admin_key: str) -> dict[str, Any]:
    admin = ApiKeyTokens(issuer, admin_key)
    try:
        async with httpx.AsyncClient(base_url=issuer, timeout=10) as client:
            token = await admin.token_for("discovery")
            created = await client.post(
                "/auth/keys",
                json={"name": "delegation test", "scopes": USER_SCOPES},
                headers={"Authorization": f"Bearer {token}"},
            )
    finally:
        await admin.aclose()
    assert created.status_code == 201, created.text
    return dict(created.json())


async def _revoke(issuer: str, admin_key: str, key_id: str) -> None:
    admin = ApiKeyTokens(issuer, admin_key)
    try:
        async with httpx.AsyncClient(base_url=issuer, timeout=10) as client:
            token = await admin.token_for("discovery")
            revoked = await client.delete(
                f"/auth/keys/{key_id}", headers={"Authorization": f"Bearer {token}"}
            )
    finally:
        await admin.aclose()
    assert revoked.status_code == 204, revoked.text


@pytest.fixture
async def user(eco: PrivateEcosystem, admin_key: str) -> AsyncIterator[dict[str, Any]]:
    """A fresh user key (its issuer record), with an orchestrator adapter acting as it."""
    issuer = eco.url("discovery")
    created = await _create_user_key(issuer, admin_key)
    tokens = ApiKeyTokens(issuer, created["key"])
    async with ServiceClient(service_name="test-user", tokens=tokens) as http:
        adapter = OrchestratorAdapter(http, base_url=eco.url("orchestrator"))
        yield {**created, "adapter": adapter, "tokens": tokens}
    await tokens.aclose()


async def _until(adapter: OrchestratorAdapter, run_id: str, statuses: set[str]) -> RunPublic:
    deadline = time.monotonic() + 240
    while True:
        run = await adapter.get_run(run_id)
        if run.status in statuses:
            return run
        assert time.monotonic() < deadline, run
        await asyncio.sleep(0.3)


async def test_a_delegated_run_stores_a_document_of_its_user(
    eco: PrivateEcosystem, user: dict[str, Any]
) -> None:
    owner = user["owner"]
    adapter: OrchestratorAdapter = user["adapter"]
    result = await adapter.execute_query(QUERY, user_id="someone-else", timeout_s=240)
    run = await adapter.get_run(result.run_id)
    assert (run.owner, run.user_id) == (owner, "someone-else")

    provenance = result.provenance
    assert provenance["principal"] == owner
    assert provenance["acting_chain"] == [owner, service_subject("orchestrator")]
    assert provenance["user_context"]["claimed_user_id"] == "someone-else"

    doc_store = eco.url("doc-store")
    async with httpx.AsyncClient(base_url=doc_store, timeout=30) as client:
        as_user = bearer("doc-store", ["docs:read"], subject=owner)
        mine = await client.get(f"/documents/{result.document_id}", headers=as_user)
        assert mine.status_code == 200, mine.text
        # another user: the document does not exist for them
        as_bob = bearer("doc-store", ["docs:read"], subject="user:bob")
        theirs = await client.get(f"/documents/{result.document_id}", headers=as_bob)
        assert theirs.status_code == 404
        stored = await client.get(f"/documents/{result.document_id}/provenance", headers=as_user)
    assert stored.status_code == 200, stored.text
    assert stored.json()["principal"] == owner
    assert stored.json()["acting_chain"] == [owner, service_subject("orchestrator")]

    # the orchestrator's own view of the provenance, read acting for the run's owner
    assert await adapter.document_provenance(result.document_id) == provenance


async def test_revoking_the_key_stops_the_runs_further_calls(
    eco: PrivateEcosystem, user: dict[str, Any], admin_key: str
) -> None:
    adapter: OrchestratorAdapter = user["adapter"]
    accepted = await adapter.submit_query(QUERY, review=True)
    paused = await _until(adapter, accepted.run_id, {"waiting_review", "failed", "completed"})
    assert paused.status == "waiting_review", paused.error
    assert paused.owner == user["owner"]

    issuer = eco.url("discovery")
    await _revoke(issuer, admin_key, user["key_id"])
    # the user cannot even ask any more (past the token it holds already)
    user["tokens"].forget("orchestrator")
    with pytest.raises(TokenError):
        await user["tokens"].token_for("orchestrator")

    # an operator approves: the run resumes and its next call acts for the revoked user
    admin = ApiKeyTokens(issuer, admin_key)
    async with ServiceClient(service_name="test-admin", tokens=admin) as http:
        operator = OrchestratorAdapter(http, base_url=eco.url("orchestrator"))
        await operator.resume_run(accepted.run_id, approve=True)
        run = await _until(operator, accepted.run_id, {"failed", "completed", "cancelled"})
        assert run.status == "failed"
        assert run.error is not None
        assert "GrantRefused" in run.error, run.error
        assert "revoked" in run.error, run.error
        with pytest.raises(AdapterError) as unknown:
            await operator.document_provenance("no-such-document")
        assert unknown.value.status == 404
    await admin.aclose()

    # nothing was stored for the run
    async with httpx.AsyncClient(base_url=eco.url("doc-store"), timeout=30) as client:
        listed = await client.get(
            "/documents", params={"page_size": 100}, headers=bearer("doc-store")
        )
    assert listed.status_code == 200, listed.text
    runs = {d.get("metadata", {}).get("run_id") for d in listed.json()["items"]}
    assert accepted.run_id not in runs
