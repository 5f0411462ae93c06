"""The structured-task protocol: how callers ask for classification, entities, summaries.

A request carries the task as a system message whose content is a JSON object with a
`task` key, for example::

    {"task": "classify", "labels": ["search", "generate_document", "other"]}
    {"task": "extract_entities", "types": ["time_window", "service"], "now": "2025-01-01T00:00:00Z"}
    {"task": "summarize", "max_sentences": 3}
    {"task": "outline", "max_sections": 5}

The text to work on is `text` in the spec, else the last user message. Every provider
answers with a JSON object of the task's shape (`ANSWER_SHAPES`); the offline provider
computes it, remote providers are instructed to produce it and their answer is checked.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from eco_shared.problems import field_error

TaskName = Literal["classify", "extract_entities", "summarize", "outline"]

ANSWER_SHAPES: dict[str, str] = {
    "classify": '{"task": "classify", "label": "<exactly one of the labels>", '
    '"confidence": <0..1>, "scores": {"<label>": <0..1>, ...}}',
    "extract_entities": '{"task": "extract_entities", "entities": [{"type": "<date|datetime|'
    'time|time_window|service|id|format|email|url|log_level>", "text": "<as written>", '
    '"start": <char offset>, "end": <char offset>, "value": <normalised value or null>}]}',
    "summarize": '{"task": "summarize", "summary": "<sentences copied from the text>", '
    '"sentences": ["<sentence>", ...]}',
    "outline": '{"task": "outline", "title": "<title>", '
    '"sections": [{"heading": "<heading>", "points": ["<point>", ...]}]}',
}


class TaskSpecError(ValueError):
    """A system message announced a task but the spec is invalid."""

    def __init__(self, detail: str, errors: list[dict[str, Any]] | None = None) -> None:
        super().__init__(detail)
        self.detail = detail
        self.errors = errors or []


class LabelSpec(BaseModel):
    """A label of a classification task, optionally with a description and examples."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str = Field(min_length=1, max_length=100)
    description: str | None = Field(default=None, max_length=1000)
    examples: tuple[str, ...] = Field(default=(), max_length=20)


class TaskSpec(BaseModel):
    """One structured task, as carried in the JSON system message."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    task: TaskName
    labels: tuple[LabelSpec, ...] | None = Field(default=None, max_length=100)
    types: tuple[str, ...] | None = Field(default=None, max_length=20)
    services: tuple[str, ...] = Field(default=(), max_length=200)
    now: datetime | None = None
    max_sentences: int | None = Field(default=None, ge=1, le=50)
    max_sections: int | None = Field(default=None, ge=1, le=50)
    text: str | None = None

    @field_validator("labels", mode="before")
    @classmethod
    def _labels(cls, value: Any) -> Any:
        if isinstance(value, list):
            return [{"name": v} if isinstance(v, str) else v for v in value]
        return value

    @model_validator(mode="after")
    def _needs(self) -> TaskSpec:
        if self.task == "classify":
            if not self.labels or len(self.labels) < 2:
                raise ValueError("classify needs at least two labels")
            names = [label.name for label in self.labels]
            if len(set(names)) != len(names):
                raise ValueError("labels must be unique")
        return self

    @property
    def label_names(self) -> list[str]:
        return [label.name for label in self.labels or ()]


def find_task(messages: Sequence[tuple[str, str]]) -> tuple[TaskSpec | None, int | None]:
    """The task spec among (role, content) messages and its index, or (None, None)."""
    for index, (role, content) in enumerate(messages):
        if role not in ("system", "developer"):
            continue
        stripped = content.strip()
        if not stripped.startswith("{"):
            continue
        try:
            data = json.loads(stripped)
        except ValueError:
            continue
        if not isinstance(data, dict) or "task" not in data:
            continue
        try:
            return TaskSpec.model_validate(data), index
        except ValidationError as exc:
            errors = [
                field_error(
                    "body",
                    ".".join(["messages", str(index), "content", *map(str, e["loc"])]),
                    e["msg"],
                    type=e["type"],
                )
                for e in exc.errors()
            ]
            raise TaskSpecError(f"message {index} carries an invalid task spec", errors) from exc
    return None, None


def task_text(spec: TaskSpec, messages: Sequence[tuple[str, str]]) -> str:
    """The text a task works on: `text` in the spec, else the last user message."""
    if spec.text is not None:
        return spec.text
    for role, content in reversed(messages):
        if role == "user":
            return content
    return ""


def instruction(spec: TaskSpec) -> str:
    """The system instruction that asks a remote model for the task's JSON answer."""
    lines = [
        f"You are performing the structured task {spec.task!r} described by the JSON task "
        "spec in the conversation.",
    ]
    if spec.task == "classify":
        lines.append("Choose exactly one label from: " + json.dumps(spec.label_names) + ".")
    if spec.task in ("summarize", "outline"):
        lines.append("Use only sentences and facts from the given text.")
    lines.append(
        "Answer with a single JSON object and nothing else, of this shape: "
        + ANSWER_SHAPES[spec.task]
    )
    return "\n".join(lines)


JSON_INSTRUCTION = "Answer with a single JSON object and nothing else."


def check_answer(spec: TaskSpec | None, content: str) -> tuple[dict[str, Any], str]:
    """Parse a JSON answer, check the task's shape (ValueError if not); return it and its text."""
    text = content.strip()
    if text.startswith("```"):
        # Models like to fence JSON; the fence is not part of the answer.
        text = text.strip("`").removeprefix("json").strip()
    try:
        data = json.loads(text)
    except ValueError as exc:
        raise ValueError(f"the answer is not JSON: {exc}") from exc
    if not isinstance(data, dict):
        raise ValueError("the answer is JSON but not an object")
    if spec is None:
        return data, text
    if spec.task == "classify" and data.get("label") not in spec.label_names:
        raise ValueError("the answer's label is not one of the given labels")
    expected = {"extract_entities": "entities", "summarize": "summary", "outline": "sections"}
    key = expected.get(spec.task)
    if key is not None and key not in data:
        raise ValueError(f"the answer has no {key!r}")
    return data, text
