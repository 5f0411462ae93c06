"""The prompts that ship in code: the seeds of the prompt store and the last resort.

Files are `<name>.v<N>.<ext>` in `prompts/` beside this module. A seed is the file's exact
text, so its sha256 is the sha256 of the file's bytes: the hash provenance records made
before the prompt store existed name. The `.md` document templates use the legacy `{name}`
placeholders (syntax `fstring`), the `.json` task specs none (`mustache`, no variables).
"""

from __future__ import annotations

import re
from functools import cache
from importlib import resources

from eco_shared.prompts.client import Seed
from eco_shared.prompts.template import Syntax, variables_in

_FILE = re.compile(r"^(?P<name>[a-z0-9][a-z0-9_.-]*?)\.v(?P<version>\d+)\.(?P<ext>md|json)$")
_SYNTAX: dict[str, Syntax] = {"md": "fstring", "json": "mustache"}


@cache
def seeds() -> dict[str, Seed]:
    """Every shipped prompt by name (the highest version of each)."""
    found: dict[str, tuple[int, Seed]] = {}
    folder = resources.files("eco_orchestrator").joinpath("prompts")
    for item in sorted(folder.iterdir(), key=lambda i: i.name):
        match = _FILE.match(item.name)
        if match is None:
            continue
        data = item.read_bytes()
        text = data.decode("utf-8")
        if text.encode("utf-8") != data:  # the seed must hash to the file's exact bytes
            raise ValueError(f"{item.name} does not round-trip through UTF-8")
        syntax = _SYNTAX[match["ext"]]
        version = int(match["version"])
        seed = Seed(
            name=match["name"],
            text=text,
            syntax=syntax,
            variables={v: {"type": "string"} for v in sorted(variables_in(text, syntax))},
            description=f"Shipped with eco-orchestrator as {item.name}.",
        )
        if match["name"] not in found or found[match["name"]][0] < version:
            found[match["name"]] = (version, seed)
    return {name: seed for name, (_, seed) in found.items()}
