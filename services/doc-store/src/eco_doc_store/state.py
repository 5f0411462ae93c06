"""What the doc store's lifespan opens, reached by routes through `deps.py`."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncEngine

from eco_doc_store.bundle import Bundler
from eco_doc_store.service import DocStoreService


@dataclass(frozen=True, slots=True)
class Resources:
    """The database engine, the service object built on it, and the ZIP bundler."""

    engine: AsyncEngine
    doc_store: DocStoreService
    bundles: Bundler
