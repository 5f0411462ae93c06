"""The shape of the house, held by parsing the code: who imports whom, no cycles, small
modules, and the same rooms in every service."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
MAX_LINES = 400
SERVICES = {
    "eco_discovery": "DiscoveryDep",
    "eco_doc_store": "DocStoreDep",
    "eco_log_collector": "LogCollectorDep",
    "eco_llm_gateway": "LlmGatewayDep",
    "eco_orchestrator": "OrchestratorDep",
    "eco_prompt_store": "PromptStoreDep",
    "eco_console": "ConsoleDep",
}
# packages under services/ that are not services: the `eco` command
NOT_SERVICES = {"eco_cli"}


def _source_roots() -> dict[str, Path]:
    """Top-level package name -> its directory, for shared and every service."""
    roots = {"eco_shared": ROOT / "shared" / "src" / "eco_shared"}
    for src in sorted((ROOT / "services").glob("*/src/eco_*")):
        roots[src.name] = src
    return roots


def _module_name(package: str, root: Path, path: Path) -> str:
    parts = [package, *path.relative_to(root).with_suffix("").parts]
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imports(tree: ast.Module, module: str, is_package: bool) -> set[tuple[str, str | None]]:
    """What `module` imports when it is imported (module level, not under TYPE_CHECKING):
    `(module, None)` for `import module`, `(module, name)` for `from module import name`."""
    found: set[tuple[str, str | None]] = set()

    def visit(nodes: list[ast.stmt]) -> None:
        for node in nodes:
            if isinstance(node, ast.Import):
                found.update((alias.name, None) for alias in node.names)
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    anchor = module.split(".")
                    anchor = anchor if is_package else anchor[:-1]
                    anchor = anchor[: len(anchor) - node.level + 1]
                    base = ".".join([*anchor, base] if base else anchor)
                found.update((base, alias.name) for alias in node.names)
            elif isinstance(node, ast.If):
                test = ast.unparse(node.test)
                if "TYPE_CHECKING" not in test:
                    visit(node.body)
                visit(node.orelse)
            elif isinstance(node, ast.Try):
                visit(node.body)
                for handler in node.handlers:
                    visit(handler.body)

    visit(tree.body)
    return found


def _graph() -> dict[str, set[str]]:
    """Module -> the modules of ours it needs at import time.

    `from package import submodule` needs the submodule, not the package's own body (which
    may be the very module importing it), so it is an edge to the submodule only.
    """
    raw: dict[str, set[tuple[str, str | None]]] = {}
    for package, root in _source_roots().items():
        for path in root.rglob("*.py"):
            module = _module_name(package, root, path)
            tree = ast.parse(path.read_text(), filename=str(path))
            raw[module] = _imports(tree, module, path.name == "__init__.py")
    graph: dict[str, set[str]] = {}
    for module, imports in raw.items():
        edges = set()
        for base, name in imports:
            if name is not None and f"{base}.{name}" in raw:
                edges.add(f"{base}.{name}")
            elif base in raw:
                edges.add(base)
        graph[module] = edges - {module}
    return graph


GRAPH = _graph()


def test_no_service_imports_another_and_shared_imports_none() -> None:
    wrong = []
    for module, deps in GRAPH.items():
        top = module.split(".")[0]
        for dep in deps:
            dep_top = dep.split(".")[0]
            if dep_top not in (top, "eco_shared"):
                wrong.append(f"{module} imports {dep}")
            if top == "eco_shared" and dep_top != "eco_shared":
                wrong.append(f"{module} (shared) imports {dep}")
    assert wrong == []


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Tarjan's strongly connected components of more than one module."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    cycles: list[list[str]] = []

    def connect(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for dep in sorted(graph[node]):
            if dep not in index:
                connect(dep)
                low[node] = min(low[node], low[dep])
            elif dep in on_stack:
                low[node] = min(low[node], index[dep])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                cycles.append(sorted(component))

    for module in sorted(graph):
        if module not in index:
            connect(module)
    return cycles


def test_no_import_cycles() -> None:
    assert _cycles(GRAPH) == []


def test_the_import_parser_and_cycle_finder_see_real_edges() -> None:
    # guard against a checker that finds nothing (and so no cycles and no wrong imports)
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert "eco_shared.app" in GRAPH["eco_shared.deps"]
    assert any(dep.startswith("eco_shared") for dep in GRAPH["eco_doc_store.main"])


def test_no_module_outside_tests_is_over_400_lines() -> None:
    big = {
        str(path.relative_to(ROOT)): lines
        for root in _source_roots().values()
        for path in root.rglob("*.py")
        if (lines := len(path.read_text().splitlines())) > MAX_LINES
    }
    assert big == {}


def test_every_service_package_is_held_to_the_same_rooms() -> None:
    """A new service (`eco new-service`, the prompt store) cannot slip past the room checks."""
    packages = {src.name for src in (ROOT / "services").glob("*/src/eco_*")}
    assert packages - NOT_SERVICES == set(SERVICES)


@pytest.mark.parametrize("package", sorted(SERVICES))
def test_every_service_has_the_same_rooms(package: str) -> None:
    root = _source_roots()[package]
    for room in ("main.py", "state.py", "deps.py", "settings.py", "api/__init__.py"):
        assert (root / room).is_file(), f"{package} has no {room}"
    for room in ("service", "repository"):
        assert (root / f"{room}.py").is_file() or (root / room / "__init__.py").is_file(), (
            f"{package} has no {room} module or package"
        )
    deps = ast.parse((root / "deps.py").read_text())
    names = {
        target.id
        for node in ast.walk(deps)
        if isinstance(node, ast.Assign | ast.AnnAssign)
        for target in (node.targets if isinstance(node, ast.Assign) else [node.target])
        if isinstance(target, ast.Name)
    } | {
        alias.asname or alias.name
        for node in ast.walk(deps)
        if isinstance(node, ast.ImportFrom)
        for alias in node.names
    }
    assert {"SettingsDep", "ResourcesDep", SERVICES[package]} <= names


@pytest.mark.parametrize("package", sorted(SERVICES))
def test_routes_reach_no_redis_or_sql_themselves(package: str) -> None:
    leaks = []
    for path in (_source_roots()[package] / "api").rglob("*.py"):
        text = path.read_text()
        for needle in ("redis.x", ".xread", ".xadd", "sqlalchemy", "select(", "session.exec"):
            if needle in text:
                leaks.append(f"{path.name}: {needle}")
    assert leaks == []
