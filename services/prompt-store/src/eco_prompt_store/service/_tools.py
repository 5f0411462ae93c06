"""What is done with versions rather than to them: diff, render, lint."""

from __future__ import annotations

import difflib
import hashlib
from typing import Any

import anyio

from eco_prompt_store import repository as repo
from eco_prompt_store.service._base import ServiceBase, template_errors
from eco_shared.models.prompt_store import (
    Diff,
    DiffChanges,
    LintProblem,
    LintRequest,
    LintResult,
    Rendered,
)
from eco_shared.problems import ValidationProblem
from eco_shared.prompts import template


def _lines(value: Any) -> list[str]:
    return (
        repo.dumps(value).splitlines(keepends=True)
        if not isinstance(value, str)
        else (value.splitlines(keepends=True))
    )


class ToolOps(ServiceBase):
    """Diff two versions, render one with variables, lint a template before pushing it."""

    async def diff(self, name: str, from_version: int, to_version: int) -> Diff:
        async with self.engine.connect() as conn:
            prompt = await self._prompt(conn, name)
            a = await self._version(conn, prompt, from_version)
            b = await self._version(conn, prompt, to_version)
        unified = "".join(
            difflib.unified_diff(
                _lines(a.template),
                _lines(b.template),
                fromfile=f"{name}@{from_version}",
                tofile=f"{name}@{to_version}",
            )
        )
        changes = DiffChanges(
            template=a.template != b.template,
            variables=a.variables != b.variables,
            config=a.config != b.config,
            syntax=a.syntax != b.syntax,
        )
        return Diff(
            name=name,
            from_version=from_version,
            to_version=to_version,
            unified=unified,
            changes=changes,
        )

    async def render(self, name: str, number: int, variables: dict[str, Any]) -> Rendered:
        """The version rendered; 422 naming every missing, unknown or mistyped variable."""
        async with self.engine.connect() as conn:
            prompt = await self._prompt(conn, name)
            version = await self._version(conn, prompt, number)

        def run() -> str:
            return template.render(
                version.template,
                version.syntax,  # type: ignore[arg-type]
                variables,
                version.variables,
                kind=prompt.kind,  # type: ignore[arg-type]
            )

        try:
            # a Jinja template may take up to its time limit: not on the event loop
            rendered = await anyio.to_thread.run_sync(run)
        except template.TemplateError as exc:
            raise ValidationProblem(
                template_errors(exc.errors, where="variables"),
                f"Version {number} of {name!r} cannot be rendered: {exc.errors[0]['message']}",
                title="Render failed",
            ) from None
        return Rendered(
            name=name,
            version=number,
            sha256=version.sha256,
            rendered=rendered,
            rendered_sha256=hashlib.sha256(rendered.encode("utf-8")).hexdigest(),
        )

    async def lint(self, body: LintRequest) -> LintResult:
        variables = (
            {k: v.model_dump(exclude_unset=True) for k, v in body.variables.items()}
            if body.variables is not None
            else None
        )
        problems = template.lint(body.template, body.syntax, variables, kind=body.kind)
        return LintResult(problems=[LintProblem.model_validate(p) for p in problems])
