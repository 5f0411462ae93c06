"""The prompts pages and the LLM usage page against the real ecosystem: a prompt pushed
with two versions, a label moved with a reason and an experiment, through the prompt
store's own HTTP API as an admin; then what the console shows of them, escaped."""

from __future__ import annotations

import html
import re
import uuid
from dataclasses import dataclass

import httpx
import pytest

from .conftest import Console, FinishedRun

pytestmark = [pytest.mark.slow, pytest.mark.timeout(600)]

XSS = "<script>alert('x')</script>"
ESCAPED = "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;"


@dataclass
class Pushed:
    name: str
    sha1: str
    sha2: str
    experiment: str


def push_prompt(console: Console) -> Pushed:
    """Prompt `<name>` v1 and v2, `production` moved v1 → v2 with a reason, an experiment."""
    name = f"greet-{uuid.uuid4().hex[:8]}"
    base = console.eco.url("prompt-store")

    def call(method: str, path: str, body: dict) -> dict:
        answer = httpx.request(
            method,
            base + path,
            json=body,
            headers=console.eco.headers("prompt-store"),
            timeout=10,
        )
        assert answer.status_code in (200, 201), answer.text
        return dict(answer.json())

    call("POST", "/prompts", {"name": name, "description": f"Greets {XSS}", "tags": ["t1"]})
    variables = {"who": {"type": "string"}}
    v1 = call(
        "POST",
        f"/prompts/{name}/versions",
        {
            "template": "Hello {{ who }}.",
            "variables": variables,
            "message": "first",
            "labels": ["production"],
        },
    )
    v2 = call(
        "POST",
        f"/prompts/{name}/versions",
        {"template": "Hi there, {{ who }}!", "variables": variables, "message": f"second {XSS}"},
    )
    call(
        "PUT",
        f"/prompts/{name}/labels/production",
        {"version": 2, "expected_version": 1, "reason": "friendlier wording"},
    )
    experiment = call(
        "POST",
        "/experiments",
        {
            "name": "tone test",
            "prompt": name,
            "label": "production",
            "arms": [
                {"name": "formal", "version": 1, "weight": 0.5},
                {"name": "casual", "version": 2, "weight": 0.5},
            ],
            "min_sample": 50,
        },
    )
    return Pushed(name, v1["sha256"], v2["sha256"], experiment["id"])


@pytest.fixture(scope="module")
def pushed(console: Console) -> Pushed:
    return push_prompt(console)


def _text(page: str) -> str:
    """The page's text with tags dropped and whitespace collapsed (for phrase checks)."""
    return re.sub(r"\s+", " ", html.unescape(re.sub(r"<[^>]+>", " ", page)))


def test_the_prompts_list_shows_the_prompt_with_its_labels(
    console: Console, pushed: Pushed
) -> None:
    with console.signed_in() as client:
        listing = client.get("/prompts")
        found = client.get("/prompts", params={"q": pushed.name})
        missing = client.get("/prompts", params={"q": "no-prompt-is-called-this"})
    assert listing.status_code == 200
    assert f'href="/prompts/{pushed.name}"' in listing.text
    assert 'aria-current="page"' in listing.text
    assert 'href="/prompts"' in listing.text
    text = _text(found.text)
    assert pushed.name in text
    assert "production → v2" in text
    assert "latest → v2" in text
    assert "Read-only" in text
    assert "eco prompts push" in text
    assert pushed.name not in missing.text
    assert "No prompts match" in _text(missing.text)


def test_the_prompt_page_shows_versions_label_history_and_the_experiment(
    console: Console, pushed: Pushed
) -> None:
    with console.signed_in() as client:
        page = client.get(f"/prompts/{pushed.name}")
    assert page.status_code == 200
    text = _text(page.text)
    # versions newest first, with author, message, sha256 and labels
    assert text.index("v2") < text.index("v1")
    assert 'id="v2"' in page.text
    assert 'id="v1"' in page.text
    assert page.text.index('id="v2"') < page.text.index('id="v1"')
    assert f'title="{pushed.sha1}"' in page.text
    assert f'title="{pushed.sha2}"' in page.text
    assert "first" in text
    assert "user:test" in text
    # the label's history: who, when, why
    history = text[text.index("Label history") : text.index("Experiments")]
    assert "v1 → v2" in history
    assert "friendlier wording" in history
    assert "(new) → v1" in history
    # the experiment with its arms and results
    experiments = text[text.index("Experiments") :]
    assert "tone test" in experiments
    assert "running" in experiments
    for arm in ("formal", "casual"):
        assert arm in experiments
    assert "exposures" in experiments
    assert "mean score" in experiments
    assert "not enough data" in experiments
    assert "Sample ratio: ✔ matches the weights" in experiments  # nothing exposed yet
    assert f'id="exp-{pushed.experiment}"' in page.text


def test_a_script_in_a_description_or_message_is_escaped(console: Console, pushed: Pushed) -> None:
    with console.signed_in() as client:
        listing = client.get("/prompts", params={"q": pushed.name})
        page = client.get(f"/prompts/{pushed.name}")
    for body in (listing.text, page.text):
        assert ESCAPED in body
        assert XSS not in body


def test_an_unknown_prompt_and_a_refusing_store_are_sentences(console: Console) -> None:
    with console.signed_in() as client:
        unknown = client.get("/prompts/no-such-prompt")
    assert unknown.status_code == 404
    assert "prompt-store has no such thing" in unknown.text
    # the reader's key has no prompts:read: the store's 403, said on the page
    with console.signed_in(console.reader_key) as client:
        refused = client.get("/prompts")
    assert refused.status_code == 200
    assert 'class="problem" role="alert"' in refused.text
    assert "prompt-store refused" in refused.text
    assert "prompts:read" in refused.text


def test_the_usage_page_lists_the_offline_provider_after_a_run(
    console: Console, finished_run: FinishedRun
) -> None:
    with console.signed_in() as client:
        page = client.get("/usage")
        week = client.get("/usage", params={"window": "7d", "provider": "offline"})
        nothing = client.get("/usage", params={"provider": "no-such-provider"})
        bad = client.get("/usage", params={"window": "forever"})
    assert page.status_code == 200
    text = _text(page.text)
    by_provider = text[text.index("By provider") : text.index("By principal")]
    assert "offline" in by_provider
    by_model = text[text.index("By provider, model and principal") :]
    assert "offline" in by_model
    assert "No calls in this window" not in by_model
    assert "not linked to runs" not in text
    assert 'href="/usage?window=today&amp;provider=offline"' in page.text
    assert week.status_code == 200
    assert "offline" in _text(week.text)
    assert '<option value="7d" selected>' in week.text
    assert "No calls in this window" in _text(nothing.text)
    assert bad.status_code == 422


def test_a_real_runs_llm_usage_links_to_that_run(
    console: Console, finished_run: FinishedRun
) -> None:
    run_id = finished_run.run_id
    with console.signed_in() as client:
        page = client.get("/usage", params={"window": "7d"})
        fragment = client.get(f"/usage/fragments/run/{run_id}", headers={"HX-Request": "true"})
        unknown = client.get("/usage/fragments/run/no-such-run", headers={"HX-Request": "true"})
        bad = client.get("/usage/fragments/run/bad id!", headers={"HX-Request": "true"})
    assert page.status_code == 200
    text = _text(page.text)
    by_run = text[text.index("By run") : text.index("By provider, model and principal")]
    assert run_id in by_run
    assert "offline/" in by_run
    assert f'href="/runs/{run_id}"' in page.text
    # the run's calls, as the gateway recorded them from the run's own tokens
    log = httpx.get(
        f"{console.eco.url('llm-gateway')}/v1/usage/log",
        params={"run_id": run_id},
        headers=console.eco.headers("llm-gateway"),
        timeout=10,
    ).json()["entries"]
    assert log
    assert {e["run_id"] for e in log} == {run_id}
    assert all(e["caller"].startswith("user:") for e in log)
    assert fragment.status_code == 200
    assert "LLM usage of this run" in fragment.text
    assert "<html" not in fragment.text  # a fragment, not a page
    assert fragment.text.count("<tr>") == len(log) + 1  # the head row and one per call
    assert f"{len(log)} calls" in _text(fragment.text)
    assert "No LLM calls recorded for this run" in _text(unknown.text)
    assert bad.status_code == 422


@pytest.mark.parametrize("path", ["/prompts", "/prompts/anything", "/usage"])
def test_signed_out_visitors_are_sent_to_sign_in(console: Console, path: str) -> None:
    with console.client() as client:
        answer = client.get(path)
    assert answer.status_code == 303
    assert answer.headers["location"] == f"/signin?next={path}"
