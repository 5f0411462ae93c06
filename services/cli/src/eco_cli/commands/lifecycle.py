"""`eco up`, `eco down`, `eco status`: the ecosystem's processes on this machine."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer

from eco_cli.commands._common import JsonFlag

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
    """Start Redis and every installed service as processes; Ctrl-C stops them all."""
    from eco_cli.up import Supervisor, read_state, service_health, start_detached

    if read_state(data_dir) is not None:
        typer.secho(f"eco is already up (state in {data_dir}); `eco down` stops it", err=True)
        raise typer.Exit(1)
    if detach:
        args = ["--ready-timeout", str(ready_timeout), "--redis-port", str(redis_port)]
        if redis_url:
            args += ["--redis-url", redis_url]
        try:
            state = start_detached(data_dir, args, timeout_s=ready_timeout + 30)
        except (RuntimeError, TimeoutError) as exc:
            typer.secho(str(exc), fg="red", err=True)
            raise typer.Exit(1) from None
        _print_status(state, service_health(state), as_json=False)
        typer.echo(f"eco is up in the background (log: {data_dir}/up.log); `eco down` stops it")
        return
    supervisor = Supervisor(data_dir=data_dir, redis_url=redis_url, redis_port=redis_port)
    raise typer.Exit(supervisor.run(ready_timeout=ready_timeout))


def down(data_dir: StateDir = Path(".eco")) -> None:
    """Stop an `eco up` running in the background."""
    from eco_cli.up import stop_detached

    if not stop_detached(data_dir):
        typer.secho("eco is not running", err=True)
        raise typer.Exit(1)
    typer.echo("stopped")


def status(data_dir: StateDir = Path(".eco"), as_json: JsonFlag = False) -> None:
    """Where every service of a running `eco up` listens, and whether it is ready."""
    from eco_cli.up import read_state, service_health

    state = read_state(data_dir)
    if state is None:
        typer.secho("eco is not running (`eco up` starts it)", err=True)
        raise typer.Exit(1)
    health = service_health(state)
    _print_status(state, health, as_json=as_json)
    if any(value != "ready" for value in health.values()):
        raise typer.Exit(1)


def _print_status(state: dict[str, Any], health: dict[str, str], *, as_json: bool) -> None:
    if as_json:
        typer.echo(
            json.dumps(
                {
                    "redis_url": state.get("redis_url"),
                    "services": {
                        name: {"url": url, "status": health.get(name)}
                        for name, url in state.get("services", {}).items()
                    },
                }
            )
        )
        return
    from rich.console import Console
    from rich.table import Table

    table = Table(title="LLM Documentation Ecosystem")
    for column in ("service", "url", "status"):
        table.add_column(column)
    table.add_row("redis", str(state.get("redis_url")), "")
    for name, url in state.get("services", {}).items():
        colour = "green" if health.get(name) == "ready" else "red"
        table.add_row(name, url, f"[{colour}]{health.get(name)}[/]")
    Console().print(table)
