"""The console in headless Chromium: sign-in, live progress, deep links, the live tail, the
keyboard, cancel, a 5,000-span trace, and axe on every page in light and dark."""

from __future__ import annotations

import random
import re
import time

import httpx
import pytest
import redis
from axe_playwright_python.sync_playwright import Axe
from playwright.sync_api import Page, expect

from eco_shared.bus._event import envelope_fields, new_event_id, utc_now_rfc3339
from eco_shared.testing import wait_until
from eco_shared.testing.otlp import otlp_body

from .conftest import (
    Console,
    FinishedRun,
    ask_for_review_in_page,
    axe_report,
    shot,
    sign_in_page,
    store_document,
    wait_status,
)

pytestmark = [pytest.mark.slow, pytest.mark.timeout(600)]


def test_a_visitor_sees_only_the_sign_in_page(page: Page, screenshots: object) -> None:
    for path in ("/", "/runs", "/documents", "/logs"):
        page.goto(path)
        expect(page).to_have_url(re.compile(r"/signin\?next="))
        expect(page.locator("h1")).to_have_text("Sign in")
        expect(page.locator("nav[aria-label=Main]")).to_have_count(0)
    shot(page, screenshots, "signin")


def test_sign_in_leads_to_the_overview(page: Page, console: Console, screenshots: object) -> None:
    sign_in_page(page, console.user_key)
    expect(page.locator("h1")).to_have_text("Overview")
    expect(page.locator("#h-services")).to_be_visible()
    shot(page, screenshots, "overview")


def test_ask_shows_live_progress_then_the_document(
    page: Page, console: Console, screenshots: object
) -> None:
    sign_in_page(page, console.user_key, "/ask")
    page.fill("#query", "Create API documentation for the orchestrator service")
    page.click("form.ask button[type=submit]")
    page.wait_for_url(re.compile(r"/runs/[0-9a-f]+$"))
    run_id = page.url.rsplit("/", 1)[1]
    # node by node, from the console's own stream
    expect(page.locator("#timeline li", has_text="understand")).not_to_have_count(0)
    expect(page.locator("#finished-document")).to_be_visible(timeout=90_000)
    assert page.locator("#timeline li").count() >= 5
    expect(page.locator("#run-status")).to_contain_text("completed")  # the header follows
    expect(page.locator("[data-live-state]")).to_contain_text("Live")
    shot(page, screenshots, "run-live")
    run = wait_status(console, run_id, {"completed"})
    _wait_trace(console, run["trace_id"])
    page.click("#finished-document")
    page.wait_for_url(re.compile(r"/documents/"))
    # the document view, provenance, chain, waterfall and logs all name one trace
    ids = page.eval_on_selector_all("[data-trace-id]", "els => els.map(e => e.dataset.traceId)")
    assert set(ids) == {run["trace_id"]}, ids
    assert len(ids) >= 4
    frame = page.locator("iframe.doc-frame")
    assert frame.get_attribute("sandbox") == ""
    shot(page, screenshots, "document")


def _wait_trace(console: Console, trace_id: str, spans: int = 5) -> None:
    url = f"{console.eco.url('log-collector')}/traces/{trace_id}"

    def stored() -> bool:
        got = httpx.get(url, headers=console.eco.headers("log-collector"), timeout=30)
        return got.status_code == 200 and got.json()["span_count"] >= spans

    wait_until(stored, timeout_s=60, interval_s=0.3)


def test_a_deep_link_to_a_span_survives_a_reload(
    page: Page, console: Console, finished_run: FinishedRun, screenshots: object
) -> None:
    _wait_trace(console, finished_run.trace_id)
    detail = httpx.get(
        f"{console.eco.url('log-collector')}/traces/{finished_run.trace_id}",
        headers=console.eco.headers("log-collector"),
    ).json()

    def deepest(spans: list[dict], depth: int = 0) -> tuple[int, str]:
        best = (depth, spans[0]["span_id"])
        for s in spans:
            if s["children"]:
                best = max(best, deepest(s["children"], depth + 1))
            best = max(best, (depth, s["span_id"]))
        return best

    _, span_id = deepest(detail["roots"])
    sign_in_page(page, console.user_key)
    page.goto(f"/traces/{finished_run.trace_id}?span={span_id}#span-{span_id}")
    for _ in range(2):
        row = page.locator(f"#span-{span_id}")
        expect(row).to_be_visible()
        expect(row).to_have_class(re.compile("selected"))
        expect(page.locator("#span-detail")).to_have_attribute("data-span-id", span_id)
        page.reload()
    shot(page, screenshots, "trace-span")


def _log(stream: redis.Redis, text: str) -> None:
    stream.xadd(
        "eco.logs",
        envelope_fields(
            id=new_event_id(),
            source="console-test",
            type="log.record",
            time=utc_now_rfc3339(),
            traceparent="",
            data={"event": text, "level": "info", "service": "console-tail"},
        ),
    )


def test_the_live_tail_pauses_and_keeps_the_scroll(
    page: Page, console: Console, screenshots: object
) -> None:
    stream = redis.Redis.from_url(console.eco.env["ECO_REDIS_URL"])
    sign_in_page(page, console.user_key, "/logs?service=console-tail")
    rows = page.locator("#tail tbody tr")
    # the stream is open once the first line arrives
    wait_until(lambda: _log(stream, "warm-up") or rows.count() > 0, timeout_s=30, interval_s=0.5)
    for i in range(40):
        _log(stream, f"line {i}")
    expect(page.locator("#tail tbody tr", has_text="line 39")).to_have_count(1)
    page.click("[data-live-toggle]")
    expect(page.locator("[data-live-toggle]")).to_have_attribute("aria-pressed", "false")
    page.eval_on_selector("#tail", "el => { el.scrollTop = 120; }")
    before = rows.count()
    for i in range(10):
        _log(stream, f"while paused {i}")
    expect(page.locator("[data-live-state]")).to_contain_text("10 new", timeout=30_000)
    assert rows.count() == before
    assert page.eval_on_selector("#tail", "el => el.scrollTop") == 120
    shot(page, screenshots, "logs-paused")
    page.click("[data-live-toggle]")
    expect(rows).to_have_count(before + 10)
    expect(page.locator("[data-live-state]")).to_contain_text("Live")


def test_a_keyboard_only_flow(page: Page, console: Console) -> None:
    word = f"keyboard{random.randrange(10**6)}"
    store_document(console, f"{word} first", f"# {word} first")
    store_document(console, f"{word} second", f"# {word} second")
    sign_in_page(page, console.user_key, "/documents")
    page.keyboard.press("?")
    expect(page.locator("#help")).to_be_visible()
    page.keyboard.press("Escape")
    expect(page.locator("#help")).not_to_be_visible()
    page.keyboard.press("/")
    expect(page.locator("#q")).to_be_focused()
    page.keyboard.type(word)
    page.keyboard.press("Enter")
    page.wait_for_url(re.compile(rf"q={word}"))
    page.keyboard.press("j")
    first = page.locator("tbody[data-list] > tr").nth(0)
    expect(first).to_have_class(re.compile("is-selected"))
    page.keyboard.press("j")
    expect(page.locator("tbody[data-list] > tr").nth(1)).to_have_class(re.compile("is-selected"))
    page.keyboard.press("k")
    expect(first).to_have_class(re.compile("is-selected"))
    title = first.locator("a").inner_text()
    page.keyboard.press("Enter")
    page.wait_for_url(re.compile(r"/documents/[^?]+$"))
    expect(page.locator("h1")).to_have_text(title)


def test_cancel_a_run(page: Page, console: Console, screenshots: object) -> None:
    query = "Create API documentation for the prompt-store service"
    run_id = ask_for_review_in_page(page, console, query)
    # the live graph, replayed from the run's events, reaches the gate the run waits at
    render = page.locator("#run-graph g[data-node=render]")
    expect(render).to_have_attribute("data-state", "done", timeout=30_000)
    gate = page.locator("#run-graph g[data-node=review_gate]")
    expect(gate).to_have_attribute("data-state", "running")
    shot(page, screenshots, "run-review")
    page.click("text=Cancel run")
    page.wait_for_url(re.compile(rf"/runs/{run_id}$"))
    expect(page.locator("#run-status")).to_contain_text("cancelled", timeout=30_000)
    assert wait_status(console, run_id, {"cancelled"})["status"] == "cancelled"


def _otlp_trace(trace_id: str, fan: int = 5, depth: int = 4, total: int = 5000) -> list[dict]:
    """Spans of one trace: a tree `fan` wide and `depth` deep, the rest as leaves below it."""
    start = time.time_ns() - 60 * 10**9
    spans: list[dict] = []
    counter = iter(range(1, 10**6))

    def add(parent: str | None, level: int, offset_ms: int) -> str:
        span_id = f"{next(counter):016x}"
        spans.append(
            {
                "traceId": trace_id,
                "spanId": span_id,
                **({"parentSpanId": parent} if parent else {}),
                "name": f"op-{level}",
                "kind": 1,
                "startTimeUnixNano": str(start + offset_ms * 10**6),
                "endTimeUnixNano": str(start + (offset_ms + 1000 // (level + 1)) * 10**6),
            }
        )
        return span_id

    levels = [[add(None, 0, 0)]]
    for level in range(1, depth + 1):
        levels.append([add(p, level, i) for p in levels[-1] for i in range(fan)])
    bottom = levels[-1]
    i = 0
    while len(spans) < total:
        add(bottom[i % len(bottom)], depth + 1, i % 900)
        i += 1
    return spans


def test_a_5000_span_trace_renders_within_its_row_budget(
    page: Page, console: Console, screenshots: object
) -> None:
    trace_id = f"{random.getrandbits(128):032x}"
    spans = _otlp_trace(trace_id)
    collector = console.eco.url("log-collector")
    for batch in range(0, len(spans), 500):
        body = otlp_body({"big": spans[batch : batch + 500]})
        sent = httpx.post(
            collector + "/v1/traces",
            json=body,
            headers=console.eco.headers("log-collector"),
            timeout=60,
        )
        assert sent.status_code < 300, sent.text
    _wait_trace(console, trace_id, spans=5000)
    sign_in_page(page, console.user_key)
    page.goto(f"/traces/{trace_id}")
    rows = page.locator("#wf-rows > .wf-row")
    visible = 1 + 5 + 25 + 125 + 625  # depth 0..4 open; the 4,219 leaves wait collapsed
    expect(rows).to_have_count(400)
    more = page.locator(".wf-more button")
    expect(more).to_have_text(f"Show {visible - 400} more rows")
    shot(page, screenshots, "trace-5000")
    more.click()
    expect(rows).to_have_count(visible)
    expand = page.locator("button.expand").first
    label = expand.inner_text()
    hidden = int(label.lstrip("+"))
    expand.click()
    expect(rows).to_have_count(visible + hidden)


PAGES = [
    "/",
    "/services",
    "/services/orchestrator",
    "/runs",
    "/ask",
    "/documents",
    "/traces",
    "/logs",
    "/go/nothing-has-this-id",
]


def test_axe_finds_no_violations_on_any_page_light_or_dark(
    page: Page, console: Console, finished_run: FinishedRun, screenshots: object
) -> None:
    _wait_trace(console, finished_run.trace_id)
    axe = Axe()
    pages = [
        *PAGES,
        f"/runs/{finished_run.run_id}",
        f"/documents/{finished_run.document_id}",
        f"/traces/{finished_run.trace_id}",
    ]
    problems = {}
    for scheme in ("light", "dark"):
        page.emulate_media(color_scheme=scheme)
        page.goto("/signin")
        results = axe.run(page)
        if results.violations_count:
            problems[(scheme, "/signin")] = results.generate_report()
        if scheme == "light":
            sign_in_page(page, console.user_key)
        for path in pages:
            page.goto(path)
            page.wait_for_load_state("networkidle")
            results = axe.run(page)
            if results.violations_count:
                problems[(scheme, path)] = results.generate_report()
            name = re.sub(r"[^a-z0-9]+", "-", path.strip("/").split("/")[0] or "overview")
            if path.count("/") > 1:
                name += "-detail"
            shot(page, screenshots, f"{name}-{scheme}")
    assert not problems, "\n\n".join(f"{k}: {v}" for k, v in problems.items())


def test_axe_finds_no_violations_on_the_prompts_and_usage_pages(
    page: Page, console: Console, finished_run: FinishedRun, screenshots: object
) -> None:
    from .test_prompts_usage import push_prompt

    pushed = push_prompt(console)
    pages = {
        "/prompts": "prompts",
        f"/prompts/{pushed.name}": "prompts-detail",
        "/usage": "usage",
    }
    sign_in_page(page, console.user_key)
    report = axe_report(page, pages, screenshots, "nav[aria-label=Main] a[aria-current=page]")
    page.goto(f"/prompts/{pushed.name}")
    expect(page.locator(f"#exp-{pushed.experiment}")).to_contain_text("tone test")
    page.goto("/usage")
    expect(page.locator("#h-model")).to_be_visible()
    assert not report, report
