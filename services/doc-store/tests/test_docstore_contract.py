"""The contract test: schemathesis (every check, every phase) against the real process."""

from __future__ import annotations

from collections.abc import Callable

import httpx
import pytest

from eco_shared.testing import ServiceProcess
from eco_shared.testing.auth import bearer
from eco_shared.testing.contract import assert_contract


@pytest.mark.timeout(600)  # every phase over every route; minutes on a busy machine
def test_the_openapi_document_tells_the_truth(
    start_service: Callable[..., ServiceProcess], eco_env: dict[str, str], database_url: str
) -> None:
    service = start_service(
        "eco_doc_store.main:create_app",
        env={
            **eco_env,
            "ECO_DOC_STORE_DATABASE_URL": database_url,
            "ECO_DOC_STORE_REGISTER_WITH_DISCOVERY": "false",
            # Nothing listens there: ZIP bundles are built without the log collector.
            "ECO_DISCOVERY_URL": "http://127.0.0.1:1",
            "ECO_OTLP_ENDPOINT": "none",
        },
        port_env="ECO_DOC_STORE_PORT",
        ready_path="/health/ready",
    )
    # A few documents so searches and the stateful phase find something from the start.
    for fmt, content in (("markdown", "# Seeded notes"), ("txt", "seeded text")):
        seeded = httpx.post(
            f"{service.url}/documents",
            json={
                "title": f"Seeded {fmt}",
                "format": fmt,
                "content": content,
                "provenance": {"trace_id": "0" * 32},
            },
            headers=bearer("doc-store"),
            timeout=30,
        )
        assert seeded.status_code == 201, seeded.text
    # An admin's token: every route is reached (a missing or foreign token is tested apart).
    assert_contract(
        service.url,
        max_examples=25,
        headers=bearer("doc-store"),
        # a cursor is opaque: any string the schema allows may not be one handed out here
        rejections={"/documents": ([400], "a `cursor` this service did not hand out")},
    )
