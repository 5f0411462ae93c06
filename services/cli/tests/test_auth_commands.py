"""`eco auth ...` and `eco audit ...` against a real `eco up` (the issuer in discovery, the
audit trail in the log collector), as a user runs them: the admin key the first `eco up`
made, a narrower key that can do only what its scopes allow, rotation, revocation, and the
trail of all of it."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from eco_cli.testing import EcoUp
from eco_shared.auth import parse_key
from eco_shared.testing import wait_until

pytestmark = [pytest.mark.slow, pytest.mark.timeout(600)]  # with the module's `eco up`


@pytest.fixture(scope="module")
def eco(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EcoUp]:
    eco = EcoUp(tmp_path_factory.mktemp("auth-cli"))
    try:
        yield eco.start(ready_timeout_s=150)
    finally:
        eco.down()


def _json(eco: EcoUp, *args: str, key: str | None = None) -> Any:
    done = eco.eco(*args, "--json", env={"ECO_API_KEY": key} if key else None)
    assert done.returncode == 0, f"eco {args}: {done.stdout[-2000:]}\n{done.stderr[-2000:]}"
    return json.loads(done.stdout)


def test_the_cli_is_the_admin_eco_up_made(eco: EcoUp) -> None:
    me = _json(eco, "auth", "whoami")
    assert me["subject"] == "user:admin"
    assert "admin" in me["scopes"]
    assert me["key_id"] == parse_key(eco.admin_key()).key_id


def test_a_narrower_key_does_only_what_its_scopes_allow(eco: EcoUp) -> None:
    created = _json(
        eco, "auth", "keys", "create", "reader", "-s", "discovery:read", "-s", "docs:read"
    )
    key, key_id = created["key"], created["key_id"]
    assert parse_key(key).key_id == key_id
    listed = eco.eco("auth", "keys", "list", "--json")
    assert key not in listed.stdout  # never a secret again
    mine = next(k for k in json.loads(listed.stdout) if k["key_id"] == key_id)
    assert sorted(mine["scopes"]) == ["discovery:read", "docs:read"]

    reader = {"ECO_API_KEY": key}
    assert _json(eco, "docs", "list", key=key)["items"] is not None
    refused = eco.eco("runs", env=reader)
    assert refused.returncode == 2, refused.stdout + refused.stderr
    assert "runs:read" in refused.stderr
    more = eco.eco("auth", "keys", "create", "escalate", "-s", "admin", env=reader)
    assert more.returncode == 2, more.stdout + more.stderr

    rotated = _json(eco, "auth", "keys", "rotate", key_id, "--grace", "0")
    assert rotated["key_id"] == key_id
    assert rotated["key"] != key
    old = eco.eco("docs", "list", env=reader)
    assert old.returncode == 2, old.stdout + old.stderr
    assert "ECO_API_KEY" in old.stderr
    assert _json(eco, "docs", "list", key=rotated["key"])["items"] is not None

    revoked = eco.eco("auth", "keys", "revoke", key_id)
    assert revoked.returncode == 0, revoked.stderr
    gone = eco.eco("docs", "list", env={"ECO_API_KEY": rotated["key"]})
    assert gone.returncode == 2, gone.stdout + gone.stderr


def test_without_a_key_the_cli_says_where_one_comes_from(eco: EcoUp, tmp_path: Path) -> None:
    # another data dir: no admin.key there, but the same running ecosystem
    elsewhere = {"ECO_DATA_DIR": str(tmp_path), "ECO_DISCOVERY_URL": eco.url("discovery")}
    done = eco.eco("services", env=elsewhere)
    assert done.returncode == 2, done.stdout + done.stderr
    assert "no API key" in done.stderr
    assert "ECO_API_KEY" in done.stderr
    forged = eco.eco("services", env={"ECO_API_KEY": "eco_" + "A" * 12 + "_" + "B" * 38})
    assert forged.returncode == 2, forged.stdout + forged.stderr


def test_the_scope_table_is_read_from_every_service(eco: EcoUp) -> None:
    rows = _json(eco, "auth", "scopes")
    table = {(row["scope"], row["service"]): row["operations"] for row in rows}
    assert "GET /documents" in table[("docs:read", "doc-store")]
    assert "POST /auth/keys" in table[("auth:keys", "discovery")]
    assert "GET /audit" in table[("audit:read", "log-collector")]
    assert ("runs:create", "orchestrator") in table
    assert ("gateway:chat", "llm-gateway") in table
    for service in eco.state["services"]:
        assert "GET /health" in table[("(public)", service)]


def test_the_audit_trail_holds_the_key_lifecycle_and_verifies(eco: EcoUp) -> None:
    created = _json(eco, "auth", "keys", "create", "short-lived", "-s", "docs:read")
    eco.eco("auth", "keys", "revoke", created["key_id"])

    def revoked() -> list[dict[str, Any]]:
        page = _json(eco, "audit", "--type", "key.revoked", "--limit", "100")
        return [r for r in page["items"] if r["data"].get("key_id") == created["key_id"]]

    wait_until(revoked, timeout_s=60, interval_s=1)
    everything = eco.eco("audit", "--limit", "500", "--json")
    assert everything.returncode == 0, everything.stderr
    assert created["key"] not in everything.stdout  # key ids only, never a secret
    verified = eco.eco("audit", "verify")
    assert verified.returncode == 0, verified.stdout + verified.stderr
    assert "intact" in verified.stdout
