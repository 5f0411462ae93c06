"""`eco console [ID]`: the web console's URL (an id's page with ID), opened in a browser.

The console is found as every service is: its registered instance in discovery (a passing
one first); else the URL a running `eco up` wrote in its state file; else the default
`http://127.0.0.1:5030`. Finding it never fails the command: the fallback is printed.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from eco_cli.commands._common import DEFAULT_DATA_DIR, DataDir, JsonFlag, emit_json

DEFAULT_CONSOLE = "http://127.0.0.1:5030"


def console_url(data_dir: Path) -> str:
    """The console's base URL: discovery, the `eco up` state file, or the default."""
    return _registered(data_dir) or _from_state(data_dir) or DEFAULT_CONSOLE


def _registered(data_dir: Path) -> str | None:
    import asyncio
    import os
    import sys

    import httpx

    from eco_cli.client import NotRunningError, connect
    from eco_shared.adapters import AdapterError
    from eco_shared.auth import TokenError
    from eco_shared.http import ServiceCallError
    from eco_shared.logging import configure_logging

    # as every command: stdout is the answer's, logs go to stderr and only when they matter
    configure_logging("cli", level=os.environ.get("ECO_LOG_LEVEL", "ERROR"), stream=sys.stderr)

    async def lookup() -> str | None:
        async with connect(data_dir) as eco:
            found = await eco.discovery.get_service("console")
        ranked = sorted(found.instances, key=lambda i: i.status != "passing")
        return ranked[0].base_url.rstrip("/") if ranked else None

    try:
        return asyncio.run(lookup())
    except (NotRunningError, AdapterError, TokenError, ServiceCallError, httpx.HTTPError):
        return None


def _from_state(data_dir: Path) -> str | None:
    from eco_cli.state import read_state

    state = read_state(data_dir)
    url = (state or {}).get("services", {}).get("console")
    return str(url).rstrip("/") if url else None


def console(
    item_id: Annotated[
        str | None, typer.Argument(metavar="[ID]", help="A run, trace or document id.")
    ] = None,
    print_only: Annotated[
        bool, typer.Option("--print", help="Print the URL; do not open a browser.")
    ] = False,
    as_json: JsonFlag = False,
    data_dir: DataDir = DEFAULT_DATA_DIR,
) -> None:
    """Open the web console (with ID: that run's, trace's or document's page)."""
    from urllib.parse import quote

    url = console_url(data_dir)
    if item_id:
        url += "/go/" + quote(item_id.strip(), safe="")
    if as_json:  # for scripts: the URL only, no browser
        emit_json({"url": url})
        return
    typer.echo(url)
    if print_only:
        return
    import webbrowser

    if not webbrowser.open(url):
        typer.secho("no browser to open it with: open the URL above", err=True)
