"""`eco logs`: every service's log records, newest first or followed live."""

from __future__ import annotations

import json
from pathlib import Path
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
    output: Annotated[
        bool, typer.Option("--output", help="The process's own output file (with --service).")
    ] = False,
    as_json: JsonFlag = False,
    data_dir: DataDir = DEFAULT_DATA_DIR,
) -> None:
    """Log records from every service, newest first (or followed live).

    With `--service`, a process that is not ready (crashed, backing off, given up; or
    `redis`) shows its own last output from the file `eco up` keeps, as does `--output`.
    """
    if service and not follow and _print_output(data_dir, service, limit, output, as_json):
        return
    if follow:

        async def tail(eco: Eco) -> None:
            from eco_cli.links import console_base

            base = None if as_json else await console_base(eco, data_dir)
            params = "&".join(f"{k}={v}" for k, v in (("service", service), ("level", level)) if v)
            async for _, _, data in eco.sse("log-collector", f"/logs/tail?{params}"):
                if as_json:
                    typer.echo(json.dumps(data))
                else:
                    print_log(data, base)

        try:
            run(data_dir, tail)
        except KeyboardInterrupt:
            pass
        return

    async def body(eco: Eco) -> tuple[Any, str | None]:
        from eco_cli.links import console_base

        page = await eco.logs.logs(
            service=service,
            level=level,
            trace_id=trace_id,
            q=q,
            limit=limit,  # type: ignore[arg-type]
        )
        return page, None if as_json else await console_base(eco, data_dir)

    page, base = run(data_dir, body)
    if as_json:
        emit_json(page)
        return
    for record in reversed(page.items):
        print_log(record.model_dump(mode="json"), base)


def _print_output(data_dir: Path, name: str, limit: int, force: bool, as_json: bool) -> bool:
    """Print a process's last output lines; False when the log collector should answer."""
    from eco_cli.processes import format_line, read_tail
    from eco_cli.state import process_output

    found = process_output(data_dir, name)
    if found is None:
        if force:
            typer.secho(f"no output kept for {name} under {data_dir}", fg="red", err=True)
            raise typer.Exit(1)
        return False
    path, process = found
    state = None if process is None else process["state"]
    if not force and name != "redis" and state == "ready":
        return False
    lines = read_tail(path, limit)
    if as_json:
        emit_json({"service": name, "state": state, "log": str(path), "lines": lines})
        return True
    last_exit = None if process is None else process.get("last_exit")
    why = f" ({last_exit})" if last_exit and state != "ready" else ""
    typer.secho(f"{name}: {state or 'not running'}{why}; last output, {path}:", err=True)
    for line in lines:
        console().print(format_line(line), markup=False, highlight=False, soft_wrap=True)
    return True


def print_log(record: dict[str, Any], console_base: str | None = None) -> None:
    """One log record as a line: time, level, service, message, trace id (and its console
    page, given the console's base URL)."""
    from eco_cli.links import console_link

    level = str(record.get("level", "info"))
    colour = _LEVEL_COLOURS.get(level, "white")
    trace_id = str(record.get("trace_id") or "")
    link = f" {console_link(console_base, trace_id, 'trace')}" if console_base and trace_id else ""
    console().print(
        f"{record.get('time', '')} [{colour}]{level:<8}[/] {record.get('service', ''):<14} "
        f"{record.get('message', '')} [dim]{trace_id}{link}[/]"
    )
