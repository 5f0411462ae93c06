"""`eco prompts ...`: prompts in the prompt store (list, show, push, label, history, diff,
render) and its experiments (`eco prompts experiment ...`, in `prompt_experiments.py`).

A prompt is named as `NAME` (its `latest` version), `NAME@LABEL` or `NAME:VERSION`.
`push FILE` stores the file's bytes exactly as a new version (no newline translation, so
the version's sha256 is the file's): the prompt is `--name`, else the file name up to its
first dot; the syntax is `--syntax`, else the extension's (`.j2`, `.jinja`, `.jinja2`:
jinja2; `.fstring`: fstring; anything else: mustache); a `.json` file is a chat prompt (a
JSON array of `{role, content}` messages; `answer.j2.json` is a chat prompt in Jinja2).
Variables are declared explicitly with `--var-schema FILE.json` (`{name: {type,
description?, default?, required?}}`), never inferred from the text: an inferred schema
would declare every typo, and the store's lint (422, naming each undeclared variable) is
the check. A prompt that does not exist yet is created (`--kind`, `--description`, `--tag`).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import TYPE_CHECKING, Annotated, Any

import typer

from eco_cli.commands._common import (
    DEFAULT_DATA_DIR,
    DataDir,
    JsonFlag,
    console,
    emit_json,
    run,
)
from eco_cli.commands.prompt_experiments import experiment_app
from eco_cli.commands.prompt_push import push

if TYPE_CHECKING:
    from eco_cli.client import Eco
    from eco_shared.adapters.prompt_store import PromptVersion

prompts_app = typer.Typer(help="Prompts in the prompt store.", no_args_is_help=True)
prompts_app.add_typer(experiment_app, name="experiment")

LATEST = "latest"


@dataclass(frozen=True)
class Ref:
    """`NAME`, `NAME@LABEL` or `NAME:VERSION`."""

    name: str
    label: str | None = None
    version: int | None = None

    def __str__(self) -> str:
        if self.version is not None:
            return f"{self.name}:{self.version}"
        return f"{self.name}@{self.label or LATEST}"


def parse_ref(text: str) -> Ref:
    """A prompt reference from the command line."""
    if "@" in text:
        name, label = text.split("@", 1)
        if not name or not label:
            raise typer.BadParameter(f"{text!r}: expected NAME@LABEL")
        return Ref(name, label=label)
    if ":" in text:
        name, number = text.rsplit(":", 1)
        if not name or not number.isdigit():
            raise typer.BadParameter(f"{text!r}: expected NAME:VERSION (a number)")
        return Ref(name, version=int(number))
    if not text:
        raise typer.BadParameter("a prompt name is needed")
    return Ref(text)


async def version_of(eco: Eco, ref: Ref) -> PromptVersion:
    """The version a reference names (a 404 when the prompt, version or label does not exist)."""
    if ref.version is not None:
        return await eco.prompts.get_version(ref.name, ref.version)
    return await eco.prompts.get_label(ref.name, ref.label or LATEST)


def _labels(labels: dict[str, int]) -> str:
    return ", ".join(f"{label}→{version}" for label, version in sorted(labels.items()))


@prompts_app.command("list")
def prompts_list(
    q: Annotated[str | None, typer.Option("--search", "-q", help="Full-text search.")] = None,
    tag: Annotated[str | None, typer.Option(help="Only prompts with this tag.")] = None,
    kind: Annotated[str | None, typer.Option(help="text or chat.")] = None,
    limit: int = 50,
    cursor: Annotated[str | None, typer.Option(help="The next page (next_cursor).")] = None,
    as_json: JsonFlag = False,
    data_dir: DataDir = DEFAULT_DATA_DIR,
) -> None:
    """List prompts, newest first."""
    page = run(
        data_dir,
        lambda eco: eco.prompts.list_prompts(
            q,
            tag=tag,
            kind=kind,
            cursor=cursor,
            limit=limit,  # type: ignore[arg-type]
        ),
    )
    if as_json:
        emit_json(page)
        return
    from rich.table import Table  # only for a human: --json does without

    table = Table(title="prompts")
    for column in ("name", "kind", "latest", "labels", "tags", "description"):
        table.add_column(column)
    for prompt in page.items:
        latest = "-" if prompt.latest_version is None else str(prompt.latest_version)
        table.add_row(
            prompt.name,
            prompt.kind,
            latest,
            _labels(prompt.labels),
            ", ".join(prompt.tags),
            prompt.description or "",
        )
    console().print(table)
    if page.next_cursor:
        console().print(f"more: --cursor {page.next_cursor}")


@prompts_app.command("show")
def prompts_show(
    ref: Annotated[str, typer.Argument(help="NAME, NAME@LABEL or NAME:VERSION")],
    as_json: JsonFlag = False,
    data_dir: DataDir = DEFAULT_DATA_DIR,
) -> None:
    """A prompt, its labels, and one version's template (default: the latest)."""
    wanted = parse_ref(ref)

    async def body(eco: Eco) -> dict[str, Any]:
        from eco_cli.links import console_base, console_link

        prompt = await eco.prompts.get_prompt(wanted.name)
        link = console_link(await console_base(eco, data_dir), prompt.name, "prompt")
        if wanted.label is None and wanted.version is None and prompt.latest_version is None:
            # created, nothing pushed yet
            return {"prompt": prompt, "version": None, "console_url": link}
        return {"prompt": prompt, "version": await version_of(eco, wanted), "console_url": link}

    result = run(data_dir, body)
    if as_json:
        emit_json(result)
        return
    prompt, version = result["prompt"], result["version"]
    out = console()
    out.print(f"[bold]{prompt.name}[/]  {prompt.kind}  {prompt.description or ''}")
    out.print(f"labels: {_labels(prompt.labels) or '-'}  tags: {', '.join(prompt.tags) or '-'}")
    out.print(f"console {result['console_url']}", markup=False)
    if version is None:
        out.print("(no versions yet: eco prompts push FILE)")
        return
    origin = f"  origin: {version.origin.kind}" if version.origin else ""
    out.print(
        f"v{version.version}  {version.syntax}  sha256 {version.sha256}  by {version.author}"
        f"  {version.created_at.isoformat(timespec='seconds')}{origin}"
    )
    if version.message:
        out.print(f"message: {version.message}")
    if version.variables:
        declared = ", ".join(f"{n}: {s.type}" for n, s in version.variables.items())
        out.print(f"variables: {declared}")
    out.rule()
    typer.echo(version.template)


prompts_app.command("push")(push)


def _expected(text: str | None) -> int | None | str:
    if text is None:
        return "current"
    if text.lower() in ("none", "null", "new"):
        return None
    if not text.isdigit():
        raise typer.BadParameter("a version number, or none", param_hint="--expected")
    return int(text)


@prompts_app.command("label")
def prompts_label(
    name: str,
    version: int,
    label: str,
    expected: Annotated[
        str | None,
        typer.Option(
            help="The label's version now (compare-and-swap); none: the label must not exist. "
            "Default: whatever it points at when the command reads it."
        ),
    ] = None,
    reason: Annotated[str | None, typer.Option(help="Why, for the history.")] = None,
    as_json: JsonFlag = False,
    data_dir: DataDir = DEFAULT_DATA_DIR,
) -> None:
    """Point LABEL of prompt NAME at VERSION (409 when someone moved it first)."""
    given = _expected(expected)

    async def body(eco: Eco) -> Any:
        from eco_shared.adapters import AdapterError

        expected_version = given
        if expected_version == "current":
            try:
                expected_version = (await eco.prompts.get_label(name, label)).version
            except AdapterError as exc:
                if exc.status != 404:
                    raise
                await eco.prompts.get_prompt(name)  # an unknown prompt is a 404, not a new label
                expected_version = None
        return await eco.prompts.move_label(
            name,
            label,
            version,
            expected_version,  # type: ignore[arg-type]
            reason,
        )

    moved = run(data_dir, body)
    if as_json:
        emit_json(moved)
        return
    before = "-" if moved.previous_version is None else f"v{moved.previous_version}"
    console().print(f"{moved.name}@{moved.label}: {before} → v{moved.version}  by {moved.moved_by}")


@prompts_app.command("history")
def prompts_history(
    name: str,
    label: Annotated[str | None, typer.Argument(help="A label: its moves.")] = None,
    limit: int = 50,
    cursor: Annotated[str | None, typer.Option(help="The next page (next_cursor).")] = None,
    as_json: JsonFlag = False,
    data_dir: DataDir = DEFAULT_DATA_DIR,
) -> None:
    """A prompt's versions, or one label's moves, newest first."""

    async def body(eco: Eco) -> Any:
        if label is None:
            return await eco.prompts.list_versions(name, cursor=cursor, limit=limit)
        return await eco.prompts.label_history(name, label, cursor=cursor, limit=limit)

    page = run(data_dir, body)
    if as_json:
        emit_json(page)
        return
    from rich.table import Table

    if label is None:
        table = Table(title=f"{name}: versions")
        for column in ("version", "sha256", "syntax", "labels", "author", "created", "message"):
            table.add_column(column)
        for v in page.items:
            table.add_row(
                str(v.version),
                v.sha256[:12],
                v.syntax,
                ", ".join(v.labels),
                v.author,
                v.created_at.isoformat(timespec="seconds"),
                v.message or (f"({v.origin.kind})" if v.origin else ""),
            )
    else:
        table = Table(title=f"{name}@{label}: moves")
        for column in ("at", "from", "to", "by", "reason"):
            table.add_column(column)
        for move in page.items:
            table.add_row(
                move.at.isoformat(timespec="seconds"),
                "-" if move.from_version is None else str(move.from_version),
                str(move.to_version),
                move.by,
                move.reason or "",
            )
    console().print(table)
    if page.next_cursor:
        console().print(f"more: --cursor {page.next_cursor}")


@prompts_app.command("diff")
def prompts_diff(
    name: str,
    a: Annotated[str, typer.Argument(help="A version number or a label.")],
    b: Annotated[str, typer.Argument(help="A version number or a label.")],
    as_json: JsonFlag = False,
    data_dir: DataDir = DEFAULT_DATA_DIR,
) -> None:
    """What changed from A to B: the template as a unified diff, and which parts changed."""

    async def number(eco: Eco, given: str) -> int:
        if given.isdigit():
            return int(given)
        return (await eco.prompts.get_label(name, given)).version

    async def body(eco: Eco) -> Any:
        return await eco.prompts.diff(name, await number(eco, a), await number(eco, b))

    diff = run(data_dir, body)
    if as_json:
        emit_json(diff)
        return
    changed = [part for part, yes in diff.changes.model_dump().items() if yes]
    out = console()
    out.print(
        f"{diff.name}: v{diff.from_version} → v{diff.to_version}"
        f"  changed: {', '.join(changed) or 'nothing'}"
    )
    styles = {"+": "green", "-": "red", "@": "cyan"}
    for line in diff.unified.splitlines():
        out.print(line, style=styles.get(line[:1]), markup=False, highlight=False)


def _variables(pairs: list[str], declared: dict[str, Any]) -> dict[str, Any]:
    """`k=v` pairs; a variable declared as anything but a string is read as JSON."""
    values: dict[str, Any] = {}
    for pair in pairs:
        key, sep, raw = pair.partition("=")
        if not sep or not key:
            raise typer.BadParameter(f"{pair!r}: expected NAME=VALUE", param_hint="--var")
        spec = declared.get(key)
        if spec is None or spec.type == "string":
            values[key] = raw
            continue
        try:
            values[key] = json.loads(raw)
        except ValueError:
            raise typer.BadParameter(
                f"{key} is declared {spec.type}: {raw!r} is not JSON", param_hint="--var"
            ) from None
    return values


@prompts_app.command("render")
def prompts_render(
    ref: Annotated[str, typer.Argument(help="NAME, NAME@LABEL or NAME:VERSION")],
    var: Annotated[
        list[str] | None, typer.Option("--var", "-v", help="NAME=VALUE (repeat).")
    ] = None,
    as_json: JsonFlag = False,
    data_dir: DataDir = DEFAULT_DATA_DIR,
) -> None:
    """A version rendered with these variables, by the store (422 names what is wrong)."""
    wanted = parse_ref(ref)

    async def body(eco: Eco) -> Any:
        version = await version_of(eco, wanted)
        variables = _variables(var or [], version.variables)
        return await eco.prompts.render(wanted.name, version.version, variables)

    rendered = run(data_dir, body)
    if as_json:
        emit_json(rendered)
        return
    text = rendered.rendered  # as it is, so `> FILE` holds the rendered bytes
    typer.echo(text, nl=not text.endswith("\n"))
