"""`eco prompts push FILE`: a file's bytes as a new version of a prompt (the rules are in
`prompts.py`'s docstring and the CLI's README)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from eco_cli.commands._common import (
    DEFAULT_DATA_DIR,
    EXIT_REFUSED,
    DataDir,
    JsonFlag,
    console,
    emit_json,
    run,
)

if TYPE_CHECKING:
    from eco_cli.client import Eco

SUFFIX_SYNTAX = {".j2": "jinja2", ".jinja": "jinja2", ".jinja2": "jinja2", ".fstring": "fstring"}
SYNTAXES = ("mustache", "jinja2", "fstring")
WARNINGS = {"unused_variable"}  # lint problems that do not stop a push


def _syntax_and_kind(path: Path) -> tuple[str, str]:
    suffixes = [s.lower() for s in path.suffixes]
    kind = "chat" if suffixes and suffixes[-1] == ".json" else "text"
    if kind == "chat":
        suffixes = suffixes[:-1]
    syntax = SUFFIX_SYNTAX.get(suffixes[-1], "mustache") if suffixes else "mustache"
    return syntax, kind


def _json_file(path: Path | None, what: str) -> dict[str, Any] | None:
    if path is None:
        return None
    try:
        value = json.loads(path.read_bytes())
    except (OSError, ValueError) as exc:
        raise typer.BadParameter(f"{path}: not a JSON file ({exc})", param_hint=what) from None
    if not isinstance(value, dict):
        raise typer.BadParameter(f"{path}: expected a JSON object", param_hint=what)
    return value


def push(
    file: Annotated[Path, typer.Argument(exists=True, dir_okay=False, readable=True)],
    name: Annotated[str | None, typer.Option(help="The prompt (default: from the file).")] = None,
    syntax: Annotated[
        str | None, typer.Option(help="mustache, jinja2 or fstring (default: from the file).")
    ] = None,
    message: Annotated[str | None, typer.Option("--message", "-m")] = None,
    label: Annotated[
        list[str] | None, typer.Option("--label", "-l", help="Point this label at it (repeat).")
    ] = None,
    var_schema: Annotated[
        Path | None, typer.Option(help="The declared variables (a JSON object).")
    ] = None,
    config: Annotated[Path | None, typer.Option(help="Model settings (a JSON object).")] = None,
    kind: Annotated[str | None, typer.Option(help="text or chat, for a new prompt.")] = None,
    description: Annotated[str | None, typer.Option(help="For a new prompt.")] = None,
    tag: Annotated[list[str] | None, typer.Option(help="For a new prompt (repeat).")] = None,
    as_json: JsonFlag = False,
    data_dir: DataDir = DEFAULT_DATA_DIR,
) -> None:
    """Store a file as a new version (the same bytes again answer the existing version)."""
    try:
        template = file.read_bytes().decode("utf-8")
    except UnicodeDecodeError:
        raise typer.BadParameter(f"{file} is not UTF-8 text", param_hint="FILE") from None
    file_syntax, file_kind = _syntax_and_kind(file)
    if syntax is not None and syntax not in SYNTAXES:
        raise typer.BadParameter(f"one of {', '.join(SYNTAXES)}", param_hint="--syntax")
    prompt_name = name or file.name.split(".", 1)[0]
    version_body: dict[str, Any] = {"template": template, "syntax": syntax or file_syntax}
    for key, value in (
        ("variables", _json_file(var_schema, "--var-schema")),
        ("config", _json_file(config, "--config")),
        ("message", message),
        ("labels", label),
    ):
        if value is not None:
            version_body[key] = value

    async def body(eco: Eco) -> dict[str, Any]:
        from eco_cli.links import console_base, console_link
        from eco_shared.adapters import AdapterError

        try:
            prompt = await eco.prompts.get_prompt(prompt_name)
        except AdapterError as exc:
            if exc.status != 404:
                raise
            prompt = None
        prompt_kind = prompt.kind if prompt is not None else (kind or file_kind)
        # linted first, so a template the store would refuse leaves no empty prompt behind
        linted = await eco.prompts.lint(
            template,
            version_body["syntax"],
            version_body.get("variables", {}),
            kind=prompt_kind,  # type: ignore[arg-type]
        )
        problems = [p.model_dump(exclude_none=True) for p in linted.problems]
        refused = [p for p in problems if p["code"] not in WARNINGS]
        if refused:
            return {"refused": refused, "warnings": problems}
        created = prompt is None
        if prompt is None:
            prompt = await eco.prompts.create_prompt(
                prompt_name,
                kind=prompt_kind,  # type: ignore[arg-type]
                description=description,
                tags=tag,
            )
        version = await eco.prompts.add_version(prompt_name, version_body)
        # versions only grow: one at or below the latest before is the existing one
        new = prompt.latest_version is None or version.version > prompt.latest_version
        link = console_link(await console_base(eco, data_dir), version.name, "prompt")
        return {
            "created_prompt": created,
            "new_version": new,
            "version": version,
            "console_url": link,
        }

    result = run(data_dir, body)
    if "refused" in result:
        for problem in result["refused"]:
            where = f" (line {problem['line']})" if "line" in problem else ""
            typer.secho(f"{problem['code']}: {problem['message']}{where}", fg="red", err=True)
        typer.secho(f"nothing stored: {file} has problems", fg="red", err=True)
        undeclared = any(p["code"] == "undeclared_variable" for p in result["refused"])
        if undeclared and var_schema is None:
            typer.secho("declare its variables with --var-schema FILE.json", fg="red", err=True)
        raise typer.Exit(EXIT_REFUSED)
    if as_json:
        emit_json(result)
        return
    version = result["version"]
    if result["created_prompt"]:
        console().print(f"created prompt {version.name}")
    said = "stored" if result["new_version"] else "already stored as"
    console().print(
        f"{said} {version.name}:{version.version}  sha256 {version.sha256}"
        f"  labels: {', '.join(version.labels) or '-'}"
    )
    console().print(f"console {result['console_url']}", markup=False)
