"""No secret reaches a log line: not on stdout, not in `eco.logs`, not in the collector.

A real process logs an API key, a bearer token (a real ES256 JWT) and a run grant through
the ecosystem's logging and shipper; the collector stores what arrives. A record written
straight to the stream, past any logging set-up, is redacted by the collector itself.
"""

from __future__ import annotations

import json
import secrets
import subprocess
import sys
from pathlib import Path
from typing import Any

from eco_shared.auth import new_key
from eco_shared.testing import ServiceProcess
from eco_shared.testing.auth import token

PUBLISHER = Path(__file__).with_name("log_collector_secret_publisher.py")


def _secrets() -> tuple[dict[str, str], list[str], list[str]]:
    """The secrets, the strings that must never appear, and the ids that should."""
    key = new_key()
    jwt = token("doc-store")
    grant_id = secrets.token_hex(12)
    grant = f"ecogrant_{grant_id}_{secrets.token_urlsafe(32)}"  # the issuer's shape
    never = [
        key.value,
        key.value[len(f"eco_{key.key_id}_") :],  # the secret part alone
        jwt,
        jwt.rsplit(".", 1)[1],  # the signature alone
        grant,
        grant[len(f"ecogrant_{grant_id}_") :],  # the whole secret (it may hold "_" itself)
    ]
    kept = [f"eco_{key.key_id}_…", f"ecogrant_{grant_id}_"]
    return {"api_key": key.value, "jwt": jwt, "grant": grant}, never, kept


def test_secrets_logged_by_a_service_are_redacted_on_stdout_and_in_the_collector(
    shared_collector: ServiceProcess, redis_url: str, module_prefix: str, lc: Any
) -> None:
    name = lc.unique("leaky")
    values, never, kept = _secrets()
    done = subprocess.run(
        [sys.executable, str(PUBLISHER), redis_url, module_prefix, name],
        input=json.dumps(values),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    stdout = [json.loads(line) for line in done.stdout.splitlines() if line.startswith("{")]
    assert {r["event"].split()[0] for r in stdout} >= {"calling", "exchanging"}

    stored = lc.wait_for_logs(shared_collector.url, 2, service=name)
    for secret in never:
        assert secret not in done.stdout + done.stderr
    for records in (stdout, stored):
        text = json.dumps(records, ensure_ascii=False)
        for secret in never:
            assert secret not in text
        for visible in kept:
            assert visible in text
    first = next(r for r in stored if r["message"].startswith("calling"))
    assert first["attributes"]["request_headers"] == {
        "Authorization": "[REDACTED]",
        "Accept": "application/json",
    }
    assert first["attributes"]["upstream_said"] == "rejected Authorization: Bearer [REDACTED]"
    assert first["attributes"]["bare_token"] == "[REDACTED]"


def test_the_collector_redacts_a_record_that_skipped_the_logging_set_up(
    shared_collector: ServiceProcess, redis_url: str, module_prefix: str, lc: Any
) -> None:
    name = lc.unique("raw")
    values, never, kept = _secrets()
    fields = lc.log_fields(
        f"raw record with {values['api_key']}",
        service=name,
        detail={"auth": values["jwt"], "note": f"grant {values['grant']}"},
    )
    lc.publish_logs(redis_url, module_prefix, [fields])
    [record] = lc.wait_for_logs(shared_collector.url, 1, service=name)
    text = json.dumps(record, ensure_ascii=False)
    for secret in never:
        assert secret not in text
    assert kept[0] in record["message"]
    assert record["attributes"]["detail"]["auth"] == "[REDACTED]"
