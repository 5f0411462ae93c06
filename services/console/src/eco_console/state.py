"""What the lifespan of the console service opens.

Routes reach it as `ResourcesDep`, the service object as the `...Dep` named after it.
"""

from __future__ import annotations

from dataclasses import dataclass

from jinja2 import Environment

from .repository import SessionRepository
from .service.clients import UserClients


@dataclass(frozen=True, slots=True)
class Resources:
    """The service's own resources (the shared Redis, bus and HTTP client are on the state)."""

    sessions: SessionRepository
    clients: UserClients
    templates: Environment
