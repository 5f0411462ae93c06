"""`eco`: the command people meet the ecosystem through."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from eco_cli import commands
from eco_cli.new_service import NewServiceError, find_workspace_root, new_service
from eco_cli.up import (
    Supervisor,
    read_state,
    service_health,
    start_detached,
    stop_detached,
)

app = typer.Typer(help="The LLM Documentation Ecosystem.", no_args_is_help=True)


@app.callback()
def main() -> None:
    """The LLM Documentation Ecosystem."""


commands.register(app)


DataDir = Annotated[Path, typer.Option(envvar="ECO_DATA_DIR", help="Where state lives.")]
JsonFlag = Annotated[bool, typer.Option("--json", help="Machine-readable output.")]


@app.command()
def up(
    data_dir: DataDir = Path(".eco"),
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


@app.command()
def down(data_dir: DataDir = Path(".eco")) -> None:
    """Stop an `eco up` running in the background."""
    if not stop_detached(data_dir):
        typer.secho("eco is not running", err=True)
        raise typer.Exit(1)
    typer.echo("stopped")


@app.command()
def status(data_dir: DataDir = Path(".eco"), as_json: JsonFlag = False) -> None:
    """Where every service of a running `eco up` listens, and whether it is ready."""
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
    table = Table(title="LLM Documentation Ecosystem")
    for column in ("service", "url", "status"):
        table.add_column(column)
    table.add_row("redis", str(state.get("redis_url")), "")
    for name, url in state.get("services", {}).items():
        colour = "green" if health.get(name) == "ready" else "red"
        table.add_row(name, url, f"[{colour}]{health.get(name)}[/]")
    Console().print(table)


@app.command("new-service")
def new_service_command(
    name: Annotated[str, typer.Argument(help="Service name, e.g. weather")],
    port: Annotated[
        int | None, typer.Option(help="Port (default: the next free from 5110)")
    ] = None,
    description: Annotated[str, typer.Option(help="One line on what it does")] = "",
    sync: Annotated[bool, typer.Option(help="Run uv lock/sync and regenerate manifests")] = True,
) -> None:
    """Generate services/NAME from the service template and wire it into the ecosystem."""
    try:
        root = find_workspace_root(Path.cwd())
        destination = new_service(root, name, port=port, description=description, sync=sync)
    except NewServiceError as exc:
        typer.secho(str(exc), fg="red", err=True)
        raise typer.Exit(2) from None
    typer.echo(f"created {destination.relative_to(root)}; `eco up` starts it with the rest")


if __name__ == "__main__":
    app()
