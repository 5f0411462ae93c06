"""`eco auth ...`: who the CLI is, API keys, the scope table, and key material for deployments.

`whoami` and `keys` call the issuer (discovery's `/auth/whoami` and `/auth/keys`), `scopes`
reads every registered service's OpenAPI `x-eco-scopes`, `init` writes key material into a
directory for compose or Kubernetes without anything running, `redis-url` gives an operator
the private Redis of a running `eco up` as one of its ACL users.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from eco_cli.commands._common import DEFAULT_DATA_DIR, DataDir, JsonFlag, console, emit_json, run

if TYPE_CHECKING:
    from eco_cli.client import Eco

auth_app = typer.Typer(help="Who you are, API keys, scopes, key material.", no_args_is_help=True)
keys_app = typer.Typer(help="Your API keys (the issuer's /auth/keys).", no_args_is_help=True)
auth_app.add_typer(keys_app, name="keys")

_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def parse_duration(text: str) -> int:
    """Seconds from `3600`, `45s`, `15m`, `12h` or `30d`."""
    found = re.fullmatch(r"\s*(\d+)\s*([smhd]?)\s*", text)
    if found is None:
        raise typer.BadParameter(f"{text!r} is not a duration (e.g. 3600, 15m, 12h, 30d)")
    return int(found.group(1)) * _UNITS[found.group(2) or "s"]


async def _issuer(eco: Eco, method: str, path: str, **kwargs: Any) -> Any:
    return await eco.call("discovery", method, path, base=eco.issuer, **kwargs)


@auth_app.command("whoami")
def whoami(as_json: JsonFlag = False, data_dir: DataDir = DEFAULT_DATA_DIR) -> None:
    """The principal the CLI's API key stands for: subject, scopes, key and limits."""
    me = run(data_dir, lambda eco: _issuer(eco, "GET", "/auth/whoami"))
    if as_json:
        emit_json(me)
        return
    for name, value in me.items():
        shown = " ".join(value) if isinstance(value, list) else value
        console().print(f"[bold]{name:<12}[/] {shown}")


@keys_app.command("create")
def keys_create(
    name: Annotated[str, typer.Argument(help="What the key is for, e.g. ci")],
    scope: Annotated[
        list[str] | None,
        typer.Option("--scope", "-s", help="A scope (repeat); default: all of yours."),
    ] = None,
    model: Annotated[
        list[str] | None, typer.Option("--model", help="A model it may use (repeat).")
    ] = None,
    ttl: Annotated[str | None, typer.Option(help="Lifetime: seconds or 15m, 12h, 30d.")] = None,
    expires_at: Annotated[str | None, typer.Option(help="RFC 3339 expiry.")] = None,
    budget_tokens: Annotated[int | None, typer.Option(help="LLM tokens it may spend.")] = None,
    rpm: Annotated[int | None, typer.Option(help="Gateway requests per minute.")] = None,
    as_json: JsonFlag = False,
    data_dir: DataDir = DEFAULT_DATA_DIR,
) -> None:
    """Create an API key (never more scopes than yours); its secret is shown once."""
    body: dict[str, Any] = {"name": name}
    if scope:
        body["scopes"] = scope
    if model:
        body["models"] = model
    if ttl is not None:
        body["ttl_s"] = parse_duration(ttl)
    if expires_at is not None:
        body["expires_at"] = expires_at
    if budget_tokens is not None:
        body["budget_tokens"] = budget_tokens
    if rpm is not None:
        body["rpm"] = rpm
    created = run(data_dir, lambda eco: _issuer(eco, "POST", "/auth/keys", json=body))
    _print_secret(created, "created", as_json)


@keys_app.command("list")
def keys_list(as_json: JsonFlag = False, data_dir: DataDir = DEFAULT_DATA_DIR) -> None:
    """Your API keys (an admin sees everyone's); never a secret."""
    listing = run(data_dir, lambda eco: _issuer(eco, "GET", "/auth/keys"))
    items = listing.get("items", listing) if isinstance(listing, dict) else listing
    if as_json:
        emit_json(items)
        return
    from rich.table import Table  # only for a human: --json does without

    table = Table(title=f"API keys ({len(items)})")
    columns = ("key_id", "name", "owner", "scopes", "expires_at", "status")
    for column in columns:
        table.add_column(column)
    for item in items:
        status = item.get("status") or ("revoked" if item.get("revoked_at") else "active")
        cells = {**item, "status": status, "scopes": " ".join(item.get("scopes") or [])}
        table.add_row(*(str(cells.get(column) or "") for column in columns))
    console().print(table)


@keys_app.command("rotate")
def keys_rotate(
    key_id: str,
    grace: Annotated[
        str, typer.Option(help="How long the old secret keeps working: seconds or 15m, 1h.")
    ] = "0",
    as_json: JsonFlag = False,
    data_dir: DataDir = DEFAULT_DATA_DIR,
) -> None:
    """A new secret for the same key id; the old one works for `--grace` more."""
    body = {"grace_s": parse_duration(grace)}
    rotated = run(
        data_dir, lambda eco: _issuer(eco, "POST", f"/auth/keys/{key_id}/rotate", json=body)
    )
    _print_secret(rotated, "rotated", as_json)


@keys_app.command("revoke")
def keys_revoke(key_id: str, data_dir: DataDir = DEFAULT_DATA_DIR) -> None:
    """Revoke a key: every service refuses it from now on."""
    run(data_dir, lambda eco: _issuer(eco, "DELETE", f"/auth/keys/{key_id}"))
    typer.echo(f"revoked {key_id}")


def _print_secret(answer: dict[str, Any], what: str, as_json: bool) -> None:
    if as_json:
        emit_json(answer)
        return
    console().print(f"key [bold]{answer.get('key_id')}[/] {what}; its secret, shown this once:")
    console().print(f"    {answer.get('key')}", markup=False)


@auth_app.command("scopes")
def scopes(as_json: JsonFlag = False, data_dir: DataDir = DEFAULT_DATA_DIR) -> None:
    """Every scope the registered services declare, with the operations that need it."""
    table_rows = run(data_dir, scope_table)
    if as_json:
        emit_json(table_rows)
        return
    from rich.table import Table  # only for a human: --json does without

    table = Table(title="scopes (from each service's OpenAPI x-eco-scopes)")
    for column in ("scope", "service", "operations"):
        table.add_column(column)
    for row in table_rows:
        table.add_row(row["scope"], row["service"], "\n".join(row["operations"]))
    console().print(table)


async def scope_table(eco: Eco) -> list[dict[str, Any]]:
    """[{scope, service, operations}] from every registered service, sorted."""
    found: dict[tuple[str, str], list[str]] = {}
    listing = await eco.discovery.list_services()
    for summary in listing.services:
        try:
            spec = await eco.call(summary.name, "GET", "/openapi.json")
        except Exception as exc:  # one service away must not hide the others' scopes
            typer.secho(f"{summary.name}: {exc}", fg="yellow", err=True)
            continue
        for path, item in (spec.get("paths") or {}).items():
            for method, operation in item.items():
                if not isinstance(operation, dict):
                    continue
                wanted = operation.get("x-eco-scopes") or []
                for scope in wanted if not operation.get("x-eco-public") else ["(public)"]:
                    found.setdefault((scope, summary.name), []).append(f"{method.upper()} {path}")
    if not any(scope != "(public)" for scope, _ in found):
        typer.secho("no service declares x-eco-scopes", fg="yellow", err=True)
    return [
        {"scope": scope, "service": service, "operations": sorted(ops)}
        for (scope, service), ops in sorted(found.items(), key=_public_last)
    ]


def _public_last(item: tuple[tuple[str, str], list[str]]) -> tuple[bool, str, str]:
    (scope, service), _ = item
    return scope == "(public)", scope, service


@auth_app.command("init")
def init(
    directory: Annotated[Path, typer.Option("--dir", help="Where to write the key material.")],
    env_dir: Annotated[
        Path | None,
        typer.Option(help="Where to write one env file per service (default: DIR/env)."),
    ] = None,
    service: Annotated[
        list[str] | None,
        typer.Option(
            "--service", help="A service to write secrets for (repeat); default: every one."
        ),
    ] = None,
    redis_url: Annotated[
        str, typer.Option(help="The Redis the services reach, without credentials.")
    ] = "redis://redis:6379/0",
    redis_prefix: Annotated[
        str, typer.Option(envvar="ECO_REDIS_PREFIX", help="The deployment's key prefix.")
    ] = "",
) -> None:
    """Write key material for compose or Kubernetes; nothing needs to be running.

    Signing keys, pepper, master, the admin key, a client secret per service, the Redis ACL
    file, and an env file per service (its ECO_REDIS_URL and ECO_AUTH_CLIENT_SECRET);
    existing keys are kept.
    """
    from importlib.metadata import entry_points

    from eco_cli.local_auth import init_deployment
    from eco_shared.services import ENTRY_POINT_GROUP

    names = tuple(service or sorted({e.name for e in entry_points(group=ENTRY_POINT_GROUP)}))
    env = env_dir if env_dir is not None else directory / "env"
    prepared = init_deployment(directory, env, names, redis_url=redis_url, prefix=redis_prefix)
    root = prepared.material.directory
    typer.echo(f"key material in {root}, env files in {env.resolve()}:")
    written = {p.resolve() for p in (*root.rglob("*"), *env.glob("*.env")) if p.is_file()}
    for path in sorted(p for p in written if not p.name.startswith(".")):
        typer.echo(f"    {path}")
    if prepared.new_admin_key is not None:
        typer.echo("the admin API key, shown this once (also in admin.key):")
        typer.secho(f"    {prepared.new_admin_key}", bold=True)


@auth_app.command("redis-url")
def redis_url(
    user: Annotated[str, typer.Option(help="The ACL user: eco (every key) or a service.")] = "eco",
    data_dir: DataDir = DEFAULT_DATA_DIR,
) -> None:
    """The private Redis of a running `eco up`, with a user's password (for redis-cli -u)."""
    from eco_cli import acl
    from eco_cli.state import read_state
    from eco_shared.auth import AuthMaterial

    state = read_state(data_dir)
    if state is None or not state.get("auth", {}).get("redis_acl"):
        typer.secho("no `eco up` with a private Redis of its own is running", fg="red", err=True)
        raise typer.Exit(1)
    master = AuthMaterial(Path(state["auth"]["dir"])).master()
    typer.echo(acl.with_credentials(state["redis_url"], user, acl.password(master, user)))
