"""What the doc store's lifespan opens, reached by routes through `deps.py`."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncEngine

from eco_doc_store.service import DocStoreService


@dataclass(frozen=True, slots=True)
class Resources:
    """The database engine and the service object built on it."""

    engine: AsyncEngine
    doc_store: DocStoreService
