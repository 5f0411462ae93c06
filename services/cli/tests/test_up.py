"""`eco up` as a real process: Redis and every installed service start and become ready,
discovery lists them healthy, and Ctrl-C or `eco down` stops all of it. The first run makes
the key material (the admin key printed once), Redis admits only its ACL users, and every
service reaches it as its own user."""

import json
import os
import signal
import stat
import subprocess
import sys
from pathlib import Path
from typing import Any

import httpx
import pytest
import redis

from eco_cli import acl
from eco_cli.local_auth import prepare
from eco_shared.auth import AuthMaterial, parse_key
from eco_shared.redis_server import free_port
from eco_shared.services import installed_services
from eco_shared.testing import wait_until
from eco_shared.testing.processes import port_open


def _env(data_dir: Path) -> dict[str, str]:
    """No ECO_ settings from outside; every service on a free port, so no running eco clashes."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("ECO_")}
    env["ECO_DATA_DIR"] = str(data_dir)
    for spec in installed_services():
        env[spec.port_env] = str(free_port())
    return env


def _assert_all_ready(state: dict[str, Any]) -> None:
    """Every service `eco up` started reported ready and answers `/health/ready` with 200."""
    names = {spec.name for spec in installed_services()}
    assert set(state["services"]) == names, state
    assert state["status"] == dict.fromkeys(names, "ready"), state
    for name, url in state["services"].items():
        assert url.startswith("http://127.0.0.1:")
        ready = httpx.get(f"{url}/health/ready", timeout=5)
        assert ready.status_code == 200, (name, ready.text)
        assert ready.json()["status"] == "ready", (name, ready.json())


def _admin_redis(state: dict[str, Any], connect_timeout_s: float = 2.0) -> redis.Redis:
    master = AuthMaterial(Path(state["auth"]["dir"])).master()
    url = acl.with_credentials(state["redis_url"], acl.ADMIN_USER, acl.password(master, "eco"))
    return redis.Redis.from_url(url, socket_connect_timeout=connect_timeout_s)


def _assert_each_service_is_its_own_redis_user(state: dict[str, Any]) -> None:
    """Redis refuses anyone without a password; each service is connected as itself, and
    none of them was refused a key it uses."""
    assert state["auth"]["redis_acl"] is True
    with pytest.raises(redis.AuthenticationError):
        redis.Redis.from_url(state["redis_url"], socket_connect_timeout=2).ping()
    admin = _admin_redis(state)
    try:
        aclfile = admin.config_get("aclfile")["aclfile"]
        assert aclfile == str(Path(state["auth"]["dir"]) / "redis.acl")

        def connected() -> bool:
            users = {client["user"] for client in admin.client_list()}
            return users >= set(state["services"])

        wait_until(connected, timeout_s=30, interval_s=0.5)
    finally:
        admin.close()
    for name, process in state["processes"].items():
        if name != "redis":
            log = Path(process["log"]).read_text(errors="replace")
            assert "NoPermissionError" not in log, (name, log[-3000:])


def _assert_material(state: dict[str, Any], output: str) -> None:
    """The key material is private to its owner, and the admin key was printed, once."""
    auth_dir = Path(state["auth"]["dir"])
    assert stat.S_IMODE(auth_dir.stat().st_mode) == 0o700
    for name in ("admin.key", "signing-keys.json", "master", "pepper", "redis.acl"):
        assert stat.S_IMODE((auth_dir / name).stat().st_mode) == 0o600, name
    key = parse_key((auth_dir / "admin.key").read_text().strip()).value
    assert output.count(key) == 1, output[-2000:]


def _assert_all_gone(state: dict[str, Any]) -> None:
    """Nothing `eco up` started still listens: no service and no private Redis."""
    for name, url in state["services"].items():
        port = int(url.rsplit(":", 1)[1])
        assert not port_open(port), f"{name} still listens on {port}"
    gone = _admin_redis(state, connect_timeout_s=0.5)
    try:
        gone.ping()
        raise AssertionError("redis still running after eco up stopped")
    except redis.ConnectionError:
        pass


@pytest.mark.timeout(600)
def test_eco_up_starts_private_redis_and_stops_cleanly(tmp_path: Path) -> None:
    proc = subprocess.Popen(
        [sys.executable, "-m", "eco_cli.main", "up", "--ready-timeout", "240"],
        env=_env(tmp_path),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    try:
        state_file = tmp_path / "up.json"
        wait_until(state_file.exists, timeout_s=300)
        state = json.loads(state_file.read_text())
        client = _admin_redis(state)
        assert client.ping()
        assert client.config_get("appendonly")["appendonly"] == "yes"
        client.close()
        _assert_all_ready(state)
        _assert_each_service_is_its_own_redis_user(state)
    finally:
        proc.send_signal(signal.SIGINT)
        out, _ = proc.communicate(timeout=60)
    assert proc.returncode == 0, out.decode()
    assert b"stopped" in out
    assert b"the console: http://" in out  # where to point a browser, once it is ready
    _assert_material(state, out.decode(errors="replace"))
    assert not (tmp_path / "up.json").exists()
    # The private Redis and every service are gone with it.
    _assert_all_gone(state)


@pytest.mark.timeout(900)
def test_detach_status_down(tmp_path: Path) -> None:
    env = _env(tmp_path)
    eco = [sys.executable, "-m", "eco_cli.main"]

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([*eco, *args], env=env, capture_output=True, text=True, timeout=330)

    assert run("status").returncode == 1  # nothing running yet
    started = run("up", "--detach", "--ready-timeout", "240")
    assert started.returncode == 0, started.stdout + started.stderr
    state = json.loads((tmp_path / "up.json").read_text())
    try:
        _assert_all_ready(state)
        # the key printed by the command itself, not only into the background's up.log
        _assert_material(state, started.stdout)
        status = run("status", "--json")
        assert status.returncode == 0, status.stdout + status.stderr
        report = json.loads(status.stdout)
        assert report["redis_url"] == state["redis_url"]
        assert set(report["services"]) == set(state["services"])
        assert report["services"] == {
            name: {"url": url, "status": "ready"} for name, url in state["services"].items()
        }

        def listed_healthy() -> dict[str, Any] | None:
            # Registration runs beside start-up, so discovery may list a service a moment
            # after it is ready.
            listed = run("services", "--json")
            assert listed.returncode == 0, listed.stdout + listed.stderr
            rows = {row["name"]: row for row in json.loads(listed.stdout)}
            healthy = set(rows) >= set(state["services"]) and all(
                rows[name]["status"] == "passing" for name in state["services"]
            )
            return rows if healthy else None

        rows: Any = wait_until(listed_healthy, timeout_s=30, interval_s=1)
        for name, url in state["services"].items():
            assert rows[name]["urls"] == [url], rows[name]
        again = run("up", "--detach")
        assert again.returncode == 1
        assert "already up" in again.stderr
        # an operator reaches the private Redis as eco, or as one service
        as_eco = run("auth", "redis-url")
        assert as_eco.returncode == 0, as_eco.stderr
        assert redis.Redis.from_url(as_eco.stdout.strip()).config_get("appendonly")
        as_doc_store = run("auth", "redis-url", "--user", "doc-store")
        doc_store = redis.Redis.from_url(as_doc_store.stdout.strip())
        with pytest.raises(redis.exceptions.NoPermissionError):
            doc_store.xadd("eco.runs", {"type": "run.queued"})
        doc_store.close()
    finally:
        stopped = run("down")
    assert stopped.returncode == 0, stopped.stderr
    assert not (tmp_path / "up.json").exists()
    assert run("down").returncode == 1
    supervisor_pid = state["pid"]
    try:
        os.kill(supervisor_pid, 0)
        raise AssertionError("the background supervisor is still alive")
    except ProcessLookupError:
        pass
    _assert_all_gone(state)
    assert run("status").returncode == 1


def test_the_admin_key_is_new_only_the_first_time(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("ECO_AUTH_DIR", raising=False)  # the test session's, not eco up's
    first = prepare(tmp_path)
    assert first.new_admin_key is not None
    stored = (tmp_path / "auth" / "admin.key").read_text().strip()
    assert parse_key(first.new_admin_key).value == stored
    again = prepare(tmp_path)
    assert again.new_admin_key is None
    assert again.material.admin_key() == first.material.admin_key()


def test_with_auth_off_eco_up_warns_and_still_locks_redis(tmp_path: Path) -> None:
    """The supervisor with no services: Redis alone, its ACL written, the warning said."""
    script = (
        "import sys; from pathlib import Path; from eco_cli.supervisor import Supervisor; "
        "sys.exit(Supervisor(Path(sys.argv[1]), services=[]).run(ready_timeout=10))"
    )
    env = {**_env(tmp_path), "ECO_AUTH": "off"}
    proc = subprocess.Popen(
        [sys.executable, "-c", script, str(tmp_path)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    try:
        wait_until((tmp_path / "up.json").exists, timeout_s=60)
        state = json.loads((tmp_path / "up.json").read_text())
        assert state["auth"]["mode"] == "off"
        with pytest.raises(redis.AuthenticationError):
            redis.Redis.from_url(state["redis_url"], socket_connect_timeout=2).ping()
        assert _admin_redis(state).ping()
    finally:
        proc.send_signal(signal.SIGTERM)
        out, _ = proc.communicate(timeout=30)
    assert "ECO_AUTH=off" in out.decode(), out.decode()


def test_eco_up_gives_every_installed_service_its_own_redis_user(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """What the supervisor would start (built, not started): the ACL file has a user per
    installed service (the prompt store among them) with that service's access, and each
    service's `ECO_REDIS_URL` logs in as it."""
    from eco_cli.supervisor import Supervisor

    for name in ("ECO_AUTH_DIR", "ECO_REDIS_URL", "ECO_REDIS_PREFIX"):
        monkeypatch.delenv(name, raising=False)
    supervisor = Supervisor(tmp_path)
    supervisor.build()
    names = {spec.name for spec in installed_services()}
    assert "prompt-store" in names
    master = AuthMaterial(tmp_path / "auth").master()
    lines = (tmp_path / "auth" / "redis.acl").read_text().splitlines()
    for child in supervisor.service_children:
        user_line = next(line for line in lines if line.startswith(f"user {child.name} "))
        expected = acl.user_line(
            child.name, acl.password(master, child.name), acl.access_for(child.name), ""
        )
        assert user_line == expected
        url = acl.with_credentials(
            str(supervisor.redis_url), child.name, acl.password(master, child.name)
        )
        assert child.env["ECO_REDIS_URL"] == url
    assert {child.name for child in supervisor.service_children} == names
    store = next(line for line in lines if line.startswith("user prompt-store "))
    assert "~eco.dlq" in store.split()
    assert "~eco.bus.failures:eco.events:*" in store.split()
    assert "~eco.runs" not in store.split()
