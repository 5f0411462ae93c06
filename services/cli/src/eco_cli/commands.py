"""The everyday commands: ask, services, docs, runs, logs, trace, explain.

The commands that answer a question take `--json` for scripts; all of them exit non-zero
with a clear message when the ecosystem is not running (3) or an id does not exist (1).
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
from collections.abc import Awaitable, Callable
from datetime import datetime
from pathlib import Path
from typing import Annotated, Any, TypeVar

import httpx
import typer
from pydantic import BaseModel
from rich.console import Console
from rich.table import Table
from rich.tree import Tree

from eco_cli.client import Eco, NotRunningError, connect
from eco_shared.adapters import AdapterError
from eco_shared.adapters.log_collector import SpanOut
from eco_shared.directory import ServiceNotFoundError
from eco_shared.http import ServiceCallError
from eco_shared.logging import configure_logging

T = TypeVar("T")
EXIT_NOT_FOUND = 1
EXIT_NOT_RUNNING = 3

console = Console(highlight=False)
DataDir = Annotated[Path, typer.Option(envvar="ECO_DATA_DIR", help="Where eco up keeps state.")]
JsonFlag = Annotated[bool, typer.Option("--json", help="Machine-readable output.")]
DEFAULT_DATA_DIR = Path(".eco")


def _jsonable(value: Any) -> Any:
    if isinstance(value, BaseModel):
        return value.model_dump(mode="json")
    if isinstance(value, list):
        return [_jsonable(v) for v in value]
    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items()}
    if isinstance(value, datetime):
        return value.isoformat()
    return value


def emit_json(value: Any) -> None:
    """Print `value` as JSON on stdout."""
    typer.echo(json.dumps(_jsonable(value), indent=2, default=str))


def run(data_dir: Path, body: Callable[[Eco], Awaitable[T]]) -> T:
    """Connect, run `body`, and turn the ecosystem's errors into messages and exit codes."""

    # Logs go to stderr and only when they matter: stdout belongs to the answer (and --json).
    configure_logging("cli", level=os.environ.get("ECO_LOG_LEVEL", "ERROR"), stream=sys.stderr)

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
    except AdapterError as exc:
        typer.secho(str(exc), fg="red", err=True)
        raise typer.Exit(EXIT_NOT_FOUND if exc.status == 404 else 2) from None
    except (ServiceCallError, httpx.HTTPError) as exc:
        typer.secho(f"a service did not answer: {exc}", fg="red", err=True)
        raise typer.Exit(EXIT_NOT_RUNNING) from None


def _not_found(what: str) -> typer.Exit:
    typer.secho(f"no {what}", fg="red", err=True)
    return typer.Exit(EXIT_NOT_FOUND)


def register(app: typer.Typer) -> None:
    """Add the commands to the `eco` app."""
    app.command()(ask)
    app.command()(services)
    app.command()(runs)
    app.command()(logs)
    app.command()(trace)
    app.command()(explain)
    app.add_typer(docs_app, name="docs")


# ask


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
        accepted = await eco.orchestrator.submit_query(
            query, format=format, user_id=user, review=review
        )
        if not as_json:
            console.print(f"run [bold]{accepted.run_id}[/] accepted")
        final: dict[str, Any] = {}
        async for _, event, data in eco.sse("orchestrator", f"/runs/{accepted.run_id}/events"):
            if not as_json:
                _print_run_event(event, data)
            if event == "review.requested" and not as_json:
                console.print(
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
        return result

    result = run(data_dir, body)
    if as_json:
        emit_json(result)
    else:
        if result["document_id"]:
            console.print(f"[green]document[/] {result['document_id']} ({result.get('title')})")
            console.print(f"download  {result['download_url']}")
            if result.get("saved_to"):
                console.print(f"saved to  {result['saved_to']}")
        elif result["error"]:
            console.print(f"[red]{result['status']}[/]: {result['error']}")
        else:
            console.print(f"[yellow]{result['status']}[/] {json.dumps(result['result'])}")
        console.print(f"trace     {result['trace_id']}  (`eco trace {result['trace_id']}`)")
    if result["status"] not in ("completed", "needs_clarification"):
        raise typer.Exit(2)


def _print_run_event(event: str, data: dict[str, Any]) -> None:
    if event == "node.started":
        console.print(f"  [cyan]▶[/] {data.get('node')}")
    elif event == "node.finished":
        console.print(f"  [green]✓[/] {data.get('node')} ({data.get('duration_ms')} ms)")
    elif event == "node.failed":
        console.print(f"  [red]✗[/] {data.get('node')}: {data.get('error')}")
    elif event.startswith("tool"):
        service = data.get("service", "")
        operation = data.get("operation", "")
        console.print(f"      → {service} {operation} ({data.get('duration_ms')} ms)")
    elif event == "document.stored":
        console.print(f"  [green]stored[/] document {data.get('document_id')}")
    else:
        console.print(f"  {event}")


# services


def services(as_json: JsonFlag = False, data_dir: DataDir = DEFAULT_DATA_DIR) -> None:
    """Registered services, their instances, health and capabilities."""

    async def body(eco: Eco) -> list[dict[str, Any]]:
        listing = await eco.discovery.list_services()
        rows = []
        for summary in listing.services:
            detail = await eco.discovery.get_service(summary.name)
            rows.append(
                {
                    **summary.model_dump(mode="json"),
                    "capabilities": max(
                        (i.capabilities_count for i in detail.instances), default=0
                    ),
                    "urls": [i.base_url for i in detail.instances],
                }
            )
        return rows

    rows = run(data_dir, body)
    if as_json:
        emit_json(rows)
        return
    table = Table(title="services")
    for column in ("service", "instances", "health", "capabilities", "version", "urls"):
        table.add_column(column)
    for row in rows:
        colour = {"passing": "green", "warning": "yellow"}.get(row["status"], "red")
        table.add_row(
            row["name"],
            f"{row['passing']}/{row['instances']}",
            f"[{colour}]{row['status']}[/]",
            str(row["capabilities"]),
            ", ".join(row["versions"]),
            " ".join(row["urls"]),
        )
    console.print(table)


# docs

docs_app = typer.Typer(help="Documents in the doc store.", no_args_is_help=True)


@docs_app.command("list")
def docs_list(
    q: Annotated[str | None, typer.Option("--search", "-q", help="Full-text search.")] = None,
    format: Annotated[str | None, typer.Option(help="Only this format.")] = None,
    page: int = 1,
    as_json: JsonFlag = False,
    data_dir: DataDir = DEFAULT_DATA_DIR,
) -> None:
    """List documents, newest first."""
    result = run(data_dir, lambda eco: eco.docs.search_documents(q=q, format=format, page=page))
    if as_json:
        emit_json(result)
        return
    table = Table(title=f"documents ({result.total})")
    for column in ("id", "title", "format", "version", "size", "created"):
        table.add_column(column)
    for doc in result.items:
        table.add_row(
            doc.id,
            doc.title,
            doc.format,
            str(doc.version),
            f"{doc.size_bytes} B",
            doc.created_at.isoformat(timespec="seconds"),
        )
    console.print(table)


@docs_app.command("show")
def docs_show(
    document_id: str,
    version: int | None = None,
    as_json: JsonFlag = False,
    data_dir: DataDir = DEFAULT_DATA_DIR,
) -> None:
    """A document's metadata and, for text formats, its content."""

    async def body(eco: Eco) -> dict[str, Any]:
        doc = await eco.docs.get_document(document_id, version)
        download = await eco.docs.download(document_id, version)
        text = None
        if doc.format != "pdf":
            text = download.content.decode("utf-8", errors="replace")
        return {"document": doc, "content": text}

    result = run(data_dir, body)
    if as_json:
        emit_json(result)
        return
    doc = result["document"]
    console.print(
        f"[bold]{doc.title}[/]  {doc.id} v{doc.version}/{doc.latest_version} {doc.format}"
    )
    console.print(result["content"] if result["content"] is not None else "(binary: use download)")


@docs_app.command("download")
def docs_download(
    document_id: str,
    out: Annotated[Path | None, typer.Option("--out", "-o")] = None,
    version: int | None = None,
    data_dir: DataDir = DEFAULT_DATA_DIR,
) -> None:
    """Save a document's bytes (default: its own file name, in the current directory)."""
    download = run(data_dir, lambda eco: eco.docs.download(document_id, version))
    target = out or Path(download.filename or f"{document_id}.bin")
    target.write_bytes(download.content)
    typer.echo(f"saved {len(download.content)} bytes to {target}")


@docs_app.command("provenance")
def docs_provenance(
    document_id: str,
    prov_json: Annotated[bool, typer.Option("--prov-json", help="W3C PROV-JSON.")] = False,
    as_json: JsonFlag = True,
    data_dir: DataDir = DEFAULT_DATA_DIR,
) -> None:
    """How a document was made (the stored provenance record; always JSON)."""

    async def body(eco: Eco) -> Any:
        if prov_json:
            return await eco.docs.get_prov_json(document_id)
        return await eco.docs.get_provenance(document_id)

    emit_json(run(data_dir, body))


# runs


def runs(
    status: Annotated[str | None, typer.Option(help="Only runs in this status.")] = None,
    as_json: JsonFlag = False,
    data_dir: DataDir = DEFAULT_DATA_DIR,
) -> None:
    """Recent runs of the orchestrator."""
    result = run(data_dir, lambda eco: eco.orchestrator.list_runs(status=status))
    if as_json:
        emit_json(result)
        return
    table = Table(title=f"runs ({result.total})")
    for column in ("run", "status", "workflow", "query", "document"):
        table.add_column(column)
    for item in result.items:
        table.add_row(
            item.run_id, item.status, item.workflow or "", item.query[:60], item.document_id or ""
        )
    console.print(table)


# logs


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
                    _print_log(data)

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
        _print_log(record.model_dump(mode="json"))


def _print_log(record: dict[str, Any]) -> None:
    level = str(record.get("level", "info"))
    colour = {"error": "red", "critical": "red", "warning": "yellow", "debug": "dim"}.get(
        level, "white"
    )
    trace_id = record.get("trace_id") or ""
    console.print(
        f"{record.get('time', '')} [{colour}]{level:<8}[/] {record.get('service', ''):<14} "
        f"{record.get('message', '')} [dim]{trace_id}[/]"
    )


# trace and explain


def _waterfall(detail: Any) -> Tree:
    start = detail.start
    tree = Tree(
        f"trace {detail.trace_id}: {detail.span_count} spans across "
        f"{len(detail.services)} services ({', '.join(detail.services)}), "
        f"{detail.duration_ms} ms"
    )
    logs_by_span: dict[str, list[Any]] = {}
    for record in detail.logs:
        if record.span_id:
            logs_by_span.setdefault(record.span_id, []).append(record)

    def add(node: Tree, span: SpanOut) -> None:
        offset = (span.start - start).total_seconds() * 1000 if start else 0.0
        colour = "red" if span.status_code == "error" else "cyan"
        branch = node.add(
            f"[{colour}]{span.service}[/] {span.name}  +{offset:.1f} ms  {span.duration_ms:.1f} ms"
        )
        for record in logs_by_span.get(span.span_id, []):
            branch.add(f"[dim]{record.level} {record.message}[/]")
        for child in span.children:
            add(branch, child)

    for root in detail.roots:
        add(tree, root)
    return tree


def trace(trace_id: str, as_json: JsonFlag = False, data_dir: DataDir = DEFAULT_DATA_DIR) -> None:
    """A waterfall of one trace's spans across services, with their logs."""
    detail = run(data_dir, lambda eco: eco.logs.trace(trace_id))
    if detail is None:
        raise _not_found(f"trace {trace_id}")
    if as_json:
        emit_json(detail)
        return
    console.print(_waterfall(detail))


def explain(
    document_id: str, as_json: JsonFlag = False, data_dir: DataDir = DEFAULT_DATA_DIR
) -> None:
    """How exactly a document was made: its provenance joined with its trace and logs."""

    async def body(eco: Eco) -> dict[str, Any]:
        document = await eco.docs.get_document(document_id)
        provenance = await eco.docs.get_provenance(document_id)
        record = _jsonable(provenance)
        trace_id = record.get("trace_id") if isinstance(record, dict) else None
        detail = await eco.logs.trace(trace_id) if trace_id else None
        return {"document": document, "provenance": record, "trace": detail}

    result = run(data_dir, body)
    if as_json:
        emit_json(result)
        return
    doc, prov = result["document"], result["provenance"]
    console.print(f"[bold]{doc.title}[/] ({doc.id}, {doc.format}, v{doc.version})")
    run_info = prov.get("workflow_execution", {})
    console.print(
        f"made by run {run_info.get('execution_id')} of workflow "
        f"{run_info.get('workflow_name')} ({run_info.get('status')})"
    )
    user = prov.get("user_context", {})
    console.print(f"asked by {user.get('user_id')}: {user.get('query')!r}")
    table = Table(title="services called")
    for column in ("service", "operation", "status", "ms"):
        table.add_column(column)
    for call in prov.get("services_chain", []):
        table.add_row(
            str(call.get("service")),
            str(call.get("operation")),
            str(call.get("status")),
            str(call.get("duration_ms")),
        )
    console.print(table)
    llm = prov.get("llm") or {}
    console.print(
        f"model {llm.get('provider')}/{llm.get('model')}: "
        f"{llm.get('tokens_in')} tokens in, {llm.get('tokens_out')} out"
    )
    console.print(f"content sha256 {prov.get('content_sha256')}")
    if result["trace"] is not None:
        console.print(_waterfall(result["trace"]))
    else:
        console.print(f"trace {prov.get('trace_id')} not (yet) in the log collector")
