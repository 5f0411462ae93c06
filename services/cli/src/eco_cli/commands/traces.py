"""`eco trace` (a trace's waterfall) and `eco explain` (how a document was made)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from eco_cli.commands._common import (
    DEFAULT_DATA_DIR,
    DataDir,
    JsonFlag,
    console,
    emit_json,
    jsonable,
    not_found,
    run,
)

if TYPE_CHECKING:
    from rich.tree import Tree

    from eco_cli.client import Eco
    from eco_shared.adapters.log_collector import SpanOut, TraceDetail


def trace(trace_id: str, as_json: JsonFlag = False, data_dir: DataDir = DEFAULT_DATA_DIR) -> None:
    """A waterfall of one trace's spans across services, with their logs."""

    async def body(eco: Eco) -> tuple[TraceDetail | None, str]:
        from eco_cli.links import console_base

        return await eco.logs.trace(trace_id), await console_base(eco, data_dir)

    detail, base = run(data_dir, body)
    if detail is None:
        raise not_found(f"trace {trace_id}")
    if as_json:
        emit_json(detail)
        return
    from eco_cli.links import console_link

    console().print(waterfall(detail))
    console().print(f"console {console_link(base, trace_id, 'trace')}", markup=False)


def explain(
    document_id: str, as_json: JsonFlag = False, data_dir: DataDir = DEFAULT_DATA_DIR
) -> None:
    """How exactly a document was made: its provenance joined with its trace and logs."""

    async def body(eco: Eco) -> dict[str, Any]:
        from eco_cli.links import console_base, console_link

        document = await eco.docs.get_document(document_id)
        provenance = await eco.docs.get_provenance(document_id)
        record = jsonable(provenance)
        trace_id = record.get("trace_id") if isinstance(record, dict) else None
        detail = await eco.logs.trace(trace_id) if trace_id else None
        base = await console_base(eco, data_dir)
        return {
            "document": document,
            "provenance": record,
            "trace": detail,
            "console_url": console_link(base, document.id, "document"),
            "base": base,
        }

    result = run(data_dir, body)
    base = result.pop("base")
    if as_json:
        emit_json(result)
        return
    _print_explanation(result, base)


def _print_explanation(result: dict[str, Any], base: str) -> None:
    from rich.table import Table

    from eco_cli.links import console_link

    doc, prov = result["document"], result["provenance"]
    console().print(f"[bold]{doc.title}[/] ({doc.id}, {doc.format}, v{doc.version})")
    console().print(f"console {result['console_url']}", markup=False)
    run_info = prov.get("workflow_execution", {})
    console().print(
        f"made by run {run_info.get('execution_id')} of workflow "
        f"{run_info.get('workflow_name')} ({run_info.get('status')})"
    )
    if run_info.get("execution_id"):
        link = console_link(base, str(run_info["execution_id"]), "run")
        console().print(f"console {link}", markup=False)
    user = prov.get("user_context", {})
    console().print(f"asked by {user.get('user_id')}: {user.get('query')!r}")
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
    console().print(table)
    llm = prov.get("llm") or {}
    console().print(
        f"model {llm.get('provider')}/{llm.get('model')}: "
        f"{llm.get('tokens_in')} tokens in, {llm.get('tokens_out')} out"
    )
    console().print(f"content sha256 {prov.get('content_sha256')}")
    if result["trace"] is not None:
        console().print(waterfall(result["trace"]))
        link = console_link(base, result["trace"].trace_id, "trace")
        console().print(f"console {link}", markup=False)
    else:
        console().print(f"trace {prov.get('trace_id')} not (yet) in the log collector")


def waterfall(detail: TraceDetail) -> Tree:
    """A trace's spans as a tree: service, name, offset from the start, duration, logs."""
    from rich.tree import Tree

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
