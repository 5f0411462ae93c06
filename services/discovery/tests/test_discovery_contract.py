"""The contract test: discovery, a real process, against schemathesis with every check and
phase. A registered example service gives the stateful phase instances, capabilities and an
OpenAPI document to follow."""

from __future__ import annotations

from collections.abc import Callable

import httpx

from eco_shared.testing import ServiceProcess, wait_until
from eco_shared.testing.contract import assert_contract


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
        record = httpx.get(f"{discovery.url}/instances/example-1", timeout=5)
        return record.status_code == 200 and record.json()["capabilities_status"] == "ok"

    wait_until(example_listed, timeout_s=60)
    assert_contract(
        discovery.url,
        exclude_paths={"/watch": "a server-sent-events stream; test_discovery_watch covers it"},
        max_examples=20,
    )
