"""A service generated from the template joins a running ecosystem and answers a query.

In a fresh copy of the repository: `eco new-service`, the generated service's own tests,
`eco up --detach`, the service in discovery, and a natural-language query routed by the
orchestrator to its example operation through that operation's `x-eco-intent`. The note is
stored with the admin key the first `eco up` printed, exchanged at the issuer like any
client would; the query's run reads it acting for that admin.
"""

import json
import os
import subprocess
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from eco_shared.testing.processes import port_open, processes_under

NAME = "notebook"
PORT = 5120
PORTS = (5045, 5055, 5080, 5087, 5099, PORT)


def _token_from_admin_key(repo: Path, issuer: str, audience: str) -> str:
    """Exchange the admin key `eco up` wrote for a token (RFC 8693, `POST /auth/token`)."""
    from eco_shared.auth import API_KEY_TYPE, TOKEN_EXCHANGE

    key = (repo / ".eco" / "auth" / "admin.key").read_text().strip()
    form = {
        "grant_type": TOKEN_EXCHANGE,
        "subject_token": key,
        "subject_token_type": API_KEY_TYPE,
        "audience": audience,
    }
    answer = httpx.post(f"{issuer}/auth/token", data=form, timeout=30)
    assert answer.status_code == 200, answer.text
    return str(answer.json()["access_token"])


@pytest.mark.slow
@pytest.mark.timeout(900)
def test_generated_service_is_reachable_from_natural_language(
    fresh_repo: Path, redis_url: str
) -> None:
    if any(port_open(port) for port in PORTS):
        pytest.fail(f"one of the ports {PORTS} is already taken")
    repo = fresh_repo
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("ECO_", "VIRTUAL_ENV", "UV_PROJECT_ENVIRONMENT", "PYTEST"))
    }

    def sh(*command: str, timeout: float = 600, extra: dict[str, str] | None = None) -> str:
        result = subprocess.run(
            command,
            cwd=repo,
            env={**env, **(extra or {})},
            capture_output=True,
            text=True,
            timeout=timeout,
        )
        assert result.returncode == 0, (
            f"{command}:\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}"
        )
        return result.stdout

    # copier versions the template through git, as in a clone
    for git in (["init", "-q"], ["add", "-A"], ["commit", "-qm", "clone"]):
        sh("git", "-c", "user.name=t", "-c", "user.email=t@t", *git)
    sh("make", "setup")
    eco = [str(repo / ".venv" / "bin" / "eco")]
    sh(*eco, "new-service", NAME, "--port", str(PORT), "--description", "Notes, searchable.")
    assert (repo / "services" / NAME / "src" / "eco_notebook" / "main.py").exists()
    assert f"services/{NAME}" in (repo / "pyproject.toml").read_text()
    assert f"  {NAME}:" in (repo / "docker-compose.yml").read_text()
    assert (repo / "infra" / "k8s" / "base" / f"{NAME}.yaml").exists()

    # The generated service's own tests, on the test Redis.
    out = sh(
        str(repo / ".venv" / "bin" / "pytest"),
        "-q",
        "-p",
        "no:cacheprovider",
        f"services/{NAME}",
        extra={"ECO_TEST_REDIS_URL": redis_url},
    )
    assert "7 passed" in out

    def run_eco(*args: str) -> Any:
        return json.loads(sh(*eco, *args, "--json"))

    sh(*eco, "up", "--detach", "--ready-timeout", "120", timeout=300)
    try:
        state = json.loads((repo / ".eco" / "up.json").read_text())
        assert state["status"][NAME] == "ready", state
        listed = {row["name"]: row for row in run_eco("services")}
        assert listed[NAME]["status"] == "passing"
        assert listed[NAME]["capabilities"] >= 5

        note = {"title": "Retry policy", "body": "Calls back off with full jitter."}
        url = f"{state['services'][NAME]}/notes"
        refused = httpx.post(url, json=note, timeout=30)
        assert refused.status_code == 401  # a generated service checks tokens too
        token = _token_from_admin_key(repo, state["services"]["discovery"], NAME)
        created = httpx.post(url, json=note, headers={"Authorization": f"Bearer {token}"})
        assert created.status_code == 201, created.text

        answer = run_eco("ask", "Find notes about jitter")
        assert answer["status"] == "completed", answer
        assert answer["workflow"] == "capability", answer
        shown = run_eco("docs", "show", answer["document_id"])
        assert "Retry policy" in shown["content"]
        provenance = run_eco("docs", "provenance", answer["document_id"])
        called = {(c["service"], c["operation"]) for c in provenance["services_chain"]}
        assert any(service == NAME for service, _ in called), called
    finally:
        sh(*eco, "down", timeout=120)
    deadline = time.monotonic() + 20
    while processes_under(repo) and time.monotonic() < deadline:
        time.sleep(0.5)
    assert processes_under(repo) == []
    assert not any(port_open(port) for port in PORTS)
