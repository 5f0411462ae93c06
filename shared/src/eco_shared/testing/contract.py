"""The contract test: schemathesis, every check and every phase, against a running service.

A service's tests start it as a real process and call `assert_contract(url)`: the OpenAPI
document must describe exactly what the service does (every response declared, every
constraint in the schema, every datetime with an offset, correct `Allow` on 405). Checks
excluded for every service are named here with their reason (and in `docs/API.md`).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

PHASES = "examples,coverage,fuzzing,stateful"
# check -> why it does not apply to the ecosystem's services (docs/API.md repeats this)
EXCLUDED_CHECKS: Mapping[str, str] = {}


@dataclass(frozen=True)
class ContractRun:
    """What one schemathesis run printed, and whether it found nothing."""

    returncode: int
    output: str

    @property
    def passed(self) -> bool:
        return self.returncode == 0


def _schemathesis() -> str:
    beside = Path(sys.executable).parent / "schemathesis"
    found = str(beside) if beside.exists() else shutil.which("schemathesis")
    if found is None:
        raise RuntimeError("schemathesis is not installed (it is in the workspace's dev group)")
    return found


def run_contract(
    base_url: str,
    *,
    exclude_checks: Mapping[str, str] | None = None,
    exclude_paths: Mapping[str, str] | None = None,
    upstream_errors: Mapping[str, tuple[Sequence[int], str]] | None = None,
    rejections: Mapping[str, tuple[Sequence[int], str]] | None = None,
    max_examples: int = 30,
    seed: int = 20261201,
    headers: Mapping[str, str] | None = None,
    extra_args: Sequence[str] = (),
    timeout_s: float = 900,
) -> ContractRun:
    """Run schemathesis (all checks, all phases) against `base_url`'s own OpenAPI.

    `exclude_checks` and `exclude_paths` map each exclusion to its reason; a path is
    excluded only when schemathesis cannot drive it (a server-sent-events stream that stays
    open), and the service's own tests cover it instead. `upstream_errors` maps a path to
    the declared 5xx statuses it answers by design while an upstream the test leaves out is
    away (with the reason); any other 5xx there, and a 500 anywhere, still fails.
    `rejections` maps a path to the 4xx statuses (400, 422) with which it refuses
    schema-valid requests by a rule no JSON Schema can state (a template's own syntax, the
    variables of one stored version), with the reason; any other refusal still fails.
    """
    excluded = {**EXCLUDED_CHECKS, **(exclude_checks or {})}
    command = [
        _schemathesis(),
        "run",
        f"{base_url}/openapi.json",
        "--url",
        base_url,
        "--checks",
        "all",
        "--phases",
        PHASES,
        "--max-examples",
        str(max_examples),
        "--seed",
        str(seed),
        "--workers",
        "1",
        "--request-timeout",
        "30",
        "--no-color",
        "--generation-database",
        "none",
        "--suppress-health-check",
        "too_slow,filter_too_much",
        *extra_args,
    ]
    if excluded:
        command += ["--exclude-checks", ",".join(sorted(excluded))]
    for path in sorted(exclude_paths or {}):
        command += ["--exclude-path", path]
    for name, value in (headers or {}).items():
        command += ["-H", f"{name}: {value}"]
    env = {**os.environ, "NO_COLOR": "1", "SCHEMATHESIS_TELEMETRY": "false"}
    with tempfile.TemporaryDirectory() as tmp:
        config = Path(tmp) / "schemathesis.toml"
        config.write_text(_config(upstream_errors or {}, rejections or {}))
        command = [command[0], "--config-file", str(config), *command[1:]]
        done = subprocess.run(
            command, capture_output=True, text=True, timeout=timeout_s, env=env, check=False
        )
    return ContractRun(done.returncode, done.stdout + done.stderr)


def _config(
    upstream_errors: Mapping[str, tuple[Sequence[int], str]],
    rejections: Mapping[str, tuple[Sequence[int], str]] | None = None,
) -> str:
    blocks = []
    rejections = rejections or {}
    for path in sorted({*upstream_errors, *rejections}):
        lines = [f"[[operations]]\ninclude-path = {path!r}"]
        if path in upstream_errors:
            statuses = upstream_errors[path][0]
            if any(not 500 <= s <= 599 or s == 500 for s in statuses):
                raise ValueError(f"{path}: only declared 5xx other than 500 may be expected")
            expected = ", ".join(f'"{s}"' for s in ["2xx", "3xx", "4xx", *map(str, statuses)])
            lines.append(f"checks.not_a_server_error.expected-statuses = [{expected}]")
        if path in rejections:
            refused = rejections[path][0]
            if any(not 400 <= s <= 499 for s in refused):
                raise ValueError(f"{path}: only 4xx refusals may be accepted")
            accepted = ["2xx", "3xx", "401", "403", "404", "409", "429", "5xx", *map(str, refused)]
            expected = ", ".join(f'"{s}"' for s in accepted)
            lines.append(f"checks.positive_data_acceptance.expected-statuses = [{expected}]")
        blocks.append("\n".join(lines) + "\n")
    return "\n".join(blocks)


def assert_contract(base_url: str, **kwargs: object) -> None:
    """Fail with schemathesis's own report unless the run found no failure at all."""
    run = run_contract(base_url, **kwargs)  # type: ignore[arg-type]
    assert run.passed, f"schemathesis found contract failures at {base_url}:\n{run.output}"
