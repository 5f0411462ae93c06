"""`eco new-service NAME`: a new service from the template, wired into the ecosystem."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer


def new_service_command(
    name: Annotated[str, typer.Argument(help="Service name, e.g. weather")],
    port: Annotated[
        int | None, typer.Option(help="Port (default: the next free from 5120)")
    ] = None,
    description: Annotated[str, typer.Option(help="One line on what it does")] = "",
    sync: Annotated[bool, typer.Option(help="Run uv lock/sync and regenerate manifests")] = True,
) -> None:
    """Generate services/NAME from the service template and wire it into the ecosystem."""
    from eco_cli.new_service import NewServiceError, find_workspace_root, new_service

    try:
        root = find_workspace_root(Path.cwd())
        destination = new_service(root, name, port=port, description=description, sync=sync)
    except NewServiceError as exc:
        typer.secho(str(exc), fg="red", err=True)
        raise typer.Exit(2) from None
    typer.echo(f"created {destination.relative_to(root)}; `eco up` starts it with the rest")
