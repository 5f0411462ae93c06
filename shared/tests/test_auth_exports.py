"""`eco_shared.auth` loads its names on first use: one list for type checkers, one at run
time, held equal here; a client asking for `ApiKeyTokens` does not import the server stack."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

import eco_shared.auth as auth

INIT = Path(auth.__file__)


def _type_checking_imports() -> dict[str, str]:
    tree = ast.parse(INIT.read_text())
    block = next(
        node
        for node in tree.body
        if isinstance(node, ast.If)
        and isinstance(node.test, ast.Name)
        and node.test.id == "TYPE_CHECKING"
    )
    found: dict[str, str] = {}
    for node in block.body:
        assert isinstance(node, ast.ImportFrom)
        assert node.module
        for alias in node.names:
            found[alias.name] = node.module.rsplit(".", 1)[1]
    return found


def test_the_lazy_names_are_the_type_checked_imports_and_all_of_them() -> None:
    assert auth._WHERE == _type_checking_imports()
    assert sorted(auth.__all__) == sorted(auth._WHERE)


def test_every_exported_name_resolves_to_its_module_object() -> None:
    import importlib

    for name, module in auth._WHERE.items():
        value = getattr(auth, name)
        assert value is getattr(importlib.import_module(f"eco_shared.auth.{module}"), name)


def test_an_unknown_name_is_an_attribute_error() -> None:
    with pytest.raises(AttributeError, match="no_such_name"):
        auth.no_such_name  # type: ignore[attr-defined]  # noqa: B018


def test_a_token_client_does_not_import_fastapi_redis_jwt_or_the_tracing_sdk() -> None:
    code = (
        "import sys\n"
        "from eco_shared.auth import ApiKeyTokens\n"
        "import eco_shared.directory, eco_shared.http\n"
        "heavy = ('fastapi', 'redis', 'jwt', 'opentelemetry.sdk.trace')\n"
        "print(sorted(m for m in heavy if m in sys.modules))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    )
    assert out.stdout.strip() == "[]"
