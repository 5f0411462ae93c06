"""The traces part of the console in headless Chromium: search → a trace → compare with
another, and axe with zero violations on the search, statistics, compare and services
pages in light and dark (fixtures and helpers as in test_browser.py)."""

from __future__ import annotations

import os
import re
import time
import uuid
from typing import Any

import httpx
import pytest
from playwright.sync_api import Page, expect

from eco_shared.testing import wait_until
from eco_shared.testing.otlp import otlp_body, otlp_span

from .conftest import Console, axe_report, shot, sign_in_page

pytestmark = [pytest.mark.slow, pytest.mark.timeout(600)]


def _two_traces(console: Console) -> tuple[str, str, str]:
    """Two traces of a fresh `front` calling `back`; B's work also calls an LLM."""
    front, back = f"front-{uuid.uuid4().hex[:6]}", f"back-{uuid.uuid4().hex[:6]}"
    now = time.time_ns() - 30 * 10**9
    by_service: dict[str, list[dict[str, Any]]] = {front: [], back: []}
    ids = []
    for i, ms in enumerate((40, 90)):
        trace_id = os.urandom(16).hex()
        root = otlp_span(trace_id, "GET /page", now + i * 10**9, ms)
        work = otlp_span(trace_id, "POST /work", now + i * 10**9 + 1000, ms - 5, root["spanId"])
        by_service[front].append(root)
        by_service[back].append(work)
        if i == 1:
            by_service[back].append(
                otlp_span(trace_id, "llm call", now + i * 10**9 + 2000, 30, work["spanId"])
            )
        ids.append(trace_id)
    body = otlp_body(by_service)
    collector = console.eco.url("log-collector")
    headers = console.eco.headers("log-collector")
    sent = httpx.post(collector + "/v1/traces", json=body, headers=headers, timeout=30)
    assert sent.status_code == 200, sent.text

    def stored() -> bool:
        return all(
            httpx.get(f"{collector}/traces/{t}", headers=headers, timeout=10).status_code == 200
            for t in ids
        )

    wait_until(stored, timeout_s=30, interval_s=0.2)
    return front, ids[0], ids[1]


def test_search_a_trace_open_it_and_compare_it_with_another(
    page: Page, console: Console, screenshots: object
) -> None:
    front, older, newer = _two_traces(console)
    sign_in_page(page, console.user_key, "/traces")
    page.fill("#service", front)
    page.fill("#min_ms", "50")
    page.click("form.trace-search button[type=submit]")
    page.wait_for_url(re.compile(r"/traces\?.*service="))
    rows = page.locator("tr[data-trace-row]")
    expect(rows).to_have_count(1)  # only the 90 ms trace is at least 50 ms long
    expect(page.locator("#min_ms")).to_have_value("50")  # the search stays in the URL
    shot(page, screenshots, "traces-search")
    rows.first.locator("a").click()
    page.wait_for_url(re.compile(rf"/traces/{newer}$"))
    page.fill("#compare-b", older)
    page.click("form.compare-with button[type=submit]")
    page.wait_for_url(re.compile(r"/traces/compare\?a="))
    expect(page.locator("#compare-summary")).to_contain_text("1 only in A, 0 only in B")
    only = page.locator("tr[data-presence=only_a]")
    expect(only).to_have_count(1)
    expect(only).to_contain_text("only in A")
    expect(only).to_contain_text("llm call")
    # the indentation of a node follows its depth (geometry through the CSSOM)
    indent = only.locator(".cmp-name").evaluate("el => getComputedStyle(el).paddingLeft")
    assert float(indent.removesuffix("px")) > 24
    shot(page, screenshots, "traces-compare")
    page.reload()
    expect(page.locator("#compare-summary")).to_contain_text("1 only in A")


def test_axe_finds_no_violations_on_the_traces_pages_light_or_dark(
    page: Page, console: Console, screenshots: object
) -> None:
    front, older, newer = _two_traces(console)
    pages = {
        f"/traces?service={front}&since=1h&errors=": "traces-search",
        "/traces/stats": "traces-stats",
        f"/traces/compare?a={older}&b={newer}": "traces-compare",
        "/services?since=15m": "services-deps",
    }
    sign_in_page(page, console.user_key)
    report = axe_report(page, pages, screenshots, "main h1")
    page.goto("/services?since=15m")
    expect(page.locator("svg.deps-graph")).to_be_visible()
    expect(page.locator(f"table.deps-edges tr[data-edge^='{front}']")).to_have_count(1)
    assert not report, report
