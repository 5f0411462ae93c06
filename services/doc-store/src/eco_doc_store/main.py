"""The doc-store service: app factory and how `eco up` runs it."""

from __future__ import annotations

from eco_shared.services import ServiceSpec

SERVICE = ServiceSpec(
    name="doc-store",
    app="eco_doc_store.main:create_app",
    port=5087,
    env_prefix="ECO_DOC_STORE_",
    order=20,
)
