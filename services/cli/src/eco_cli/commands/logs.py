"""`eco logs`: every service's log records, newest first or followed live."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Annotated, Any

import typer

from eco_cli.commands._common import DEFAULT_DATA_DIR, DataDir, JsonFlag, console, emit_json, run

if TYPE_CHECKING:
    from eco_cli.client import Eco

_LEVEL_COLOURS = {"error": "red", "critical": "red", "warning": "yellow", "debug": "dim"}


def logs(
    service: Annotated[str | None, typer.Option("--service", "-s")] = None,
    level: Annotated[str | None, typer.Option("--level", "-l", help="At or above.")] = None,
    trace_id: Annotated[str | None, typer.Option("--trace")] = None,
    q: Annotated[str | None, typer.Option("--search", "-q")] = None,
    limit: int = 50,
    follow: Annotated[bool, typer.Option("--follow", "-f", help="Live tail.")] = False,
    as_json: JsonFlag = False,
    data_dir: DataDir = DEFAULT_DATA_DIR,
) -> None:
    """Log records from every service, newest first (or followed live)."""
    if follow:

        async def tail(eco: Eco) -> None:
            params = "&".join(f"{k}={v}" for k, v in (("service", service), ("level", level)) if v)
            async for _, _, data in eco.sse("log-collector", f"/logs/tail?{params}"):
                if as_json:
                    typer.echo(json.dumps(data))
                else:
                    print_log(data)

        try:
            run(data_dir, tail)
        except KeyboardInterrupt:
            pass
        return
    page = run(
        data_dir,
        lambda eco: eco.logs.logs(
            service=service,
            level=level,
            trace_id=trace_id,
            q=q,
            limit=limit,  # type: ignore[arg-type]
        ),
    )
    if as_json:
        emit_json(page)
        return
    for record in reversed(page.items):
        print_log(record.model_dump(mode="json"))


def print_log(record: dict[str, Any]) -> None:
    """One log record as a line: time, level, service, message, trace id."""
    level = str(record.get("level", "info"))
    colour = _LEVEL_COLOURS.get(level, "white")
    trace_id = record.get("trace_id") or ""
    console.print(
        f"{record.get('time', '')} [{colour}]{level:<8}[/] {record.get('service', ''):<14} "
        f"{record.get('message', '')} [dim]{trace_id}[/]"
    )
