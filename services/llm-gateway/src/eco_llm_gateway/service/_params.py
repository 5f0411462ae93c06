"""OpenAI parameters a provider may not honour: which a request sets, which candidates can
honour them, the 400 that names one (unless `drop_params`), and the request schema that says
so (a request that sets one that no configured provider honours is valid only with
`drop_params: true`)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from eco_llm_gateway.models import Candidate
from eco_shared.models.llm_gateway import ChatCompletionRequest
from eco_shared.problems import BadRequest

UNSUPPORTED_PARAMETER = "urn:eco:problem:unsupported-parameter"

# parameter -> the JSON schema of its values that ask nothing of a provider
_NO_OP: dict[str, dict[str, Any]] = {
    "n": {"enum": [None, 1]},
    "seed": {"type": "null"},
    "presence_penalty": {"enum": [None, 0]},
    "frequency_penalty": {"enum": [None, 0]},
    "logit_bias": {"type": "null"},
    "logprobs": {"enum": [None, False]},
    "top_logprobs": {"type": "null"},
    "tools": {"type": "null"},
    "tool_choice": {"type": "null"},
    "parallel_tool_calls": {"type": "null"},
    "functions": {"type": "null"},
    "function_call": {"type": "null"},
    "response_format": {
        "anyOf": [
            {"type": "null"},
            {"type": "object", "properties": {"type": {"enum": ["text", "json_object"]}}},
        ]
    },
}
OPTIONAL_PARAMS: tuple[str, ...] = tuple(_NO_OP)


def requested(request: ChatCompletionRequest) -> tuple[str, ...]:
    """The optional parameters a request sets to something a provider must do."""
    found = []
    for name in OPTIONAL_PARAMS:
        value = getattr(request, name)
        if name == "response_format":
            asks = value is not None and value.type == "json_schema"
        else:
            asks = value is not None and value not in _NO_OP[name].get("enum", ())
        if asks:
            found.append(name)
    return tuple(found)


def missing(candidate: Candidate, params: Iterable[str]) -> list[str]:
    """The parameters `candidate`'s provider cannot honour."""
    return [p for p in params if p not in candidate.provider.honours]


def keep_honouring(
    request: ChatCompletionRequest, candidates: list[Candidate], reason: str
) -> tuple[list[Candidate], str]:
    """The candidates that honour every parameter set (all of them with `drop_params`)."""
    params = requested(request)
    if not params or request.drop_params:
        return candidates, reason
    able = [c for c in candidates if not missing(c, params)]
    if able:
        skipped = [c.label for c in candidates if c not in able]
        if skipped:
            reason += f"; skipped {', '.join(skipped)} (cannot honour {', '.join(params)})"
        return able, reason
    name = missing(candidates[0], params)[0]
    providers = ", ".join(dict.fromkeys(c.provider.name for c in candidates))
    raise BadRequest(
        f"The parameter {name!r} is not supported by {providers}; remove it, or send "
        "drop_params: true to have unsupported parameters dropped.",
        title="Unsupported parameter",
        type=UNSUPPORTED_PARAMETER,
        param=name,
        code="unsupported_parameter",
    )


def request_schema(
    schema: dict[str, Any],
    honoured: Iterable[str],
    *,
    max_messages: int,
    max_output_tokens: int,
    max_prompt_chars: int,
) -> None:
    """Put the configured limits in the request schema, and say which parameters only
    `drop_params: true` makes valid (those no configured provider honours)."""
    properties = schema["properties"]
    properties["messages"]["maxItems"] = max_messages
    for name in ("max_tokens", "max_completion_tokens"):
        for branch in properties[name].get("anyOf", [properties[name]]):
            if branch.get("type") == "integer":
                branch["maximum"] = max_output_tokens
    message = properties["messages"]["items"]
    message.setdefault("description", f"The prompt's text is at most {max_prompt_chars} chars.")
    never = [p for p in OPTIONAL_PARAMS if p not in set(honoured)]
    if never:
        schema["anyOf"] = [
            {"required": ["drop_params"], "properties": {"drop_params": {"const": True}}},
            {"properties": {name: _NO_OP[name] for name in never}},
        ]
