"""The prompts a run uses: resolved through the prompt client once, then pinned in its state.

The first time a run needs a prompt it asks the client (label `prompt_label`, the run's
owner as the experiment unit, else the run id) and keeps the answer, bytes and all, under
`pinned_prompts` in its LangGraph state; from then on the pin is used, so a resumed or
revised run renders exactly the bytes it started with even when the label moved meanwhile.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import Any

from eco_orchestrator.prompts import seeds
from eco_orchestrator.workflows._base import RunContext, RunState, ServiceFailure, new_key
from eco_shared.prompts import template
from eco_shared.prompts.client import PromptNotFound, PromptUnavailable


@dataclass(frozen=True, slots=True)
class PinnedPrompt:
    """A prompt as the run pinned it."""

    name: str
    version: int | None
    sha256: str
    text: str
    syntax: template.Syntax
    variables: dict[str, Any]
    label: str
    source: str
    experiment_id: str | None = None
    experiment_arm: str | None = None

    def update(self, rendered: str | None = None) -> dict[str, Any]:
        """The state update that pins this prompt and lists it in the provenance."""
        ref = {
            "name": self.name,
            "version": None if self.version is None else str(self.version),
            "sha256": self.sha256,
            "label": self.label,
            "source": self.source,
            "rendered_sha256": None
            if rendered is None
            else hashlib.sha256(rendered.encode()).hexdigest(),
            "experiment_id": self.experiment_id,
            "experiment_arm": self.experiment_arm,
        }
        return {"pinned_prompts": {self.name: asdict(self)}, "prompts": {self.name: ref}}

    def render(self, variables: Mapping[str, Any]) -> str:
        """The prompt rendered with those of `variables` it declares (its own template rules,
        never `str.format`); a template that needs a variable not given raises."""
        known = set(self.variables) or template.variables_in(self.text, self.syntax)
        given = {k: v for k, v in variables.items() if k in known}
        return template.render(self.text, self.syntax, given, self.variables or None)

    def json(self) -> dict[str, Any]:
        """The rendered prompt parsed as a JSON object (the task specs)."""
        try:
            data = json.loads(self.render({}))
        except (ValueError, template.TemplateError) as exc:
            raise ValueError(
                f"prompt {self.name} v{self.version} is not a JSON task: {exc}"
            ) from exc
        if not isinstance(data, dict):
            raise ValueError(f"prompt {self.name} v{self.version} is not a JSON object")
        return data


async def pinned(state: RunState, ctx: RunContext, name: str) -> PinnedPrompt:
    """The run's pin of `name`, or the label's prompt now (to be pinned by the node's update)."""
    pin = (state.get("pinned_prompts") or {}).get(name)
    if pin:
        return PinnedPrompt(**pin)
    label = ctx.settings.prompt_label
    if ctx.prompts is None:  # a context made without a client (a test of one node): seeds
        seed = seeds().get(name)
        if seed is None:
            raise ValueError(f"no prompt {name!r} is shipped")
        text, syntax, variables = seed.text, seed.syntax, dict(seed.variables)
        return PinnedPrompt(name, None, seed.sha256, text, syntax, variables, label, "seed")
    try:
        resolved = await ctx.prompts.resolve(
            name, label, unit_id=ctx.owner or ctx.run_id, run_id=ctx.run_id
        )
    except PromptUnavailable as exc:
        raise ServiceFailure(str(exc)) from exc
    except PromptNotFound as exc:
        raise ValueError(str(exc)) from exc
    return PinnedPrompt(
        name=resolved.name,
        version=resolved.version,
        sha256=resolved.sha256,
        text=resolved.text,
        syntax=resolved.syntax,
        variables=dict(resolved.variables),
        label=resolved.label,
        source=resolved.source,
        experiment_id=resolved.experiment_id,
        experiment_arm=resolved.experiment_arm,
    )


async def llm_task(
    ctx: RunContext, prompt: PinnedPrompt, text: str, **overrides: Any
) -> tuple[dict[str, Any], dict[str, Any]]:
    """Ask the LLM gateway for a structured task; return the answer and a state update
    (the prompt pinned, the model's usage)."""
    rendered = prompt.render({})
    spec = {**prompt.json(), **overrides}
    body = {
        "model": ctx.settings.llm_model,
        "messages": [
            {"role": "system", "content": json.dumps(spec)},
            {"role": "user", "content": text},
        ],
        "temperature": 0,
        "response_format": {"type": "json_object"},
    }
    reply = await ctx.call("llm-gateway", "POST", "/v1/chat/completions", body=body)
    try:
        content = reply["choices"][0]["message"]["content"]
        answer = json.loads(content)
    except (KeyError, IndexError, TypeError, ValueError) as exc:
        raise ServiceFailure(f"llm-gateway gave an unusable answer: {exc}") from exc
    if not isinstance(answer, dict):
        raise ServiceFailure("llm-gateway's answer is not a JSON object")
    eco = reply.get("eco") or {}
    usage = reply.get("usage") or {}
    llm = {
        "provider": eco.get("provider"),
        "model": eco.get("model") or reply.get("model"),
        "tokens_in": usage.get("prompt_tokens"),
        "tokens_out": usage.get("completion_tokens"),
        "task": spec.get("task"),
        "cache_hit": eco.get("cache_hit"),
    }
    return answer, prompt.update(rendered) | {"llm": {new_key(): llm}}
