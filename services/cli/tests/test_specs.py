"""`eco up` reads the installed services' specs from their source: the same specs as loading
the entry points gives, without importing a single service; any other spec is loaded."""

from __future__ import annotations

import subprocess
import sys
from importlib.metadata import EntryPoint
from pathlib import Path

import pytest

from eco_cli.specs import installed_specs, literal_spec
from eco_shared.services import ENTRY_POINT_GROUP, ServiceSpec, installed_services

LITERAL = """
from eco_shared.services import ServiceSpec

SERVICE = ServiceSpec(
    name="{name}",
    app="{module}.main:create_app",
    port=5200,
    env_prefix="ECO_X_",
    depends_on=("discovery",),
)
"""


def _package(root: Path, module: str, main: str) -> EntryPoint:
    package = root / module
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "main.py").write_text(main)
    return EntryPoint(name=module, value=f"{module}.main:SERVICE", group=ENTRY_POINT_GROUP)


def test_the_specs_are_those_of_the_entry_points_and_no_service_is_imported() -> None:
    probe = (
        "import sys\n"
        "from eco_cli.specs import installed_specs\n"
        "print(repr(installed_specs()))\n"
        "print(','.join(m for m in sys.modules if m.endswith('.main') or m == 'fastapi'))"
    )
    result = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    specs, imported = result.stdout.splitlines()
    assert imported == ""
    assert specs == repr(installed_services())
    assert installed_specs() == installed_services()
    assert [spec.name for spec in installed_specs()][0] == "discovery"


def test_a_literal_spec_is_read_without_running_its_module(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.syspath_prepend(str(tmp_path))
    main = LITERAL.format(name="x", module="eco_x_read") + "raise RuntimeError('imported')\n"
    ep = _package(tmp_path, "eco_x_read", main)
    assert literal_spec(ep) == ServiceSpec(
        name="x",
        app="eco_x_read.main:create_app",
        port=5200,
        env_prefix="ECO_X_",
        depends_on=("discovery",),
    )
    assert "eco_x_read.main" not in sys.modules


@pytest.mark.parametrize(
    "main",
    [
        # not literals
        LITERAL.replace("port=5200", 'port=int("5200")'),
        # assigned twice: only running the module says which one holds
        LITERAL + "SERVICE = ServiceSpec(name='y', app='a:b', port=1, env_prefix='ECO_Y_')\n",
        # some other ServiceSpec
        LITERAL.replace("from eco_shared.services", "from mine"),
        # a field of the wrong type
        LITERAL.replace("port=5200", 'port="5200"'),
    ],
)
def test_any_other_spec_is_left_to_loading(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, main: str
) -> None:
    monkeypatch.syspath_prepend(str(tmp_path))
    ep = _package(tmp_path, "eco_x_other", main.format(name="x", module="eco_x_other"))
    assert literal_spec(ep) is None


def test_a_spec_that_cannot_be_read_is_loaded(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from eco_cli.specs import _spec

    monkeypatch.syspath_prepend(str(tmp_path))
    main = LITERAL.replace('name="{name}"', 'name="-".join(["x", "loaded"])')
    ep = _package(tmp_path, "eco_x_loaded", main.format(module="eco_x_loaded"))
    spec = _spec(ep)
    assert spec is not None
    assert spec.name == "x-loaded"
    assert "eco_x_loaded.main" in sys.modules
