"""`eco ask` (submit a query and follow its run) and `eco runs` (recent runs)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from eco_cli.commands._common import DEFAULT_DATA_DIR, DataDir, JsonFlag, console, emit_json, run

if TYPE_CHECKING:
    from eco_cli.client import Eco


def ask(
    query: Annotated[str, typer.Argument(help='What you want, e.g. "Document the doc-store API"')],
    format: Annotated[str, typer.Option("--format", "-f", help="markdown, json, html, ...")] = (
        "markdown"
    ),
    out: Annotated[Path | None, typer.Option("--out", "-o", help="Save the document here.")] = None,
    review: Annotated[bool, typer.Option(help="Pause for approval before storing.")] = False,
    user: Annotated[str | None, typer.Option(help="User id recorded in provenance.")] = None,
    as_json: JsonFlag = False,
    data_dir: DataDir = DEFAULT_DATA_DIR,
) -> None:
    """Ask the ecosystem in plain language; follow the run; print where the document is."""

    async def body(eco: Eco) -> dict[str, Any]:
        from eco_cli.links import console_base, console_link

        accepted = await eco.orchestrator.submit_query(
            query, format=format, user_id=user, review=review
        )
        base = await console_base(eco, data_dir)
        if not as_json:
            console().print(f"run [bold]{accepted.run_id}[/] accepted")
            console().print(f"console   {console_link(base, accepted.run_id, 'run')}")
        final: dict[str, Any] = {}
        async for _, event, data in eco.sse("orchestrator", f"/runs/{accepted.run_id}/events"):
            if not as_json:
                _print_run_event(event, data)
            if event == "review.requested" and not as_json:
                console().print(
                    f"waiting for review: `curl -X POST .../runs/{accepted.run_id}/resume`"
                )
            if event.startswith("run.") and event not in ("run.started", "run.queued"):
                final = {"event": event, **data}
                break
        info = await eco.orchestrator.get_run(accepted.run_id)
        result: dict[str, Any] = {
            "run_id": info.run_id,
            "status": info.status,
            "workflow": info.workflow,
            "document_id": info.document_id,
            "trace_id": info.trace_id,
            "error": info.error,
            "result": info.result,
        }
        if info.document_id:
            document = await eco.docs.get_document(info.document_id)
            url = document.download_url
            if not url.startswith(("http://", "https://")):
                url = await eco.directory.resolve("doc-store") + url
            result["download_url"] = url
            result["title"] = document.title
            if out is not None:
                download = await eco.docs.download(info.document_id)
                out.write_bytes(download.content)
                result["saved_to"] = str(out)
        result["final_event"] = final.get("event")
        result["console_url"] = console_link(base, info.run_id, "run")
        result["links"] = {
            "document": console_link(base, info.document_id, "document")
            if info.document_id
            else None,
            "trace": console_link(base, info.trace_id, "trace") if info.trace_id else None,
        }
        return result

    result = run(data_dir, body)
    links = result.pop("links")  # the run's page is `console_url`; the others print for a human
    if as_json:
        emit_json(result)
    else:
        _print_result(result, links)
    if result["status"] not in ("completed", "needs_clarification"):
        raise typer.Exit(2)


def _print_result(result: dict[str, Any], links: dict[str, str | None]) -> None:
    if result["document_id"]:
        console().print(f"[green]document[/] {result['document_id']} ({result.get('title')})")
        console().print(f"console   {links['document']}")
        console().print(f"download  {result['download_url']}")
        if result.get("saved_to"):
            console().print(f"saved to  {result['saved_to']}")
    elif result["error"]:
        console().print(f"[red]{result['status']}[/]: {result['error']}")
    else:
        console().print(f"[yellow]{result['status']}[/] {json.dumps(result['result'])}")
    console().print(f"trace     {result['trace_id']}  (`eco trace {result['trace_id']}`)")
    if links["trace"]:
        console().print(f"console   {links['trace']}")


def _print_run_event(event: str, data: dict[str, Any]) -> None:
    if event == "node.started":
        console().print(f"  [cyan]▶[/] {data.get('node')}")
    elif event == "node.finished":
        console().print(f"  [green]✓[/] {data.get('node')} ({data.get('duration_ms')} ms)")
    elif event == "node.failed":
        console().print(f"  [red]✗[/] {data.get('node')}: {data.get('error')}")
    elif event.startswith("tool"):
        service = data.get("service", "")
        operation = data.get("operation", "")
        console().print(f"      → {service} {operation} ({data.get('duration_ms')} ms)")
    elif event == "document.stored":
        console().print(f"  [green]stored[/] document {data.get('document_id')}")
    else:
        console().print(f"  {event}")


def runs(
    status: Annotated[str | None, typer.Option(help="Only runs in this status.")] = None,
    as_json: JsonFlag = False,
    data_dir: DataDir = DEFAULT_DATA_DIR,
) -> None:
    """Recent runs of the orchestrator."""

    async def body(eco: Eco) -> tuple[Any, str]:
        from eco_cli.links import console_base

        found = await eco.orchestrator.list_runs(status=status)
        # --json prints no links: no console lookup (a discovery call) for it
        return found, "" if as_json else await console_base(eco, data_dir)

    result, base = run(data_dir, body)
    if as_json:
        emit_json(result)
        return
    from rich.table import Table  # only for a human: --json does without

    from eco_cli.links import console_link

    table = Table(title=f"runs ({result.total})")
    for column in ("run", "status", "workflow", "query", "document"):
        table.add_column(column)
    table.add_column("console", overflow="fold")
    for item in result.items:
        table.add_row(
            item.run_id,
            item.status,
            item.workflow or "",
            item.query[:60],
            item.document_id or "",
            console_link(base, item.run_id, "run"),
        )
    console().print(table)
