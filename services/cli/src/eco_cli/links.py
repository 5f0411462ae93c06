"""The web console's URL, and the console link of an id the CLI prints.

The console is found as every service is: its registered instance in discovery (a passing
one first); else the URL a running `eco up` wrote in its state file; else the default
`http://127.0.0.1:5030`. Finding it never fails a command: the fallback is used.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Literal
from urllib.parse import quote

if TYPE_CHECKING:
    from eco_cli.client import Eco

DEFAULT_CONSOLE = "http://127.0.0.1:5030"
Kind = Literal["run", "document", "trace", "prompt"]
PAGES: dict[str, str] = {
    "run": "/runs/",
    "document": "/documents/",
    "trace": "/traces/",
    "prompt": "/prompts/",
}


async def registered_console(eco: Eco) -> str | None:
    """The console's base URL from discovery (a passing instance first), or None."""
    import httpx

    from eco_shared.adapters import AdapterError
    from eco_shared.auth import TokenError
    from eco_shared.http import ServiceCallError

    try:
        found = await eco.discovery.get_service("console")
    except (AdapterError, TokenError, ServiceCallError, httpx.HTTPError):
        return None
    ranked = sorted(found.instances, key=lambda i: i.status != "passing")
    return ranked[0].base_url.rstrip("/") if ranked else None


def console_from_state(data_dir: Path) -> str | None:
    """The console's URL that a running `eco up` wrote in its state file, or None."""
    from eco_cli.state import read_state

    state = read_state(data_dir)
    url = (state or {}).get("services", {}).get("console")
    return str(url).rstrip("/") if url else None


async def console_base(eco: Eco, data_dir: Path) -> str:
    """The console's base URL: discovery, the `eco up` state file, or the default."""
    return await registered_console(eco) or console_from_state(data_dir) or DEFAULT_CONSOLE


def console_link(base: str, item_id: str, kind: Kind | None = None) -> str:
    """The console page of an id: its exact page when its kind is known, else `/go/<id>`."""
    page = PAGES.get(kind, "/go/") if kind else "/go/"
    return base.rstrip("/") + page + quote(item_id.strip(), safe="")
