"""What the prompt store's lifespan opens, reached by routes through `deps.py`."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncEngine

from eco_prompt_store.service import PromptStoreService, Watch
from eco_shared.outbox import OutboxRelay


@dataclass(frozen=True, slots=True)
class Resources:
    """The database engine, the outbox relay, the service object and the watch feed."""

    engine: AsyncEngine
    outbox: OutboxRelay
    service: PromptStoreService
    watch: Watch
