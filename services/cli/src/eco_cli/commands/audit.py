"""`eco audit` (the audit trail, newest first) and `eco audit verify` (its hash chain).

Both ask the log collector (`GET /audit`, `GET /audit/verify`; they need `audit:read`).
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Annotated, Any

import typer

from eco_cli.commands._common import DEFAULT_DATA_DIR, DataDir, JsonFlag, console, emit_json, run

if TYPE_CHECKING:
    from eco_cli.client import Eco

EXIT_BROKEN = 4
audit_app = typer.Typer(
    help="The audit trail: security-relevant actions, hash-chained.",
    invoke_without_command=True,
)


@audit_app.callback()
def audit(
    ctx: typer.Context,
    type: Annotated[
        str | None, typer.Option("--type", "-t", help="Only this type, e.g. key.revoked.")
    ] = None,
    subject: Annotated[str | None, typer.Option(help="Only this principal's actions.")] = None,
    since: Annotated[str | None, typer.Option(help="From (RFC 3339, or an age like 1h).")] = None,
    until: Annotated[str | None, typer.Option(help="Until (RFC 3339).")] = None,
    limit: int = 50,
    as_json: JsonFlag = False,
    data_dir: DataDir = DEFAULT_DATA_DIR,
) -> None:
    """Audit records: key created, rotated or revoked, requests refused, documents deleted..."""
    if ctx.invoked_subcommand is not None:
        return
    params = {
        k: v
        for k, v in {
            "type": type,
            "subject": subject,
            "since": since,
            "until": until,
            "limit": limit,
        }.items()
        if v is not None
    }

    async def body(eco: Eco) -> Any:
        return await eco.call("log-collector", "GET", "/audit", params=params)

    page = run(data_dir, body)
    if as_json:
        emit_json(page)
        return
    items = page.get("items", []) if isinstance(page, dict) else page
    for record in items:
        _print_record(record)
    if isinstance(page, dict) and page.get("next_cursor"):
        console().print("[dim]more: narrow with --since/--until or --limit[/]")


def _print_record(record: dict[str, Any]) -> None:
    from rich.markup import escape

    data = record.get("data")
    detail = escape(json.dumps(data, sort_keys=True, default=str)[:200]) if data else ""
    who = escape(str(record.get("subject") or record.get("source") or ""))
    console().print(
        f"{record.get('seq', ''):>6} {record.get('time', '')} "
        f"[bold]{escape(str(record.get('type', '')))}[/] {who} [dim]{detail}[/]"
    )


@audit_app.command("verify")
def verify(as_json: JsonFlag = False, data_dir: DataDir = DEFAULT_DATA_DIR) -> None:
    """Check the whole hash chain; exit 4 when a record was changed, removed or reordered."""

    async def body(eco: Eco) -> Any:
        return await eco.call("log-collector", "GET", "/audit/verify")

    result = run(data_dir, body)
    if as_json:
        emit_json(result)
    elif result.get("ok"):
        console().print(f"[green]the audit trail is intact[/] ({result.get('checked')} records)")
    else:
        console().print(
            f"[red]the audit trail is broken at record {result.get('first_bad_seq')}[/]: "
            f"{result.get('reason')} ({result.get('checked')} checked)"
        )
    if not result.get("ok"):
        raise typer.Exit(EXIT_BROKEN)
