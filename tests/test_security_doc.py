"""docs/SECURITY.md's scope table is the services' own OpenAPI, route by route.

`ECO_UPDATE_DOCS=1 pytest tests/test_security_doc.py` rewrites the table from the code.
"""

from __future__ import annotations

import importlib
import os
from pathlib import Path
from typing import Any

import pytest

DOC = Path(__file__).resolve().parents[1] / "docs" / "SECURITY.md"
BEGIN, END = "<!-- scopes:begin -->", "<!-- scopes:end -->"
SERVICES = {
    "discovery": ("eco_discovery.main", "eco_discovery.settings", "DiscoverySettings"),
    "doc-store": ("eco_doc_store.main", "eco_doc_store.settings", "DocStoreSettings"),
    "llm-gateway": ("eco_llm_gateway.main", "eco_llm_gateway.settings", "LlmGatewaySettings"),
    "log-collector": (
        "eco_log_collector.main",
        "eco_log_collector.settings",
        "LogCollectorSettings",
    ),
    "orchestrator": ("eco_orchestrator.main", "eco_orchestrator.settings", "OrchestratorSettings"),
}
METHODS = ("get", "post", "put", "patch", "delete")


def _spec(name: str, tmp_path: Path) -> dict[str, Any]:
    main, settings_module, settings_class = SERVICES[name]
    settings_type = getattr(importlib.import_module(settings_module), settings_class)
    settings = settings_type(data_dir=tmp_path / name, register_with_discovery=False)
    app = importlib.import_module(main).build_app(settings, configure_process=False)
    spec: dict[str, Any] = app.openapi()
    return spec


def scope_table(tmp_path: Path) -> str:
    """The Markdown table of every route of every service and who may call it."""
    lines = ["| service | route | scopes |", "|---|---|---|"]
    for name in SERVICES:
        spec = _spec(name, tmp_path)
        for path, item in sorted(spec["paths"].items()):
            for method in METHODS:
                operation = item.get(method)
                if operation is None:
                    continue
                if operation.get("x-eco-public"):
                    who = "public"
                else:
                    scopes = operation.get("x-eco-scopes") or []
                    who = ", ".join(f"`{s}`" for s in scopes) or "any valid token"
                lines.append(f"| {name} | `{method.upper()} {path}` | {who} |")
    return "\n".join(lines)


def test_every_protected_operation_declares_its_scopes(tmp_path: Path) -> None:
    for name in SERVICES:
        for path, item in _spec(name, tmp_path)["paths"].items():
            for method in METHODS:
                operation = item.get(method)
                if operation is None:
                    continue
                assert "x-eco-scopes" in operation, f"{name} {method} {path}"
                if not operation.get("x-eco-public"):
                    assert {"401", "403"} <= set(operation["responses"]), f"{name} {path}"
                    assert operation["security"], f"{name} {method} {path}"


def test_the_security_doc_lists_the_scopes_the_code_declares(tmp_path: Path) -> None:
    text = DOC.read_text()
    head, rest = text.split(BEGIN)
    _, tail = rest.split(END)
    table = scope_table(tmp_path)
    if os.environ.get("ECO_UPDATE_DOCS") == "1":
        DOC.write_text(f"{head}{BEGIN}\n{table}\n{END}{tail}")
        pytest.skip("docs/SECURITY.md rewritten from the code")
    assert rest.split(END)[0].strip() == table, (
        "docs/SECURITY.md's scope table is out of date: "
        "run ECO_UPDATE_DOCS=1 pytest tests/test_security_doc.py"
    )
