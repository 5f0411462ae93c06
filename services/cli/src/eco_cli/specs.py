"""The installed services' specs, read from their source rather than by importing them.

`eco_shared.services.installed_services` loads each `eco.services` entry point, which
imports the whole service (FastAPI, SQLAlchemy, LangGraph, ...) into the supervisor: seconds
per service, spent before the first one is even started, and then again in its own process.
A spec is a `SERVICE = ServiceSpec(...)` of literals in the service's `main.py` (the
template writes it so), so `eco up` reads it with `ast` from the module's file, found
without executing the module; a spec written any other way is loaded as before.
"""

from __future__ import annotations

import ast
import dataclasses
import importlib.util
from importlib.metadata import EntryPoint, entry_points
from pathlib import Path

from eco_shared.services import ENTRY_POINT_GROUP, ServiceSpec


def installed_specs() -> list[ServiceSpec]:
    """Every installed service's spec, in start order (what `installed_services` returns)."""
    specs = [spec for ep in entry_points(group=ENTRY_POINT_GROUP) if (spec := _spec(ep))]
    return sorted(specs, key=lambda s: (s.order, s.name))


def _spec(ep: EntryPoint) -> ServiceSpec | None:
    read = literal_spec(ep)
    if read is not None:
        return read
    loaded = ep.load()
    return loaded if isinstance(loaded, ServiceSpec) else None


def literal_spec(ep: EntryPoint) -> ServiceSpec | None:
    """The spec `ep` points at when its module assigns it once, as a call of literals."""
    if not ep.attr or "." in ep.attr:
        return None
    try:
        found = importlib.util.find_spec(ep.module)  # imports the parent package, not the module
    except (ImportError, ValueError):
        return None
    if found is None or found.origin is None or not found.origin.endswith(".py"):
        return None
    try:
        tree = ast.parse(Path(found.origin).read_bytes(), filename=found.origin)
    except (OSError, SyntaxError, ValueError):
        return None
    assigned = [
        node.value
        for node in tree.body
        if isinstance(node, ast.Assign | ast.AnnAssign)
        and any(
            isinstance(t, ast.Name) and t.id == ep.attr
            for t in (node.targets if isinstance(node, ast.Assign) else [node.target])
        )
    ]
    if len(assigned) != 1 or not _imports_service_spec(tree):
        return None
    call = assigned[0]
    if not (
        isinstance(call, ast.Call)
        and isinstance(call.func, ast.Name)
        and call.func.id == ServiceSpec.__name__
        and not call.args
        and all(k.arg is not None for k in call.keywords)
    ):
        return None
    try:
        values = {str(k.arg): ast.literal_eval(k.value) for k in call.keywords}
    except ValueError:
        return None
    if isinstance(values.get("depends_on"), list):
        values["depends_on"] = tuple(values["depends_on"])
    if not all(isinstance(values.get(k, _DEFAULTS.get(k)), t) for k, t in _FIELDS.items()):
        return None
    if not all(isinstance(name, str) for name in values.get("depends_on", ())):
        return None
    try:
        return ServiceSpec(**values)
    except TypeError:
        return None


_FIELDS = {"name": str, "app": str, "port": int, "env_prefix": str, "order": int}
_DEFAULTS = {f.name: f.default for f in dataclasses.fields(ServiceSpec)}


def _imports_service_spec(tree: ast.Module) -> bool:
    """Whether the module's `ServiceSpec` is the one of `eco_shared.services`."""
    return any(
        isinstance(node, ast.ImportFrom)
        and node.module == "eco_shared.services"
        and any(a.name == "ServiceSpec" and a.asname is None for a in node.names)
        for node in tree.body
    )
