"""The `eco` commands as the user runs them: every one is there, `eco` starts without
loading the adapters, and each command that talks to the ecosystem says when it is not
running and exits 3."""

import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from eco_cli import acl
from eco_cli.local_auth import api_key, issuer_url, prepare
from eco_shared.auth import AuthMaterial, client_secret
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
        "console",
        "up",
        "down",
        "status",
        "new-service",
    ]
    groups = {group.name: group.typer_instance for group in app.registered_groups}
    assert list(groups) == ["docs", "prompts", "audit", "auth"]
    commands = {
        name: [c.name for c in typer_app.registered_commands]
        for name, typer_app in groups.items()
        if typer_app is not None
    }
    assert commands == {
        "docs": ["list", "show", "download", "provenance"],
        "prompts": ["list", "show", "push", "label", "history", "diff", "render"],
        "audit": ["verify"],
        "auth": ["whoami", "scopes", "init", "redis-url"],
    }
    auth = groups["auth"]
    assert auth is not None
    keys = next(g.typer_instance for g in auth.registered_groups if g.name == "keys")
    assert keys is not None
    assert [c.name for c in keys.registered_commands] == ["create", "list", "rotate", "revoke"]
    prompts = groups["prompts"]
    assert prompts is not None
    experiment = next(g.typer_instance for g in prompts.registered_groups)
    assert experiment is not None
    assert [c.name for c in experiment.registered_commands] == ["create", "results"]


# What `eco` must not load before a command needs it: `eco --help` starts on typer alone.
HEAVY = (
    "httpx",
    "pydantic",
    "rich.console",
    "eco_shared.adapters",
    "eco_shared.auth",
    "eco_shared.app",
    "eco_cli.up",
    "eco_cli.client",
    "eco_cli.acl",
    "copier",
    "fastapi",
    "opentelemetry",
    "sqlalchemy",
    "langgraph",
)


def test_eco_starts_without_loading_adapters_or_http() -> None:
    probe = f"import sys, eco_cli.main; print(','.join(m for m in {HEAVY!r} if m in sys.modules))"
    result = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == ""


def test_a_read_command_loads_only_what_it_uses(tmp_path: Path) -> None:
    """`eco services` (nothing runs, so it exits 3) loads no adapter it does not use, no
    service and not the supervisor."""
    probe = (
        "import sys\n"
        "from eco_cli.main import app\n"
        "try:\n"
        "    app(['services', '--json'])\n"
        "except SystemExit as exc:\n"
        "    print(exc.code, file=sys.stderr)\n"
        "print(','.join(sorted(m for m in sys.modules if m.startswith(("
        "'eco_shared.adapters.d', 'eco_shared.adapters.l', 'eco_shared.adapters.o', "
        "'eco_cli.supervisor', 'eco_cli.processes', 'sqlalchemy', 'langgraph', "
        "'eco_discovery', 'eco_doc_store')))))"
    )
    result = subprocess.run(
        [sys.executable, "-c", probe], env=_env(tmp_path), capture_output=True, text=True
    )
    assert result.stderr.strip().splitlines()[-1] == "3", result.stderr
    assert result.stdout.strip() == "", result.stdout


@pytest.mark.parametrize(
    "args",
    # one command of each module
    [
        ["services"],
        ["logs"],
        ["docs", "show", "doc-1"],
        ["prompts", "show", "answer@production"],
        ["prompts", "experiment", "results", "exp-1"],
        ["explain", "doc-1"],
        ["ask", "Document the doc-store API"],
        ["auth", "whoami"],
        ["auth", "keys", "list"],
        ["audit", "verify"],
    ],
)
def test_commands_say_when_the_ecosystem_is_not_running(tmp_path: Path, args: list[str]) -> None:
    result = subprocess.run(
        [*ECO, *args], env=_env(tmp_path), capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 3, result.stdout + result.stderr
    assert "the ecosystem is not running" in result.stderr
    assert result.stdout == ""


def test_auth_init_writes_deployment_material_once(tmp_path: Path) -> None:
    target, env_dir = tmp_path / "auth", tmp_path / "env"
    args = ["auth", "init", "--dir", str(target), "--env-dir", str(env_dir)]
    args += ["--service", "doc-store", "--service", "orchestrator", "--redis-url"]
    args += ["redis://redis:6379/0"]
    first = subprocess.run([*ECO, *args], env=_env(tmp_path), capture_output=True, text=True)
    assert first.returncode == 0, first.stderr
    material = AuthMaterial(target)
    admin = material.admin_key()
    assert admin is not None
    assert first.stdout.count(admin.value) == 1
    assert stat.S_IMODE(target.stat().st_mode) == 0o700
    for rel in ("signing-keys.json", "pepper", "master", "admin.key", "redis.acl"):
        assert stat.S_IMODE((target / rel).stat().st_mode) == 0o600, rel
    master = material.master()
    for name in ("doc-store", "orchestrator"):
        assert (target / "services" / name).read_text() == client_secret(master, name)
        env_file = env_dir / f"{name}.env"
        assert stat.S_IMODE(env_file.stat().st_mode) == 0o600
        values = dict(line.split("=", 1) for line in env_file.read_text().splitlines())
        assert values == {
            "ECO_REDIS_URL": f"redis://{name}:{acl.password(master, name)}@redis:6379/0",
            "ECO_AUTH_CLIENT_SECRET": client_secret(master, name),
        }
    assert (target / "redis.acl").read_text() == acl.acl_text(master, ["doc-store", "orchestrator"])
    again = subprocess.run([*ECO, *args], env=_env(tmp_path), capture_output=True, text=True)
    assert again.returncode == 0, again.stderr
    assert admin.value not in again.stdout  # shown once
    assert material.admin_key() == admin
    assert material.master() == master


def test_the_cli_calls_with_eco_api_key_else_the_admin_key(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("ECO_API_KEY", raising=False)
    monkeypatch.delenv("ECO_AUTH_DIR", raising=False)
    assert api_key(tmp_path) is None
    prepared = prepare(tmp_path)
    assert api_key(tmp_path) == prepared.new_admin_key
    monkeypatch.setenv("ECO_API_KEY", "eco_given")
    assert api_key(tmp_path) == "eco_given"
    monkeypatch.setenv("ECO_AUTH_ISSUER", "http://issuer:1/")
    assert issuer_url(tmp_path, "http://discovery:5045") == "http://issuer:1"
    monkeypatch.delenv("ECO_AUTH_ISSUER")
    assert issuer_url(tmp_path, "http://discovery:5045") == "http://discovery:5045"


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("3600", 3600), ("45s", 45), ("15m", 900), ("12h", 43200), ("30d", 2_592_000)],
)
def test_durations(text: str, seconds: int) -> None:
    from eco_cli.commands.auth import parse_duration

    assert parse_duration(text) == seconds
