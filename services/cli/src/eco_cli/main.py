"""`eco`: the command people meet the ecosystem through."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

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


if __name__ == "__main__":
    app()
