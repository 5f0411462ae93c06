"""What the orchestrator's lifespan opens, reached by routes through `ResourcesDep`."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncEngine

from eco_orchestrator.events import RunEventLog
from eco_orchestrator.repository import RunRepository
from eco_orchestrator.runner import RunWorker
from eco_orchestrator.service import Orchestrator
from eco_shared.prompts.client import PromptClient
from eco_shared.tools import ToolRegistry


@dataclass(frozen=True, slots=True)
class Resources:
    """The run store, the run event log, the tools, the prompt client, the worker and the
    service object."""

    engine: AsyncEngine
    repo: RunRepository
    events: RunEventLog
    tools: ToolRegistry
    prompts: PromptClient
    worker: RunWorker
    orchestrator: Orchestrator
