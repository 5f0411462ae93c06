"""The contract test: discovery, a real process, against schemathesis with every check and
phase, as an admin user. A registered example service gives the stateful phase instances,
capabilities and an OpenAPI document to follow; the issuer's routes are fuzzed too (keys
created, read, rotated, revoked; the token endpoint and introspection with made-up forms)."""

from __future__ import annotations

from collections.abc import Callable

import httpx
import pytest

from eco_shared.testing import ServiceProcess, wait_until
from eco_shared.testing.auth import TestAuth, bearer
from eco_shared.testing.contract import assert_contract

ADMIN = TestAuth("discovery")  # an admin user's tokens, minted per request


@pytest.mark.slow
@pytest.mark.timeout(900)  # the registry's and the issuer's routes, every phase
def test_discovery_keeps_its_openapi_contract(
    start_discovery: Callable[..., ServiceProcess],
    start_example: Callable[..., ServiceProcess],
) -> None:
    # Leases long enough that nothing schemathesis registers lapses mid-sequence.
    discovery = start_discovery(
        ECO_DISCOVERY_DEFAULT_TTL_S="120", ECO_DISCOVERY_DEREGISTER_CRITICAL_AFTER_S="120"
    )
    start_example(discovery.url, "example-1")

    def example_listed() -> bool:
        record = httpx.get(f"{discovery.url}/instances/example-1", timeout=5, auth=ADMIN)
        return record.status_code == 200 and record.json()["capabilities_status"] == "ok"

    wait_until(example_listed, timeout_s=60)
    assert_contract(
        discovery.url,
        exclude_paths={"/watch": "a server-sent-events stream; test_discovery_watch covers it"},
        max_examples=20,
        headers=bearer("discovery"),  # an admin user: every route is open to it
    )
