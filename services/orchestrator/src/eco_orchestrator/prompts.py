"""Versioned prompt and document templates, identified by name, version and sha256.

Files are `<name>.v<N>.<ext>` beside this module; provenance lists the exact bytes used.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from functools import cache
from importlib import resources
from typing import Any


@dataclass(frozen=True)
class Prompt:
    """One template file: its text and identity."""

    name: str
    version: str
    sha256: str
    text: str

    def ref(self) -> dict[str, str]:
        """The provenance entry for this template."""
        return {"name": self.name, "version": self.version, "sha256": self.sha256}

    def json(self) -> dict[str, Any]:
        """The template parsed as JSON (task specs)."""
        data: dict[str, Any] = json.loads(self.text)
        return data


@cache
def load_prompt(name: str, version: str = "1", ext: str = "json") -> Prompt:
    """Load `<name>.v<version>.<ext>` from the prompts package."""
    raw = resources.files("eco_orchestrator").joinpath(f"prompts/{name}.v{version}.{ext}")
    data = raw.read_bytes()
    return Prompt(name, f"v{version}", hashlib.sha256(data).hexdigest(), data.decode())
