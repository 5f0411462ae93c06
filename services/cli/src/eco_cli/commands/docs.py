"""`eco docs list|show|download|provenance`: documents in the doc store."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from eco_cli.commands._common import DEFAULT_DATA_DIR, DataDir, JsonFlag, console, emit_json, run

if TYPE_CHECKING:
    from eco_cli.client import Eco

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

    async def body(eco: Eco) -> tuple[Any, str]:
        from eco_cli.links import console_base

        found = await eco.docs.search_documents(q=q, format=format, page=page)
        # --json prints no links: no console lookup (a discovery call) for it
        return found, "" if as_json else await console_base(eco, data_dir)

    result, base = run(data_dir, body)
    if as_json:
        emit_json(result)
        return
    from rich.table import Table  # only for a human: --json does without

    from eco_cli.links import console_link

    table = Table(title=f"documents ({result.total})")
    for column in ("id", "title", "format", "version", "size", "created"):
        table.add_column(column)
    table.add_column("console", overflow="fold")
    for doc in result.items:
        table.add_row(
            doc.id,
            doc.title,
            doc.format,
            str(doc.version),
            f"{doc.size_bytes} B",
            doc.created_at.isoformat(timespec="seconds"),
            console_link(base, doc.id, "document"),
        )
    console().print(table)


@docs_app.command("show")
def docs_show(
    document_id: str,
    version: int | None = None,
    as_json: JsonFlag = False,
    data_dir: DataDir = DEFAULT_DATA_DIR,
) -> None:
    """A document's metadata and, for text formats, its content."""

    async def body(eco: Eco) -> dict[str, Any]:
        from eco_cli.links import console_base, console_link

        doc = await eco.docs.get_document(document_id, version)
        download = await eco.docs.download(document_id, version)
        text = None
        if doc.format != "pdf":
            text = download.content.decode("utf-8", errors="replace")
        link = console_link(await console_base(eco, data_dir), doc.id, "document")
        return {"document": doc, "content": text, "console_url": link}

    result = run(data_dir, body)
    if as_json:
        emit_json(result)
        return
    doc = result["document"]
    console().print(
        f"[bold]{doc.title}[/]  {doc.id} v{doc.version}/{doc.latest_version} {doc.format}"
    )
    console().print(f"console  {result['console_url']}", markup=False)
    content = result["content"]
    console().print(content if content is not None else "(binary: use download)")


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
