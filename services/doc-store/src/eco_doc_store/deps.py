"""FastAPI dependencies: what routes reach through `request.app.state.eco`."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from eco_doc_store.service import DocumentService
from eco_doc_store.settings import DocStoreSettings
from eco_shared.app import ServiceState


def get_state(request: Request) -> ServiceState:
    """The running service's state."""
    state: ServiceState = request.app.state.eco
    return state


def get_documents(request: Request) -> DocumentService:
    """The document service the lifespan opened."""
    service: DocumentService = get_state(request).resources["documents"]
    return service


def get_settings(request: Request) -> DocStoreSettings:
    """The doc store's settings."""
    settings = get_state(request).settings
    assert isinstance(settings, DocStoreSettings)
    return settings


Documents = Annotated[DocumentService, Depends(get_documents)]
Settings = Annotated[DocStoreSettings, Depends(get_settings)]
