"""`eco console [ID]`: the web console's URL (an id's page with ID), opened in a browser.

The console is found by `eco_cli.links.console_base` (discovery, the `eco up` state file,
the default), as every command that prints an id finds its console link.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from eco_cli.commands._common import DEFAULT_DATA_DIR, DataDir, JsonFlag, emit_json


def console_url(data_dir: Path) -> str:
    """The console's base URL (`eco_cli.links.console_base`), connecting for it."""
    import asyncio

    from eco_cli.client import NotRunningError, connect
    from eco_cli.commands._common import quiet_logging
    from eco_cli.links import DEFAULT_CONSOLE, console_base, console_from_state

    quiet_logging()  # as every command: stdout is the answer's

    async def lookup() -> str:
        async with connect(data_dir) as eco:
            return await console_base(eco, data_dir)

    try:
        return asyncio.run(lookup())
    except NotRunningError:
        return console_from_state(data_dir) or DEFAULT_CONSOLE


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
    from eco_cli.links import console_link

    url = console_url(data_dir)
    if item_id:
        url = console_link(url, item_id)
    if as_json:  # for scripts: the URL only, no browser
        emit_json({"url": url})
        return
    typer.echo(url)
    if print_only:
        return
    import webbrowser

    if not webbrowser.open(url):
        typer.secho("no browser to open it with: open the URL above", err=True)
