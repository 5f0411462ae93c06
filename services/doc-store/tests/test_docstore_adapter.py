"""The doc-store adapter, held against the real service process and its OpenAPI document."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta

import httpx
import pytest

from eco_shared.adapters import AdapterError, check_adapter_against_openapi
from eco_shared.adapters.doc_store import DocStoreAdapter
from eco_shared.http import ServiceClient
from eco_shared.provenance import ProvenanceRecord, WorkflowExecution
from eco_shared.testing import ServiceProcess
from eco_shared.testing.auth import MintedTokens


@pytest.fixture
def service(
    start_service: Callable[..., ServiceProcess], eco_env: dict[str, str], database_url: str
) -> ServiceProcess:
    return start_service(
        "eco_doc_store.main:create_app",
        env={
            **eco_env,
            "ECO_DOC_STORE_DATABASE_URL": database_url,
            "ECO_DOC_STORE_REGISTER_WITH_DISCOVERY": "false",
        },
        port_env="ECO_DOC_STORE_PORT",
        ready_path="/health/ready",
    )


async def test_adapter_against_the_real_service_process(
    service: ServiceProcess, make_pdf: Callable[[str], bytes]
) -> None:
    # One process for both halves: starting a service is the slow part.
    async with httpx.AsyncClient() as raw:
        spec = (await raw.get(f"{service.url}/openapi.json")).json()
    assert check_adapter_against_openapi(DocStoreAdapter, spec) == []
    params = {p["name"]: p for p in spec["paths"]["/documents"]["get"]["parameters"]}
    assert params["page_size"]["schema"]["maximum"] == 100

    async with ServiceClient(service_name="test", tokens=MintedTokens()) as http:
        docs = DocStoreAdapter(http, base_url=service.url)
        assert (await docs.health())["service"] == "doc-store"
        assert {c.path for c in await docs.capabilities()} >= {"/documents/{document_id}"}

        record = ProvenanceRecord(
            workflow_execution=WorkflowExecution(execution_id="run-a", status="completed")
        )
        created = await docs.create_document(
            "Adapter notes", "markdown", "# héllo adapter", metadata={"k": 1}, provenance=record
        )
        assert (created.version, created.metadata, created.owner) == (1, {"k": 1}, "user:test")
        assert created.content == "# héllo adapter"
        assert created.content_url == f"{service.url}/documents/{created.id}/download?version=1"
        again = await docs.create_document(
            "Adapter notes",
            "markdown",
            "# héllo adapter",
            metadata={"k": 1},
            provenance=record,
            idempotency_key="adapter-key",
        )
        assert again.id != created.id  # a different key is a different document
        replay = await docs.create_document(
            "Adapter notes",
            "markdown",
            "# héllo adapter",
            metadata={"k": 1},
            provenance=record,
            idempotency_key="adapter-key",
        )
        assert replay.id == again.id

        pdf = make_pdf("adapter")
        v2 = await docs.add_version(created.id, pdf, format="pdf", title="Adapter PDF")
        assert (v2.version, v2.format, v2.title) == (2, "pdf", "Adapter PDF")
        assert (await docs.get_document(created.id)).version == 2
        assert (await docs.get_document(created.id, version=1)).format == "markdown"

        versions = await docs.list_versions(created.id, page_size=1)
        assert (versions.total, [v.version for v in versions.items]) == (2, [2])

        latest = await docs.download(created.id)
        assert latest.content == pdf
        assert latest.content_type == "application/pdf"
        assert latest.filename == "Adapter PDF.pdf"
        assert (latest.sha256, latest.version) == (v2.sha256, 2)
        first = await docs.download(created.id, version=1)
        assert first.content == "# héllo adapter".encode()
        assert first.filename == "Adapter notes.md"

        stored = await docs.get_provenance(created.id, version=1)
        assert stored.workflow_execution is not None
        assert stored.workflow_execution.execution_id == "run-a"
        claimed = await docs.create_document("Claimed", "txt", "x", user_id="someone")
        claim = (await docs.get_provenance(claimed.id)).model_dump()
        assert (claim["principal"], claim["user_context"]["claimed_user_id"]) == (
            "user:test",
            "someone",
        )
        await docs.delete_document(claimed.id)
        prov = await docs.get_prov_json(created.id)
        assert "eco:run/run-a" in prov["activity"]

        found = await docs.search_documents("hello")  # accents folded; v2 of `created` is a PDF
        assert [d.id for d in found.items] == [again.id]
        assert found.items[0].content_omitted == "not_requested"
        whole = await docs.search_documents("hello", include_content=True)
        assert whole.items[0].content == "# héllo adapter"
        bundle = await docs.download_bundle(created.id, version=1)
        assert (bundle.content_type, bundle.filename) == (
            "application/zip",
            "Adapter notes.crate.zip",
        )
        assert bundle.content.startswith(b"PK")
        found = await docs.search_documents("adapter", format="markdown")
        assert [d.id for d in found.items] == [again.id]
        found = await docs.search_documents("adapters hello elephant", match="any")
        # Stemmed, one term is enough, most terms first: `created` is now "Adapter PDF".
        assert [d.id for d in found.items] == [again.id, created.id]
        assert (await docs.search_documents("adapters elephant")).total == 0
        since = await docs.search_documents(created_after=created.created_at)
        assert [d.id for d in since.items] == [again.id]
        later = await docs.search_documents(created_after=again.created_at + timedelta(seconds=1))
        assert later.total == 0

        await docs.delete_document(again.id)
        with pytest.raises(AdapterError) as gone:
            await docs.get_document(again.id)
        assert gone.value.status == 404
        assert gone.value.problem["title"] == "Document deleted"
        with pytest.raises(AdapterError) as conflict:
            await docs.add_version(created.id, "text for a PDF")
        assert conflict.value.status == 409
        with pytest.raises(AdapterError) as invalid:
            await docs.search_documents(created_after=datetime(2026, 1, 1))  # no offset
        assert invalid.value.status == 422
        assert invalid.value.problem["errors"][0]["field"] == "created_after"
        with pytest.raises(AdapterError) as missing:
            await docs.get_document("no-such-document")
        assert missing.value.status == 404
        assert "no-such-document" in missing.value.problem["detail"]
