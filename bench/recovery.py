"""Recovery under `eco up`'s supervisor: SIGKILL each process, time until it is back.

    uv run python bench/recovery.py [--rounds 3] [--lease-ttl 15] [--only redis ...]

Starts a detached `eco up` (private Redis with its ACL users, every service on a free port,
authentication on, with key material of its own) in a temporary directory. For Redis and
for each service, `--rounds` times: SIGKILL its process, then time (a) until the supervisor
has it running again and ready (a new pid, `ready` in `up.json`), (b) until every service
answers `/health/ready` again and (c) until the ecosystem answers a query again
(`POST /execute-query` returns a stored document). The query is made as a user,
`user:bench` with the "user" role, its token signed with the ecosystem's key; the run
acts for that user through a run grant from the issuer (discovery), so (c) includes
getting the grant and the run's delegated tokens again, and waits for discovery when
discovery is the one killed.
Medians are printed next to the yardsticks:

- a service is back within 2 x its own start time (spawn to ready, measured by the same
  supervisor when this run started it);
- Redis, plus every service ready again on it and a query answered, within one lease TTL.

Each kill is a fault of its own, not a crash loop: the supervisor is told a process is
stable after 2 s ready (`ECO_UP_RESTART_STABLE_S`), and each round waits that long, so
every restart takes the first backoff step. Exits 1 when a target is missed.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

import httpx
from orchestrator import USER_SCOPES

from eco_cli.testing import EcoUp
from eco_shared.auth import user_subject
from eco_shared.testing import wait_until

QUERY = "Create API documentation for the doc-store service"
STABLE_S = 2.0


def answered(eco: EcoUp) -> bool:
    """Whether the orchestrator answers a query of `user:bench` with a stored document."""
    auth = eco.auth("orchestrator", tuple(USER_SCOPES), subject=user_subject("bench"))
    try:
        response = httpx.post(
            f"{eco.url('orchestrator')}/execute-query",
            json={"query": QUERY, "format": "markdown", "user_id": "bench"},
            auth=auth,
            timeout=60,
        )
    except httpx.HTTPError:
        return False
    return response.status_code == 200 and bool(response.json().get("document_id"))


def one_kill(eco: EcoUp, name: str) -> tuple[float, float, float]:
    """Seconds from SIGKILL to (it is ready again, every service is, a query is answered)."""
    time.sleep(STABLE_S)
    wait_until(eco.all_ready, timeout_s=120, interval_s=0.2)
    started = time.monotonic()
    before = eco.kill(name)
    eco.wait_restarted(name, before)
    back = time.monotonic() - started
    wait_until(eco.all_ready, timeout_s=120, interval_s=0.1)
    everyone = time.monotonic() - started
    wait_until(lambda: answered(eco), timeout_s=120, interval_s=0.1)
    return back, everyone, time.monotonic() - started


def run(args: argparse.Namespace) -> bool:
    with tempfile.TemporaryDirectory(prefix="eco-bench-recovery-") as tmp:
        eco = EcoUp(
            Path(tmp),
            env={
                "ECO_DISCOVERY_DEFAULT_TTL_S": str(args.lease_ttl),
                "ECO_UP_RESTART_STABLE_S": str(STABLE_S),
                "ECO_LOG_LEVEL": "WARNING",
            },
        )
        try:
            eco.start()
            names = [n for n in eco.read()["processes"] if not args.only or n in args.only]
            start_s = {name: float(eco.process(name)["start_s"]) for name in names}
            wait_until(lambda: answered(eco), timeout_s=120)
            results = {name: [one_kill(eco, name) for _ in range(args.rounds)] for name in names}
        finally:
            eco.down()

    ttl = args.lease_ttl
    passed = True
    print(f"{args.rounds} SIGKILLs per process, medians; lease TTL {ttl:g} s")
    print(
        f"{'process':<14} {'start':>7} {'back':>7} {'target':>8} {'all ready':>9} {'query':>7}"
        "  result"
    )
    for name, rounds in results.items():
        back, everyone, answer = (statistics.median(r[i] for r in rounds) for i in range(3))
        if name == "redis":
            target, measured, label = ttl, answer, "query <= TTL"
        else:
            target, measured, label = 2 * start_s[name], back, "back <= 2 x start"
        ok = measured <= target
        passed &= ok
        print(
            f"{name:<14} {start_s[name]:6.2f}s {back:6.2f}s {target:7.2f}s {everyone:8.2f}s"
            f" {answer:6.2f}s"
            f"  {'PASS' if ok else 'FAIL'} ({label})"
        )
    print(f"result: {'PASS' if passed else 'FAIL'}")
    return passed


def main() -> None:
    parser = argparse.ArgumentParser(description="Time to recover from a SIGKILL under eco up.")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--lease-ttl", type=float, default=15.0, help="Discovery's default.")
    parser.add_argument("--only", nargs="*", help="Only these processes (e.g. redis).")
    sys.exit(0 if run(parser.parse_args()) else 1)


if __name__ == "__main__":
    main()
