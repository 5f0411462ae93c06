"""docs/SECURITY.md's scope table is the services' own OpenAPI, route by route, and its
policy table is the issuer's service policy and the Redis ACL, service by service.

`ECO_UPDATE_DOCS=1 pytest tests/test_security_doc.py` rewrites both tables from the code.
"""

from __future__ import annotations

import importlib
import os
from pathlib import Path
from typing import Any

import pytest

DOC = Path(__file__).resolve().parents[1] / "docs" / "SECURITY.md"
BEGIN, END = "<!-- scopes:begin -->", "<!-- scopes:end -->"
POLICIES = ("<!-- policies:begin -->", "<!-- policies:end -->")
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
    "prompt-store": ("eco_prompt_store.main", "eco_prompt_store.settings", "PromptStoreSettings"),
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


def policy_table() -> str:
    """The Markdown table of what each service's own token and Redis user may reach."""
    from eco_cli import acl
    from eco_discovery.service.issuer._policy import EXTRA_SCOPES

    def listed(values: tuple[str, ...]) -> str:
        return ", ".join(f"`{v}`" for v in values) or "-"

    lines = [
        "| service | scopes beyond the base | Redis keys beyond the shared ones |",
        "|---|---|---|",
    ]
    for name in SERVICES:
        access = acl.SERVICE_ACCESS.get(name, acl.Access())
        keys = listed(access.keys)
        if access.channels:
            keys += f"; channel {listed(access.channels)}"
        lines.append(f"| {name} | {listed(EXTRA_SCOPES.get(name, ()))} | {keys} |")
    return "\n".join(lines)


def _check_section(markers: tuple[str, str], table: str, what: str) -> None:
    begin, end = markers
    text = DOC.read_text()
    head, rest = text.split(begin)
    _, tail = rest.split(end)
    if os.environ.get("ECO_UPDATE_DOCS") == "1":
        DOC.write_text(f"{head}{begin}\n{table}\n{end}{tail}")
        pytest.skip("docs/SECURITY.md rewritten from the code")
    assert rest.split(end)[0].strip() == table, (
        f"docs/SECURITY.md's {what} table is out of date: "
        "run ECO_UPDATE_DOCS=1 pytest tests/test_security_doc.py"
    )


def test_the_security_doc_lists_the_scopes_the_code_declares(tmp_path: Path) -> None:
    _check_section((BEGIN, END), scope_table(tmp_path), "scope")


def test_the_security_doc_lists_each_services_policy_and_redis_access() -> None:
    _check_section(POLICIES, policy_table(), "policy")
