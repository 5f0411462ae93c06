"""What both provider doubles share: their keys, the scripted behaviours, the "model"."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field

from eco_llm_gateway.protocol import TaskSpec
from eco_llm_gateway.providers.offline import answer_task

OPENAI_KEY = "sk-test-" + "a1b2c3d4e5f6a7b8c9d0e1f2"
ANTHROPIC_KEY = "sk-ant-test-" + "f1e2d3c4b5a6f7e8d9c0b1a2"


@dataclass
class Behavior:
    """What the double does with the next chat request."""

    kind: str = (
        "ok"  # ok | status | garbage | bad_shape | slow | stream_error | truncated | not_json
    )
    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)
    delay_s: float = 0.0
    message: str = "scripted failure"


def _task_in(texts: list[str]) -> TaskSpec | None:
    for text in texts:
        for part in text.split("\n\n"):
            part = part.strip()
            if part.startswith("{"):
                try:
                    data = json.loads(part)
                except ValueError:
                    continue
                if isinstance(data, dict) and "task" in data:
                    return TaskSpec.model_validate(data)
    return None


def model_answer(system: list[str], last_user: str, max_tokens: int | None) -> tuple[str, bool]:
    """What the double's 'model' says: the task's JSON when asked for one, else an echo."""
    task = _task_in(system)
    if task is not None:
        return json.dumps(answer_task(task, task.text or last_user)), False
    words = f"Echo from the double: {last_user}".split()
    if max_tokens is not None and len(words) > max_tokens:
        return " ".join(words[:max_tokens]), True
    return " ".join(words), False


def pieces(text: str) -> list[str]:
    parts = re.findall(r"\S+\s*", text)
    return ["".join(parts[i : i + 3]) for i in range(0, len(parts), 3)] or [""]
