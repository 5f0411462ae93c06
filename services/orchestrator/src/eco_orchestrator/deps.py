"""Dependency aliases reaching the orchestrator's resources on `request.app.state.eco`."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from eco_orchestrator.events import RunEventLog
from eco_orchestrator.service import Orchestrator
from eco_orchestrator.settings import OrchestratorSettings
from eco_shared.app import ServiceState


def _state(request: Request) -> ServiceState:
    state: ServiceState = request.app.state.eco
    return state


def _orchestrator(request: Request) -> Orchestrator:
    orchestrator: Orchestrator = _state(request).resources["orchestrator"]
    return orchestrator


def _events(request: Request) -> RunEventLog:
    events: RunEventLog = _state(request).resources["events"]
    return events


def _settings(request: Request) -> OrchestratorSettings:
    settings = _state(request).settings
    assert isinstance(settings, OrchestratorSettings)
    return settings


OrchestratorDep = Annotated[Orchestrator, Depends(_orchestrator)]
EventsDep = Annotated[RunEventLog, Depends(_events)]
SettingsDep = Annotated[OrchestratorSettings, Depends(_settings)]
