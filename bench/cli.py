"""The `eco` command's own cost: how fast it starts, and how fast `eco up` gets everything ready.

    uv run python bench/cli.py [--runs 7] [--up-rounds 1] [--skip-up | --skip-start]

(a) baseline: `python -c "import httpx, typer, rich"`, the least any CLI built on those
    three can start in (a subprocess, wall time).
(b) `eco services --json` against a real discovery (`ServiceProcess`, with this run's key
    material and Redis), authenticated as a user is: the admin API key in the key material
    (`ECO_AUTH_DIR`), exchanged at the issuer for a token; and `eco --help`. Runs alternate
    between (a) and (b) so a noisy neighbour hurts them alike; medians of `--runs`. Each of
    them over (a) is judged against the target 1.3.
(c) `eco up --detach` in a temporary directory (every service on a free port, its own
    private Redis and key material, as `eco_cli.testing.EcoUp` runs it): wall time from
    spawning it until every service answers `/health/ready`, against 2 x the slowest
    service's own start (spawn to ready, as the supervisor measured it in `up.json`).

Exits 1 when a target is missed.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Mapping
from pathlib import Path

from _harness import cleanup, key_material, redis_url

from eco_cli.testing import EcoUp
from eco_shared.testing import ServiceProcess, wait_until

START_TARGET = 1.3  # eco command / bare imports
UP_TARGET = 2.0  # eco up to all ready / slowest service's own start
BASELINE = [sys.executable, "-c", "import httpx, typer, rich"]


def eco_command() -> list[str]:
    """`eco` as a user runs it: the installed console script (else `python -m eco_cli.main`)."""
    script = Path(sys.executable).parent / "eco"
    return [str(script)] if script.exists() else [sys.executable, "-m", "eco_cli.main"]


def wall(command: list[str], env: Mapping[str, str]) -> float:
    """Seconds `command` takes to run to its end (it must succeed)."""
    started = time.perf_counter()
    done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=120)
    elapsed = time.perf_counter() - started
    if done.returncode != 0:
        raise RuntimeError(f"{command} exited {done.returncode}:\n{done.stdout}\n{done.stderr}")
    return elapsed


def cli_env(discovery: str, data_dir: Path) -> dict[str, str]:
    """The environment of a user on this machine: no ECO_ settings but where things are."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("ECO_")}
    # Python's default, which this sandbox turns off: without it every run compiles every
    # module it imports from source, the baseline's and ours alike (uv installs no .pyc)
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    env["ECO_DISCOVERY_URL"] = discovery
    env["ECO_DATA_DIR"] = str(data_dir)
    env["ECO_AUTH_DIR"] = os.environ["ECO_AUTH_DIR"]  # where the admin key is (key_material)
    return env


def start_figures(runs: int) -> dict[str, float]:
    """Median wall seconds of (a) the bare imports, (b) `eco services --json`, `eco --help`."""
    eco = eco_command()
    prefix = f"bench-cli-{uuid.uuid4().hex[:8]}:"
    with key_material(), redis_url() as url, tempfile.TemporaryDirectory() as tmp:
        server = ServiceProcess(
            "eco_discovery.main:create_app",
            env={"ECO_REDIS_URL": url, "ECO_REDIS_PREFIX": prefix, "ECO_LOG_LEVEL": "WARNING"},
            log_dir=Path(tmp),
            port_env="ECO_DISCOVERY_PORT",
        )
        try:
            server.start(timeout_s=90)
            env = cli_env(server.url, Path(tmp))
            listed = subprocess.run(
                [*eco, "services", "--json"], env=env, capture_output=True, text=True, timeout=120
            )
            assert listed.returncode == 0, listed.stdout + listed.stderr
            names = [row["name"] for row in json.loads(listed.stdout)]
            print(f"eco services --json lists {names}")
            commands = {
                "baseline": BASELINE,
                "services": [*eco, "services", "--json"],
                "help": [*eco, "--help"],
            }
            times: dict[str, list[float]] = {name: [] for name in commands}
            for command in commands.values():  # warm the page cache
                wall(command, env)
            for _ in range(runs):
                for name, command in commands.items():
                    times[name].append(wall(command, env))
        finally:
            server.terminate()
            cleanup(url, prefix)
    return {name: statistics.median(values) for name, values in times.items()}


def up_figures() -> tuple[float, dict[str, float]]:
    """Seconds from spawning `eco up --detach` to every service ready; each one's start_s."""
    with tempfile.TemporaryDirectory(prefix="eco-bench-cli-") as tmp:
        eco = EcoUp(Path(tmp), env={"ECO_LOG_LEVEL": "WARNING"})
        started = time.perf_counter()
        try:
            eco.start()
            wait_until(eco.all_ready, timeout_s=120, interval_s=0.05)
            elapsed = time.perf_counter() - started
            processes = eco.read()["processes"]
        finally:
            eco.down()
    starts = {
        name: float(p["start_s"]) for name, p in processes.items() if p.get("start_s") is not None
    }
    return elapsed, starts


def judged(label: str, value: float, target: float, unit: str = "") -> bool:
    ok = value <= target
    print(f"{label:<40} {value:7.2f}{unit} (target <= {target:.2f}{unit}) {_verdict(ok)}")
    return ok


def _verdict(ok: bool) -> str:
    return "PASS" if ok else "FAIL"


def run(args: argparse.Namespace) -> bool:
    passed = True
    if not args.skip_start:
        figures = start_figures(args.runs)
        base = figures["baseline"]
        print(f"medians of {args.runs} runs each, alternating")
        print(f"(a) python -c 'import httpx, typer, rich' {base:7.3f} s")
        print(f"(b) eco services --json                   {figures['services']:7.3f} s")
        print(f"    eco --help                            {figures['help']:7.3f} s")
        services = figures["services"] / base
        passed &= judged("ratio eco services --json / (a)", services, START_TARGET)
        passed &= judged("ratio eco --help / (a)", figures["help"] / base, START_TARGET)
    if not args.skip_up:
        rounds = [up_figures() for _ in range(args.up_rounds)]
        for index, (elapsed, starts) in enumerate(rounds, 1):
            shown = ", ".join(f"{name} {s:.2f}s" for name, s in starts.items())
            print(f"(c) round {index}: eco up to all ready {elapsed:.2f} s; starts: {shown}")
        elapsed = statistics.median(r[0] for r in rounds)
        slowest = statistics.median(max(s for n, s in r[1].items() if n != "redis") for r in rounds)
        print(f"    slowest service's own start           {slowest:7.2f} s")
        print(f"    eco up to all ready                   {elapsed:7.2f} s")
        passed &= judged("ratio eco up / slowest start", elapsed / slowest, UP_TARGET)
    print(f"result: {_verdict(passed)}")
    return passed


def main() -> None:
    parser = argparse.ArgumentParser(description="eco's start-up time and eco up to ready.")
    parser.add_argument("--runs", type=int, default=7, help="Runs of each command in (a), (b).")
    parser.add_argument("--up-rounds", type=int, default=1, help="Times to run (c).")
    parser.add_argument("--skip-up", action="store_true", help="Only (a) and (b).")
    parser.add_argument("--skip-start", action="store_true", help="Only (c).")
    sys.exit(0 if run(parser.parse_args()) else 1)


if __name__ == "__main__":
    main()
