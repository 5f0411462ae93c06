"""Variations: candidate rewrites of a version, written by a model through the LLM gateway.

The request asks for a JSON object `{"variations": [<template>, ...]}` (JSON mode, not
cached). Every candidate must be a usable template: the same syntax, the same variables
as the original (no new, none dropped), no syntax or size problem, not the original
itself. Any unusable answer (the gateway's offline provider, which writes no free text,
answers every free-form request with a description of it) is a 502 and nothing is stored;
a usable one is stored as unlabelled versions with `origin: {kind: variation, of_version,
model}`, which `latest` does not follow and nothing promotes but a label move.
"""

from __future__ import annotations

import json
from typing import Any

from eco_prompt_store.service._base import log
from eco_prompt_store.service._prompts import PromptOps
from eco_shared.adapters import AdapterError
from eco_shared.adapters.llm_gateway import LlmGatewayAdapter
from eco_shared.auth import Principal
from eco_shared.directory import ServiceNotFoundError
from eco_shared.http import ServiceCallError
from eco_shared.models.prompt_experiments import VariationList, VariationRequest
from eco_shared.models.prompt_store import PromptVersion, PromptVersionCreate
from eco_shared.problems import ProblemError, Unavailable
from eco_shared.prompts import template

_SYNTAX_RULES = {
    "mustache": "placeholders are written {{ name }}",
    "jinja2": "it is a Jinja2 template: keep every {{ name }} and every {% ... %} block valid",
    "fstring": "placeholders are written {name}; a literal brace is {{ or }}",
}
_ERRORS = frozenset({"syntax_error", "too_large", "invalid_chat"})


class UnusableAnswer(ProblemError):
    """502: the model's answer is not `count` usable rewrites; nothing was stored."""

    def __init__(self, detail: str, **ext: Any) -> None:
        super().__init__(502, detail, title="Unusable model answer", **ext)


def rewrite_messages(
    source: PromptVersion, kind: str, count: int, instruction: str | None
) -> list[dict[str, str]]:
    """The chat request for `count` rewrites of `source`."""
    names = sorted(template.variables_in(source.template, source.syntax, kind=kind))  # type: ignore[arg-type]
    shape = (
        "each variation is a JSON array of {role, content} messages, as a string"
        if kind == "chat"
        else "each variation is the whole rewritten template, as a string"
    )
    system = (
        "You rewrite prompt templates. Answer with one JSON object and nothing else: "
        f'{{"variations": [...]}} with exactly {count} different rewrites of the template '
        f"the user sends; {shape}. Keep its purpose and every variable: "
        f"{', '.join(names) if names else '(none)'}; add no other. The template syntax is "
        f"{source.syntax}: {_SYNTAX_RULES[source.syntax]}."
    )
    if instruction:
        system += f" How to rewrite: {instruction}"
    return [{"role": "system", "content": system}, {"role": "user", "content": source.template}]


def _as_text(candidate: Any, kind: str) -> str | None:
    if isinstance(candidate, str):
        return candidate
    if kind == "chat" and isinstance(candidate, list):
        return json.dumps(candidate, ensure_ascii=False)
    return None


def usable_rewrites(content: str, source: PromptVersion, kind: str, count: int) -> list[str]:
    """The answer's `count` rewrites, each checked; `UnusableAnswer` names the first flaw."""
    try:
        answer = json.loads(content)
    except ValueError:
        raise UnusableAnswer("the model did not answer with JSON") from None
    found = answer.get("variations") if isinstance(answer, dict) else None
    if not isinstance(found, list):
        keys = sorted(answer)[:10] if isinstance(answer, dict) else type(answer).__name__
        raise UnusableAnswer(f"the answer holds no `variations` list (it has {keys})")
    wanted = template.variables_in(source.template, source.syntax, kind=kind)  # type: ignore[arg-type]
    rewrites: list[str] = []
    for i, candidate in enumerate(found[:count]):
        text = _as_text(candidate, kind)
        if not text or not text.strip():
            raise UnusableAnswer(f"variation {i} is not a template text")
        if text == source.template or text in rewrites:
            raise UnusableAnswer(f"variation {i} repeats the original or another variation")
        problems = template.lint(text, source.syntax, None, kind=kind)  # type: ignore[arg-type]
        errors = [p for p in problems if p["code"] in _ERRORS]
        if errors:
            raise UnusableAnswer(f"variation {i}: {errors[0]['message']}", problems=errors)
        used = template.variables_in(text, source.syntax, kind=kind)  # type: ignore[arg-type]
        if used != wanted:
            missing, extra = sorted(wanted - used), sorted(used - wanted)
            raise UnusableAnswer(
                f"variation {i} changes the variables (missing {missing}, new {extra})"
            )
        rewrites.append(text)
    if len(rewrites) < count:
        raise UnusableAnswer(f"the answer holds {len(rewrites)} variations, not {count}")
    return rewrites


class VariationOps(PromptOps):
    """Generate, check and store rewrites of a version."""

    async def variations(
        self,
        caller: Principal,
        name: str,
        number: int,
        body: VariationRequest,
        gateway: LlmGatewayAdapter,
    ) -> VariationList:
        async with self.engine.connect() as conn:
            prompt = await self._prompt(conn, name)
            source = await self._version_view(conn, await self._version(conn, prompt, number))
        messages = rewrite_messages(source, prompt.kind, body.count, body.instruction)
        try:
            answer = await gateway.chat(
                messages, model=body.model, json_mode=True, temperature=0.9, cache=False
            )
        except AdapterError as exc:
            if exc.status in (400, 404):  # the caller's model name or parameters
                raise ProblemError(
                    exc.status, f"The gateway refused the request: {exc}", title="Gateway refused"
                ) from None
            raise ProblemError(
                502, f"The LLM gateway answered {exc.status}: {exc}", title="Gateway failed"
            ) from None
        except (ServiceNotFoundError, ServiceCallError) as exc:
            raise Unavailable(f"The LLM gateway cannot be reached: {exc}") from None
        rewrites = usable_rewrites(answer.content, source, prompt.kind, body.count)
        model = answer.model if "/" in answer.model else f"{answer.provider}/{answer.model}"
        stored = []
        for text in rewrites:
            version, _ = await self.add_version(
                caller,
                name,
                PromptVersionCreate(
                    template=text,
                    syntax=source.syntax,
                    variables=source.variables,
                    config=source.config,
                    message=f"variation of version {number} by {model}",
                    labels=[],
                ),
                origin={"kind": "variation", "of_version": number, "model": model},
                move_latest=False,
            )
            stored.append(version)
        log.info("variations_stored", name=name, of_version=number, count=len(stored), model=model)
        return VariationList(items=stored)
