"""What every command shares: options, JSON output, and running against the ecosystem.

Adapters, httpx, pydantic, rich's console and the event loop are imported when a command
needs them, not when `eco` starts, so `eco --help` and `eco up` stay quick.
"""

from __future__ import annotations

import functools
import json
import sys
from collections.abc import Awaitable, Callable
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, TypeVar

import typer

if TYPE_CHECKING:
    from rich.console import Console

    from eco_cli.client import Eco

T = TypeVar("T")
EXIT_NOT_FOUND = 1
EXIT_REFUSED = 2
EXIT_NOT_RUNNING = 3

DataDir = Annotated[Path, typer.Option(envvar="ECO_DATA_DIR", help="Where eco up keeps state.")]
JsonFlag = Annotated[bool, typer.Option("--json", help="Machine-readable output.")]
DEFAULT_DATA_DIR = Path(".eco")


@functools.cache
def console() -> Console:
    """The console every command prints its answers on (made on first use)."""
    from rich.console import Console

    return Console(highlight=False)


def jsonable(value: Any) -> Any:
    """`value` with models and datetimes turned into plain JSON values."""
    pydantic = sys.modules.get("pydantic")  # not imported: nothing here is a model
    if pydantic is not None and isinstance(value, pydantic.BaseModel):
        return value.model_dump(mode="json")
    if isinstance(value, list):
        return [jsonable(v) for v in value]
    if isinstance(value, dict):
        return {k: jsonable(v) for k, v in value.items()}
    if isinstance(value, datetime):
        return value.isoformat()
    return value


def emit_json(value: Any) -> None:
    """Print `value` as JSON on stdout."""
    typer.echo(json.dumps(jsonable(value), indent=2, default=str))


def quiet_logging() -> None:
    """Logs go to stderr and only when they matter: stdout belongs to the answer (and
    --json). Deferred: structlog is loaded only if something logs at `ECO_LOG_LEVEL`."""
    import os

    from eco_shared.logging import configure_logging

    level = os.environ.get("ECO_LOG_LEVEL", "ERROR")
    configure_logging("cli", level=level, stream=sys.stderr, defer=True)


def run(data_dir: Path, body: Callable[[Eco], Awaitable[T]]) -> T:
    """Connect, run `body`, and turn the ecosystem's errors into messages and exit codes."""
    import asyncio

    import httpx
    import pydantic

    from eco_cli.client import NotRunningError, connect
    from eco_shared.adapters import AdapterError
    from eco_shared.auth import TokenError
    from eco_shared.directory import ServiceNotFoundError
    from eco_shared.http import ServiceCallError, read_problem

    quiet_logging()

    async def main() -> T:
        async with connect(data_dir) as eco:
            return await body(eco)

    try:
        return asyncio.run(main())
    except NotRunningError as exc:
        typer.secho(str(exc), fg="red", err=True)
        raise typer.Exit(EXIT_NOT_RUNNING) from None
    except ServiceNotFoundError as exc:
        typer.secho(f"{exc} (is it running? `eco services` lists what is)", fg="red", err=True)
        raise typer.Exit(EXIT_NOT_RUNNING) from None
    except TokenError as exc:
        if exc.status is None or exc.status >= 500:
            typer.secho(f"the issuer did not answer: {exc}", fg="red", err=True)
            raise typer.Exit(EXIT_NOT_RUNNING) from None
        typer.secho(f"{exc} ({_key_hint(data_dir)})", fg="red", err=True)
        raise typer.Exit(EXIT_REFUSED) from None
    except AdapterError as exc:
        typer.secho(str(exc), fg="red", err=True)
        if exc.status == 503:
            typer.secho("it is unavailable for now; try again shortly", fg="red", err=True)
        if exc.status == 401:
            typer.secho(_key_hint(data_dir), fg="red", err=True)
        raise typer.Exit(_exit_code(exc.status)) from None
    except httpx.HTTPStatusError as exc:  # a lookup in discovery that was refused
        if exc.response.status_code < 400 or exc.response.status_code >= 500:
            typer.secho(f"a service did not answer: {exc}", fg="red", err=True)
            raise typer.Exit(EXIT_NOT_RUNNING) from None
        refused = AdapterError("discovery", exc.response.status_code, read_problem(exc.response))
        typer.secho(str(refused), fg="red", err=True)
        if exc.response.status_code == 401:
            typer.secho(_key_hint(data_dir), fg="red", err=True)
        raise typer.Exit(_exit_code(exc.response.status_code)) from None
    except (ServiceCallError, httpx.HTTPError) as exc:
        typer.secho(f"a service did not answer: {exc}", fg="red", err=True)
        raise typer.Exit(EXIT_NOT_RUNNING) from None
    except pydantic.ValidationError as exc:  # an adapter checked the request before sending it
        for error in exc.errors():
            where = ".".join(map(str, error["loc"])) or "request"
            typer.secho(f"{where}: {error['msg']}", fg="red", err=True)
        typer.secho(f"not valid ({exc.title}), by the CLI's own check", fg="red", err=True)
        raise typer.Exit(EXIT_REFUSED) from None


def _exit_code(status: int) -> int:
    """1: no such thing; 3: the ecosystem cannot answer now (503); 2: any other refusal."""
    if status == 404:
        return EXIT_NOT_FOUND
    return EXIT_NOT_RUNNING if status == 503 else EXIT_REFUSED


def _key_hint(data_dir: Path) -> str:
    from eco_cli.local_auth import api_key, locations_for

    if api_key(data_dir) is None:
        where = locations_for(data_dir).auth_path / "admin.key"
        return f"the CLI has no API key: set ECO_API_KEY, or run `eco up` (it creates {where})"
    return "the CLI's API key is ECO_API_KEY when set, else the admin key eco up created"


def not_found(what: str) -> typer.Exit:
    """Say that `what` does not exist; the exit to raise."""
    typer.secho(f"no {what}", fg="red", err=True)
    return typer.Exit(EXIT_NOT_FOUND)
