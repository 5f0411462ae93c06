"""`/lint`: a template's problems before it is pushed (answers 200 even with problems)."""

from __future__ import annotations

from fastapi import APIRouter

from eco_prompt_store.deps import PromptStoreDep, Reader
from eco_shared.models.prompt_store import LintRequest, LintResult
from eco_shared.problems import problem_responses

router = APIRouter(prefix="/lint", tags=["lint"])


@router.post(
    "",
    summary="Lint a template: syntax, undeclared variables, unused declarations, size",
    responses=problem_responses(422),
)
async def lint_template(_caller: Reader, body: LintRequest, prompts: PromptStoreDep) -> LintResult:
    return await prompts.lint(body)
