"""`eco`: the command people meet the ecosystem through."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from eco_cli.new_service import NewServiceError, find_workspace_root, new_service
from eco_cli.up import Supervisor

app = typer.Typer(help="The LLM Documentation Ecosystem.", no_args_is_help=True)


@app.callback()
def main() -> None:
    """The LLM Documentation Ecosystem."""


@app.command()
def up(
    data_dir: Annotated[
        Path, typer.Option(envvar="ECO_DATA_DIR", help="Where state lives.")
    ] = Path(".eco"),
    redis_url: Annotated[
        str | None, typer.Option(envvar="ECO_REDIS_URL", help="Use this Redis, not a private one.")
    ] = None,
    redis_port: Annotated[
        int, typer.Option(envvar="ECO_UP_REDIS_PORT", help="Port of the private Redis (0: free).")
    ] = 0,
    ready_timeout: Annotated[float, typer.Option(help="Seconds to wait for readiness.")] = 60.0,
) -> None:
    """Start Redis and every installed service as processes; Ctrl-C stops them all."""
    supervisor = Supervisor(data_dir=data_dir, redis_url=redis_url, redis_port=redis_port)
    raise typer.Exit(supervisor.run(ready_timeout=ready_timeout))


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
