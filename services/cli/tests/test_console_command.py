"""`eco console [ID]` against a real discovery (its own process on the test Redis) where a
console instance is registered: the URL printed is that instance's, with `/go/<ID>` for an
id; without a reachable discovery it is the default. Against the same discovery, the read
path of `eco services --json`: what it answers and what it loads to answer it."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import redis

from eco_shared.redis_server import free_port
from eco_shared.testing.auth import AUTH_DIR_ENV, bearer, session_material
from eco_shared.testing.processes import ServiceProcess

pytestmark = [pytest.mark.slow, pytest.mark.timeout(300)]

ECO = [sys.executable, "-m", "eco_cli.main", "console"]
# nothing listens there: discovery registers it, its health probe fails, the URL stays
CONSOLE_URL = f"http://127.0.0.1:{free_port()}"


def _env(data_dir: Path, discovery_url: str) -> dict[str, str]:
    key = session_material().admin_key()
    assert key is not None
    env = {k: v for k, v in os.environ.items() if not k.startswith("ECO_")}
    return env | {
        "ECO_DISCOVERY_URL": discovery_url,
        "ECO_API_KEY": key.value,
        "ECO_DATA_DIR": str(data_dir),
    }


def _eco(env: dict[str, str], *args: str) -> str:
    done = subprocess.run([*ECO, *args], env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout


@pytest.fixture(scope="module")
def discovery(redis_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A real discovery with a `console` instance registered in it; its URL."""
    root = tmp_path_factory.mktemp("console-cli")
    prefix = f"test-{uuid.uuid4().hex[:12]}:"
    process = ServiceProcess(
        "eco_discovery.main:create_app",
        env={
            "ECO_REDIS_URL": redis_url,
            "ECO_REDIS_PREFIX": prefix,
            "ECO_DATA_DIR": str(root),
            "ECO_ENVIRONMENT": "test",
            "ECO_LOG_FORMAT": "json",
            "ECO_OTLP_ENDPOINT": "none",
            "ECO_DISCOVERY_REGISTER_WITH_DISCOVERY": "false",
            AUTH_DIR_ENV: str(session_material().directory),
        },
        port_env="ECO_DISCOVERY_PORT",
        ready_path="/health/ready",
        log_dir=root,
    )
    try:
        process.start()
        registered = httpx.post(
            f"{process.url}/instances",
            json={
                "name": "console",
                "instance_id": "console-test-1",
                "base_url": CONSOLE_URL + "/",
                "ttl_s": 300,
            },
            headers=bearer("discovery"),
            timeout=10,
        )
        assert registered.status_code in (200, 201), registered.text
        yield process.url
    finally:
        process.terminate()
        client = redis.Redis.from_url(redis_url)
        keys = list(client.scan_iter(f"{prefix}*"))
        if keys:
            client.delete(*keys)
        client.close()


def test_prints_the_registered_console_with_and_without_an_id(
    discovery: str, tmp_path: Path
) -> None:
    env = _env(tmp_path, discovery)
    assert _eco(env, "--print") == f"{CONSOLE_URL}\n"
    assert _eco(env, "0123abcd", "--print") == f"{CONSOLE_URL}/go/0123abcd\n"
    # an id is one path segment, whatever it holds
    assert _eco(env, "a/b?c", "--print") == f"{CONSOLE_URL}/go/a%2Fb%3Fc\n"
    assert json.loads(_eco(env, "run-1", "--json")) == {"url": f"{CONSOLE_URL}/go/run-1"}


def test_without_discovery_the_default_console(tmp_path: Path) -> None:
    env = _env(tmp_path, f"http://127.0.0.1:{free_port()}")
    assert _eco(env, "--print") == "http://127.0.0.1:5030\n"
    assert json.loads(_eco(env, "doc-1", "--json")) == {"url": "http://127.0.0.1:5030/go/doc-1"}


def test_without_discovery_the_console_eco_up_wrote_down(tmp_path: Path) -> None:
    env = _env(tmp_path, f"http://127.0.0.1:{free_port()}")
    # a running `eco up` (this test's own pid keeps the state file alive) at another port
    state = {"pid": os.getpid(), "services": {"console": "http://127.0.0.1:5999/"}}
    (tmp_path / "up.json").write_text(json.dumps(state))
    assert _eco(env, "--print") == "http://127.0.0.1:5999\n"
    assert _eco(env, "r-1", "--print") == "http://127.0.0.1:5999/go/r-1\n"


def test_an_ids_console_link_is_its_page_or_go() -> None:
    from eco_cli.links import console_link

    base = "http://console.test:5030/"
    assert console_link(base, "r-1", "run") == "http://console.test:5030/runs/r-1"
    assert console_link(base, "d-1", "document") == "http://console.test:5030/documents/d-1"
    assert console_link(base, "abc", "trace") == "http://console.test:5030/traces/abc"
    assert console_link(base, "greet", "prompt") == "http://console.test:5030/prompts/greet"
    assert console_link(base, "anything") == "http://console.test:5030/go/anything"
    assert console_link(base, " a/b?c ", "run") == "http://console.test:5030/runs/a%2Fb%3Fc"


# What the read path must not load (`docs/PERFORMANCE.md`, "The CLI"): pydantic-settings
# (the key is found through `eco_shared.locations`), structlog (logging is deferred until
# something logs at the level), OpenTelemetry (nothing to propagate) and the other adapters.
READ_PATH_FORBIDDEN = (
    "pydantic_settings",
    "eco_shared.settings",
    "structlog",
    "opentelemetry",
    "eco_shared.telemetry",
    "eco_shared.supervise",
    "eco_shared.adapters.doc_store",
    "eco_shared.adapters.log_collector",
    "eco_shared.adapters.orchestrator",
    "eco_cli.supervisor",
)
READ_PROBE = f"""
import json, sys
from eco_cli.main import app
try:
    app(["services", "--json"])
except SystemExit as exc:
    assert not exc.code, exc.code
from eco_shared.http import verifying_tls_context
loaded = [m for m in sys.modules if m.startswith({READ_PATH_FORBIDDEN!r})]
tls = verifying_tls_context.cache_info().currsize
print(json.dumps({{"loaded": sorted(loaded), "tls_contexts": tls}}), file=sys.stderr)
"""


def test_services_json_answers_on_a_lean_read_path(discovery: str, tmp_path: Path) -> None:
    env = _env(tmp_path, discovery)
    done = subprocess.run(
        [sys.executable, "-c", READ_PROBE], env=env, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stdout + done.stderr
    rows = {row["name"]: row for row in json.loads(done.stdout)}
    assert (rows["console"]["instances"], rows["console"]["urls"]) == (1, [CONSOLE_URL])
    probe = json.loads(done.stderr.strip().splitlines()[-1])
    assert probe == {"loaded": [], "tls_contexts": 0}  # every URL is http://: no CA bundle


def test_services_json_logs_to_stderr_when_asked(discovery: str, tmp_path: Path) -> None:
    """The deferred logging set-up still sends every record to stderr, redacted."""
    env = _env(tmp_path, discovery) | {"ECO_LOG_LEVEL": "DEBUG"}
    done = subprocess.run(
        [*ECO[:-1], "services", "--json"], env=env, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "console" in [row["name"] for row in json.loads(done.stdout)]
    calls = [json.loads(line) for line in done.stderr.splitlines() if '"service_call"' in line]
    assert {c["operation"] for c in calls} >= {"health", "list_services", "get_service"}
    assert all(c["service"] == "discovery" and c["level"] == "debug" for c in calls)
    assert env["ECO_API_KEY"] not in done.stderr
