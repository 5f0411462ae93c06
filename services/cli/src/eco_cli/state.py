"""The state file of a running `eco up` (`.eco/up.json`), read without loading the supervisor.

The supervisor writes it at each change; `eco status`, `eco logs` and every command that
finds discovery through a running `eco up` read it.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

STATE_FILE = "up.json"


def read_state(data_dir: Path) -> dict[str, Any] | None:
    """What a running `eco up` wrote about itself, or None when none is running."""
    path = data_dir.resolve() / STATE_FILE
    try:
        state: dict[str, Any] = json.loads(path.read_text())
    except (FileNotFoundError, ValueError):
        return None
    try:
        os.kill(int(state["pid"]), 0)
    except (ProcessLookupError, KeyError, ValueError):
        path.unlink(missing_ok=True)  # left by a supervisor that was killed
        return None
    except PermissionError:
        pass
    return state


def process_output(data_dir: Path, name: str) -> tuple[Path, dict[str, Any] | None] | None:
    """Where process `name`'s output is kept, with what `eco up` says of it (if it runs)."""
    state = read_state(data_dir)
    process = (state or {}).get("processes", {}).get(name)
    if process is not None:
        return Path(process["log"]), process
    root = data_dir.resolve()
    path = root / "redis" / "redis.log" if name == "redis" else root / "logs" / f"{name}.log"
    return (path, None) if path.exists() else None
