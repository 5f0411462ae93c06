"""The `eco` commands as the user runs them: every one is there, `eco` starts without
loading the adapters, and each command that talks to the ecosystem says when it is not
running and exits 3."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

from eco_shared.redis_server import free_port

ECO = [sys.executable, "-m", "eco_cli.main"]


def _env(tmp_path: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("ECO_")}
    env["ECO_DATA_DIR"] = str(tmp_path)
    env["ECO_DISCOVERY_URL"] = f"http://127.0.0.1:{free_port()}"  # nothing listens there
    return env


def test_every_command_is_registered() -> None:
    from eco_cli.main import app

    names = [command.name or command.callback.__name__ for command in app.registered_commands]
    assert names == [
        "ask",
        "services",
        "runs",
        "logs",
        "trace",
        "explain",
        "up",
        "down",
        "status",
        "new-service",
    ]
    docs = next(group for group in app.registered_groups if group.name == "docs")
    assert docs.typer_instance is not None
    assert [c.name for c in docs.typer_instance.registered_commands] == [
        "list",
        "show",
        "download",
        "provenance",
    ]


def test_eco_starts_without_loading_adapters_or_http() -> None:
    probe = (
        "import sys, eco_cli.main; "
        "print(','.join(m for m in ('httpx', 'eco_shared.adapters', 'eco_cli.up', "
        "'eco_cli.client', 'copier') if m in sys.modules))"
    )
    result = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == ""


@pytest.mark.parametrize(
    "args",
    # one command of each module
    [
        ["services"],
        ["logs"],
        ["docs", "show", "doc-1"],
        ["explain", "doc-1"],
        ["ask", "Document the doc-store API"],
    ],
)
def test_commands_say_when_the_ecosystem_is_not_running(tmp_path: Path, args: list[str]) -> None:
    result = subprocess.run(
        [*ECO, *args], env=_env(tmp_path), capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 3, result.stdout + result.stderr
    assert "the ecosystem is not running" in result.stderr
    assert result.stdout == ""
