"""`eco prompts ...` as a user runs them, against a real prompt store and a real discovery
(each its own process, on the test Redis; the CLI finds the store through discovery and
calls it with the admin key's tokens from the issuer): push, show, list, label with its
compare-and-swap, history, diff, render, the experiment commands, and the exits for what
does not exist (1) and what is refused (2)."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import redis

from eco_shared.testing import wait_until
from eco_shared.testing.auth import AUTH_DIR_ENV, bearer, session_material
from eco_shared.testing.processes import ServiceProcess

pytestmark = [pytest.mark.slow, pytest.mark.timeout(600)]  # real processes, ~20 CLI runs

ECO = [sys.executable, "-m", "eco_cli.main"]


class Cli:
    """The `eco` command against one running discovery, as its admin."""

    def __init__(self, discovery_url: str, store_url: str, data_dir: Path) -> None:
        self.discovery_url = discovery_url
        self.store_url = store_url
        self.data_dir = data_dir
        key = session_material().admin_key()
        assert key is not None
        self.env = {k: v for k, v in os.environ.items() if not k.startswith("ECO_")}
        self.env |= {
            "ECO_DISCOVERY_URL": discovery_url,
            "ECO_API_KEY": key.value,
            "ECO_DATA_DIR": str(data_dir),
        }

    def __call__(self, *args: str | Path) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [*ECO, "prompts", *map(str, args)],
            env=self.env,
            capture_output=True,
            text=True,
            timeout=120,
        )

    def json(self, *args: str | Path) -> Any:
        done = self(*args, "--json")
        assert done.returncode == 0, f"eco prompts {args}:\n{done.stdout}\n{done.stderr}"
        return json.loads(done.stdout)

    def exits(self, code: int, *args: str | Path) -> str:
        """Run, expect exit `code` and nothing on stdout; what it said on stderr."""
        done = self(*args)
        assert done.returncode == code, f"eco prompts {args}:\n{done.stdout}\n{done.stderr}"
        assert done.stdout == ""
        return done.stderr


@pytest.fixture(scope="module")
def eco(redis_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cli]:
    root = tmp_path_factory.mktemp("prompts-cli")
    prefix = f"test-{uuid.uuid4().hex[:12]}:"
    env = {
        "ECO_REDIS_URL": redis_url,
        "ECO_REDIS_PREFIX": prefix,
        "ECO_DATA_DIR": str(root),
        "ECO_ENVIRONMENT": "test",
        "ECO_LOG_FORMAT": "json",
        "ECO_OTLP_ENDPOINT": "none",
        AUTH_DIR_ENV: str(session_material().directory),
    }
    discovery = ServiceProcess(
        "eco_discovery.main:create_app",
        env={
            **env,
            "ECO_DISCOVERY_REGISTER_WITH_DISCOVERY": "false",
            "ECO_DISCOVERY_CHECK_INTERVAL_S": "0.5",
        },
        port_env="ECO_DISCOVERY_PORT",
        ready_path="/health/ready",
        log_dir=root,
    )
    store = ServiceProcess(
        "eco_prompt_store.main:create_app",
        env={**env, "ECO_DISCOVERY_URL": f"http://127.0.0.1:{discovery.port}"},
        port_env="ECO_PROMPT_STORE_PORT",
        ready_path="/health/ready",
        log_dir=root,
    )
    try:
        discovery.start()
        store.start()

        def passing() -> bool:
            listing = httpx.get(
                f"{discovery.url}/services", headers=bearer("discovery"), timeout=10
            ).json()["services"]
            return any(s["name"] == "prompt-store" and s["status"] == "passing" for s in listing)

        wait_until(passing, timeout_s=60, interval_s=0.2)
        yield Cli(discovery.url, store.url, root / "cli")
    finally:
        store.terminate()
        discovery.terminate()
        client = redis.Redis.from_url(redis_url)
        keys = list(client.scan_iter(f"{prefix}*"))
        if keys:
            client.delete(*keys)
        client.close()


def _write(path: Path, content: str | bytes) -> Path:
    path.write_bytes(content.encode() if isinstance(content, str) else content)
    return path


GREETING = b"Hello {{ name }}, welcome to {{ place }}.\r\n"  # CRLF: the bytes are kept
GREETING_VARS = {"name": {"type": "string"}, "place": {"type": "string", "default": "eco"}}


@pytest.fixture(scope="module")
def greet(eco: Cli, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """Prompt `greet` v1, labelled production, pushed once."""
    root = tmp_path_factory.mktemp("greet")
    schema = _write(root / "vars.json", json.dumps(GREETING_VARS))
    pushed: dict[str, Any] = eco.json(
        "push",
        _write(root / "greet.mustache", GREETING),
        "--var-schema",
        schema,
        "--message",
        "first words",
        "--label",
        "production",
        "--tag",
        "demo",
        "--description",
        "Greets a user",
    )
    return pushed


def test_push_stores_the_files_exact_bytes_once(
    eco: Cli, greet: dict[str, Any], tmp_path: Path
) -> None:
    assert greet["created_prompt"] is True
    assert greet["new_version"] is True
    version = greet["version"]
    assert version["name"] == "greet"
    assert version["version"] == 1
    assert version["sha256"] == hashlib.sha256(GREETING).hexdigest()
    assert version["template"].encode() == GREETING
    assert version["syntax"] == "mustache"
    assert version["message"] == "first words"
    assert version["author"] == "user:admin"
    assert set(version["labels"]) == {"latest", "production"}
    assert version["variables"]["place"]["default"] == "eco"

    # the same bytes again (under another file name) are the same version
    again = eco.json(
        "push",
        _write(tmp_path / "copy.txt", GREETING),
        "--name",
        "greet",
        "--var-schema",
        _write(tmp_path / "vars.json", json.dumps(GREETING_VARS)),
    )
    assert again["created_prompt"] is False
    assert again["new_version"] is False
    assert again["version"]["version"] == 1
    missing = tmp_path / "missing.json"
    assert "missing.json" in eco.exits(2, "push", tmp_path / "copy.txt", "--var-schema", missing)


def test_push_takes_the_syntax_and_kind_from_the_file(eco: Cli, tmp_path: Path) -> None:
    jinja = eco.json(
        "push",
        _write(
            tmp_path / "brief.j2", "{% if short %}Be brief.{% else %}Take your time.{% endif %}"
        ),
        "--var-schema",
        _write(tmp_path / "v.json", json.dumps({"short": {"type": "boolean", "default": False}})),
    )
    assert jinja["version"]["name"] == "brief"
    assert jinja["version"]["syntax"] == "jinja2"
    messages = [{"role": "system", "content": "You answer in {lang}."}]
    chat = eco.json(
        "push",
        _write(tmp_path / "system.fstring.json", json.dumps(messages)),
        "--var-schema",
        _write(tmp_path / "l.json", json.dumps({"lang": {"type": "string"}})),
    )
    assert chat["version"]["syntax"] == "fstring"
    assert eco.json("show", "system")["prompt"]["kind"] == "chat"
    assert eco.json("show", "brief")["prompt"]["kind"] == "text"


def test_push_refuses_a_template_the_store_would_and_stores_nothing(
    eco: Cli, tmp_path: Path
) -> None:
    stderr = eco.exits(2, "push", _write(tmp_path / "oops.mustache", "Dear {{ who }},"))
    assert "undeclared_variable" in stderr
    assert "'who'" in stderr
    assert "--var-schema" in stderr
    broken = _write(tmp_path / "broken.j2", "{% if x %}never closed")
    stderr = eco.exits(2, "push", broken, "--var-schema", _write(tmp_path / "x.json", "{}"))
    assert "syntax_error" in stderr
    # no empty prompt left behind by either
    eco.exits(1, "show", "oops")
    eco.exits(1, "show", "broken")
    eco.exits(2, "push", broken, "--syntax", "handlebars")


def test_show_and_list(eco: Cli, greet: dict[str, Any]) -> None:
    shown = eco.json("show", "greet")
    assert shown["prompt"]["labels"] == {"latest": 1, "production": 1}
    assert shown["prompt"]["tags"] == ["demo"]
    assert shown["prompt"]["created_by"] == "user:admin"
    assert shown["version"]["sha256"] == greet["version"]["sha256"]
    for ref in ("greet@production", "greet:1", "greet@latest"):
        assert eco.json("show", ref)["version"]["version"] == 1, ref
    human = eco("show", "greet@production")
    assert human.returncode == 0, human.stderr
    assert greet["version"]["sha256"] in human.stdout
    assert "Hello {{ name }}, welcome to {{ place }}." in human.stdout
    assert "production→1" in human.stdout

    names = {p["name"] for p in eco.json("list")["items"]}
    assert "greet" in names
    # full text over the latest version's text, and filters
    assert [p["name"] for p in eco.json("list", "-q", "welcome")["items"]] == ["greet"]
    assert "greet" in {p["name"] for p in eco.json("list", "--tag", "demo")["items"]}
    assert eco.json("list", "--tag", "nothing-has-this")["items"] == []
    table = eco("list")
    assert table.returncode == 0, table.stderr
    assert "greet" in table.stdout


def _two_versions(eco: Cli, tmp_path: Path, name: str) -> None:
    for n, text in enumerate(("Summarise the text.\nBe short.\n", "Summarise the text.\n")):
        pushed = eco.json("push", _write(tmp_path / f"{name}.{n}.txt", text), "--name", name)
        assert pushed["version"]["version"] == n + 1


def test_label_moves_are_compare_and_swap_and_recorded(eco: Cli, tmp_path: Path) -> None:
    _two_versions(eco, tmp_path, "summary")
    first = eco.json("label", "summary", "1", "production", "--expected", "none")
    assert (first["version"], first["previous_version"]) == (1, None)
    assert first["moved_by"] == "user:admin"
    # without --expected: whatever the label points at when the command reads it
    second = eco.json("label", "summary", "2", "production", "--reason", "shorter is better")
    assert (second["version"], second["previous_version"]) == (2, 1)
    # someone who still thinks it is at 1 loses the race
    stderr = eco.exits(2, "label", "summary", "1", "production", "--expected", "1")
    assert "409" in stderr
    eco.exits(2, "label", "summary", "1", "production", "--expected", "none")
    eco.exits(2, "label", "summary", "1", "latest")  # moved by the store alone
    eco.exits(1, "label", "summary", "9", "production")
    eco.exits(1, "label", "no-such-prompt", "1", "production")
    human = eco("label", "summary", "1", "staging")
    assert human.returncode == 0, human.stderr
    assert "summary@staging: - → v1" in human.stdout

    moves = eco.json("history", "summary", "production")["items"]
    assert [(m["from_version"], m["to_version"]) for m in moves] == [(1, 2), (None, 1)]
    assert moves[0]["reason"] == "shorter is better"
    assert moves[0]["by"] == "user:admin"
    versions = eco.json("history", "summary")["items"]
    assert [v["version"] for v in versions] == [2, 1]
    assert "production" in versions[0]["labels"]
    table = eco("history", "summary", "production")
    assert table.returncode == 0, table.stderr
    assert "shorter is better" in table.stdout
    eco.exits(1, "history", "no-such-prompt")


def test_diff_between_versions_and_labels(eco: Cli, tmp_path: Path) -> None:
    _two_versions(eco, tmp_path, "digest")
    diff = eco.json("diff", "digest", "1", "2")
    assert (diff["from_version"], diff["to_version"]) == (1, 2)
    assert diff["changes"] == {
        "template": True,
        "variables": False,
        "config": False,
        "syntax": False,
    }
    assert "-Be short." in diff["unified"]
    by_label = eco.json("diff", "digest", "1", "latest")
    assert by_label["unified"] == diff["unified"]
    human = eco("diff", "digest", "1", "2")
    assert human.returncode == 0, human.stderr
    assert "-Be short." in human.stdout
    assert "changed: template" in human.stdout
    eco.exits(1, "diff", "digest", "1", "7")
    eco.exits(1, "diff", "no-such-prompt", "1", "2")


def test_render_checks_the_variables(eco: Cli, greet: dict[str, Any], tmp_path: Path) -> None:
    rendered = eco.json("render", "greet@production", "--var", "name=Ada")
    assert rendered["rendered"] == "Hello Ada, welcome to eco.\r\n"
    assert rendered["rendered_sha256"] == hashlib.sha256(rendered["rendered"].encode()).hexdigest()
    assert rendered["sha256"] == greet["version"]["sha256"]
    plain = eco("render", "greet:1", "--var", "name=Ada", "--var", "place=the=store")
    assert plain.returncode == 0, plain.stderr
    assert plain.stdout.splitlines() == ["Hello Ada, welcome to the=store."]
    assert "name" in eco.exits(2, "render", "greet:1")  # a missing variable, named
    assert "extra" in eco.exits(2, "render", "greet:1", "--var", "name=A", "--var", "extra=1")
    eco.exits(2, "render", "greet:1", "--var", "novalue")

    # a variable declared as anything but a string is read as JSON
    schema = _write(tmp_path / "n.json", json.dumps({"count": {"type": "integer"}}))
    eco.json("push", _write(tmp_path / "count.txt", "{{ count }} items"), "--var-schema", schema)
    assert eco.json("render", "count", "--var", "count=3")["rendered"] == "3 items"
    assert "count" in eco.exits(2, "render", "count", "--var", "count=three")


@pytest.mark.parametrize(
    "args",
    [
        ["show", "no-such-prompt"],
        ["show", "greet:99"],
        ["show", "greet@no-such-label"],
        ["render", "no-such-prompt@production"],
        ["history", "greet", "no-such-label"],
        ["experiment", "results", "00000000-0000-4000-8000-000000000000"],
    ],
)
def test_what_does_not_exist_exits_1(eco: Cli, greet: dict[str, Any], args: list[str]) -> None:
    assert "404" in eco.exits(1, *args)


def test_experiment_create_and_results(eco: Cli, tmp_path: Path) -> None:
    _two_versions(eco, tmp_path, "advice")
    eco.json("label", "advice", "1", "production")
    created = eco.json(
        "experiment",
        "create",
        "advice",
        "production",
        "--arm",
        "control=1:0.5",
        "--arm",
        "short=2:0.5",
        "--min-sample",
        "10",
    )
    assert created["prompt"] == "advice"
    assert created["label"] == "production"
    assert created["status"] == "running"
    assert [(a["name"], a["weight"]) for a in created["arms"]] == [
        ("control", 0.5),
        ("short", 0.5),
    ]
    # one running experiment per label
    assert "409" in eco.exits(
        2, "experiment", "create", "advice", "production", "-a", "a=1:0.5", "-a", "b=2:0.5"
    )
    # weights that do not sum to 1, a version that does not exist: refused, nothing made
    eco.exits(2, "experiment", "create", "advice", "staging", "-a", "a=1:0.5", "-a", "b=2:0.6")
    eco.exits(2, "experiment", "create", "advice", "staging", "-a", "a=1:0.5", "-a", "b=9:0.5")
    eco.exits(2, "experiment", "create", "advice", "staging", "-a", "a=1")

    results = eco.json("experiment", "results", created["id"])
    arms = {arm.get("name") or arm.get("arm"): arm for arm in results["arms"]}
    assert set(arms) == {"control", "short"}
    assert all(arm["exposures"] == 0 for arm in arms.values())
    assert results["verdict"] is None  # no sample yet
    human = eco("experiment", "results", created["id"])
    assert human.returncode == 0, human.stderr
    assert "control" in human.stdout
    assert "verdict: not yet" in human.stdout


def test_show_and_push_print_the_prompts_console_link(eco: Cli, tmp_path: Path) -> None:
    """With a console registered in discovery, its page of the prompt; `--json` has it as
    the extra `console_url` field only."""
    console_url = "http://127.0.0.1:5998"  # registered, nothing listens: the URL stays
    registered = httpx.post(
        f"{eco.discovery_url}/instances",
        json={"name": "console", "instance_id": "console-cli-1", "base_url": console_url + "/"},
        headers=bearer("discovery"),
        timeout=10,
    )
    assert registered.status_code in (200, 201), registered.text
    pushed = eco("push", _write(tmp_path / "linked.txt", "Say hi.\n"), "--name", "linked")
    assert pushed.returncode == 0, pushed.stderr
    assert f"console {console_url}/prompts/linked" in pushed.stdout.splitlines()
    human = eco("show", "linked")
    assert human.returncode == 0, human.stderr
    assert f"console {console_url}/prompts/linked" in human.stdout.splitlines()
    shown = eco.json("show", "linked")
    assert set(shown) == {"prompt", "version", "console_url"}
    assert shown["console_url"] == f"{console_url}/prompts/linked"
