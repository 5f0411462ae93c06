"""`eco up`, `eco down`, `eco status`: the ecosystem's processes on this machine."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Annotated, Any

import typer

from eco_cli.commands._common import JsonFlag

_STATE_COLOURS = {"ready": "green", "given-up": "red", "stopped": "dim"}
StateDir = Annotated[Path, typer.Option(envvar="ECO_DATA_DIR", help="Where state lives.")]


def up(
    data_dir: StateDir = Path(".eco"),
    redis_url: Annotated[
        str | None, typer.Option(envvar="ECO_REDIS_URL", help="Use this Redis, not a private one.")
    ] = None,
    redis_port: Annotated[
        int, typer.Option(envvar="ECO_UP_REDIS_PORT", help="Port of the private Redis (0: free).")
    ] = 0,
    ready_timeout: Annotated[float, typer.Option(help="Seconds to wait for readiness.")] = 60.0,
    detach: Annotated[bool, typer.Option("--detach", "-d", help="Run in the background.")] = False,
) -> None:
    """Start Redis and every installed service as processes, supervised; Ctrl-C stops them all.

    A crashed process is restarted with backoff; `ECO_UP_RESTART_*` sets the policy
    (docs/OPERATIONS.md). The first run creates the key material in `.eco/auth/` and prints
    the admin API key, once.
    """
    from eco_cli.state import read_state

    if read_state(data_dir) is not None:
        typer.secho(f"eco is already up (state in {data_dir}); `eco down` stops it", err=True)
        raise typer.Exit(1)
    if detach:
        _up_detached(data_dir, redis_url, redis_port, ready_timeout)
        return
    from eco_cli.local_auth import prepare

    prepared = prepare(data_dir)
    if prepared.new_admin_key is not None:
        _announce_admin_key(prepared.material.directory, prepared.new_admin_key)
    from eco_cli.supervisor import Supervisor

    supervisor = Supervisor(data_dir=data_dir, redis_url=redis_url, redis_port=redis_port)
    raise typer.Exit(supervisor.run(ready_timeout=ready_timeout))


def _up_detached(
    data_dir: Path, redis_url: str | None, redis_port: int, ready_timeout: float
) -> None:
    """Start the supervisor in the background and wait until it is up.

    The supervisor makes the key material (`Supervisor.build`), so this process starts it at
    once instead of first loading the signing code; a new admin key is shown after it.
    """
    from eco_cli.local_auth import AUTH_OFF_WARNING, settings_for
    from eco_cli.up import service_health, start_detached

    settings = settings_for(data_dir)
    directory = settings.auth_path.resolve()
    had_key = (directory / "admin.key").is_file()
    if settings.auth == "off":
        typer.secho(AUTH_OFF_WARNING, fg="yellow", err=True)
    args = ["--ready-timeout", str(ready_timeout), "--redis-port", str(redis_port)]
    if redis_url:
        args += ["--redis-url", redis_url]
    try:
        state = start_detached(data_dir, args, timeout_s=ready_timeout + 30)
    except (RuntimeError, TimeoutError) as exc:
        _announce_if_new(directory, had_key)  # made before it failed: shown all the same
        typer.secho(str(exc), fg="red", err=True)
        raise typer.Exit(1) from None
    _announce_if_new(directory, had_key)
    _print_status(state, service_health(state), as_json=False)
    typer.echo(f"eco is up in the background (log: {data_dir}/up.log); `eco down` stops it")


def _announce_if_new(directory: Path, had_key: bool) -> None:
    path = directory / "admin.key"
    key = "" if had_key or not path.is_file() else path.read_text().strip()
    if key:
        _announce_admin_key(directory, key)


def _announce_admin_key(directory: Path, key: str) -> None:
    typer.secho(f"created the key material in {directory} (mode 0700)", bold=True)
    typer.echo(
        "the admin API key, shown this once (the CLI reads it from "
        f"{directory / 'admin.key'}; ECO_API_KEY overrides it):"
    )
    typer.secho(f"    {key}", bold=True)


def down(data_dir: StateDir = Path(".eco")) -> None:
    """Stop an `eco up` running in the background."""
    from eco_cli.up import stop_detached

    if not stop_detached(data_dir):
        typer.secho("eco is not running", err=True)
        raise typer.Exit(1)
    typer.echo("stopped")


def status(data_dir: StateDir = Path(".eco"), as_json: JsonFlag = False) -> None:
    """Every process of a running `eco up`: state, restarts, uptime, last exit, readiness."""
    from eco_cli.up import read_state, service_health

    state = read_state(data_dir)
    if state is None:
        typer.secho("eco is not running (`eco up` starts it)", err=True)
        raise typer.Exit(1)
    health = service_health(state)
    _print_status(state, health, as_json=as_json)
    if any(value != "ready" for value in health.values()):
        raise typer.Exit(1)


def _uptime(process: dict[str, Any]) -> float | None:
    started = process.get("started_at")
    if started is None or process.get("state") not in ("ready", "starting", "restarting"):
        return None
    return round(max(0.0, time.time() - float(started)), 1)


def _processes(state: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {
        name: {**process, "uptime_s": _uptime(process)}
        for name, process in state.get("processes", {}).items()
    }


def _print_status(state: dict[str, Any], health: dict[str, str], *, as_json: bool) -> None:
    processes = _processes(state)
    if as_json:
        typer.echo(
            json.dumps(
                {
                    "redis_url": state.get("redis_url"),
                    "services": {
                        name: {"url": url, "status": health.get(name)}
                        for name, url in state.get("services", {}).items()
                    },
                    "processes": processes,
                }
            )
        )
        return
    from rich.console import Console
    from rich.markup import escape
    from rich.table import Table

    table = Table(title="LLM Documentation Ecosystem")
    for column in ("process", "url", "state", "restarts", "uptime", "health", "last exit"):
        table.add_column(column)
    if "redis" not in processes:
        table.add_row("redis", str(state.get("redis_url")), "external", "", "", "", "")
    for name, process in processes.items():
        live = health.get(name, "ready" if process["state"] == "ready" else "")
        uptime = process["uptime_s"]
        table.add_row(
            name,
            str(process.get("url", "")),
            f"[{_STATE_COLOURS.get(process['state'], 'yellow')}]{process['state']}[/]",
            str(process.get("restarts", 0)),
            "" if uptime is None else _duration(uptime),
            f"[{'green' if live == 'ready' else 'red'}]{live}[/]",
            escape(str(process.get("last_exit") or "")),
        )
    Console().print(table)
    for name, process in processes.items():
        if process["state"] == "given-up":
            typer.secho(
                f"{name} was given up ({process.get('last_exit')}); "
                f"`eco logs --service {name}` shows its last output",
                fg="red",
                err=True,
            )


def _duration(seconds: float) -> str:
    minutes, secs = divmod(int(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    if hours:
        return f"{hours}h{minutes:02d}m"
    return f"{minutes}m{secs:02d}s" if minutes else f"{secs}s"
