"""How a service package announces itself to `eco up`: an `eco.services` entry point.

A service's pyproject declares
`[project.entry-points."eco.services"] <name> = "eco_<name>.main:SERVICE"`, where
`SERVICE` is a `ServiceSpec`; `eco up` starts every installed one, in `order`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from importlib.metadata import entry_points

ENTRY_POINT_GROUP = "eco.services"


@dataclass(frozen=True)
class ServiceSpec:
    """What it takes to run one service as a process."""

    name: str
    app: str  # "module:factory" for `uvicorn --factory`
    port: int
    env_prefix: str  # e.g. "ECO_DOC_STORE_"
    order: int = 50  # lower starts first; discovery is 0
    depends_on: tuple[str, ...] = field(default_factory=tuple)

    @property
    def port_env(self) -> str:
        return f"{self.env_prefix}PORT"


def installed_services() -> list[ServiceSpec]:
    """Every service installed in this environment, in start order."""
    specs: list[ServiceSpec] = []
    for ep in entry_points(group=ENTRY_POINT_GROUP):
        spec = ep.load()
        if isinstance(spec, ServiceSpec):
            specs.append(spec)
    return sorted(specs, key=lambda s: (s.order, s.name))
