"""The runs pages in headless Chromium: a new run arriving live on the runs list (the
"N new runs — show" bar, held while Paused), a review approved in the browser, two runs
compared from a run's page, and axe on /runs, /runs/{id} and /runs/compare in light and
dark."""

from __future__ import annotations

import re

import pytest
from axe_playwright_python.sync_playwright import Axe
from playwright.sync_api import Page, expect

from .conftest import (
    Console,
    FinishedRun,
    ask,
    ask_for_review_in_page,
    axe_report,
    shot,
    sign_in_page,
    wait_status,
)

pytestmark = [pytest.mark.slow, pytest.mark.timeout(600)]


def test_a_new_run_is_announced_and_paused_holds_it(
    page: Page, console: Console, screenshots: object
) -> None:
    sign_in_page(page, console.user_key, "/runs")
    expect(page.locator("[data-live][data-connected=true]")).to_have_count(1, timeout=30_000)
    toggle = page.locator("[data-live-toggle]")
    toggle.click()
    expect(toggle).to_have_attribute("aria-pressed", "false")
    expect(toggle).to_have_text("Paused")
    with console.signed_in() as client:
        run_id = ask(client, "Create API documentation for the discovery service")
    row = page.locator(f"[data-runs-rows] tr[data-run='{run_id}']")
    bar = page.locator("[data-new-runs]")
    # paused: the change waits in the queue, said in words; nothing moves in the table
    expect(page.locator("[data-live-state]")).to_contain_text("new, not shown yet", timeout=30_000)
    expect(bar).to_be_hidden()
    expect(row).to_have_count(0)
    shot(page, screenshots, "runs-paused")
    toggle.click()
    expect(toggle).to_have_text("Live")
    # live again: the new run is announced above the table, not pushed into it
    expect(bar).to_be_visible()
    expect(bar).to_contain_text("1 new run — show")
    expect(row).to_have_count(0)
    shot(page, screenshots, "runs-new-bar")
    bar.locator("button").click()
    expect(row).to_have_count(1)
    expect(bar).to_be_hidden()
    expect(page.locator("[data-runs-rows] tr").first).to_have_attribute("data-run", run_id)
    # its status follows in place until the run completes
    assert wait_status(console, run_id, {"completed", "failed"})["status"] == "completed"
    expect(row.locator(f"[data-run-status-cell='{run_id}']")).to_contain_text(
        "completed", timeout=30_000
    )
    shot(page, screenshots, "runs-live")


def test_approve_with_a_comment_in_the_browser(
    page: Page, console: Console, screenshots: object
) -> None:
    query = "Create API documentation for the log-collector service"
    run_id = ask_for_review_in_page(page, console, query)
    store = page.locator("#run-graph-body g[data-node=store]")
    expect(store).to_have_attribute("data-state", "not_reached")
    page.fill("textarea[name=comment]", "Reads well; ship it.")
    page.click("button[name=decision][value=approve]")
    page.wait_for_url(re.compile(rf"/runs/{run_id}$"))
    # the graph's nodes change state from the run's live events, not from a reload
    expect(store).to_have_attribute("data-state", "done", timeout=90_000)
    expect(page.locator("#run-graph-body g[data-node=render]")).to_have_attribute(
        "data-state", "done"
    )
    expect(page.locator("#run-finished")).to_contain_text("Open the document")
    expect(page.locator("#run-status")).to_contain_text("completed", timeout=90_000)
    assert wait_status(console, run_id, {"completed"})["status"] == "completed"
    shot(page, screenshots, "run-approved")


def test_axe_finds_no_violations_on_the_runs_pages(
    page: Page, console: Console, finished_run: FinishedRun, screenshots: object
) -> None:
    pages = {"/runs": "runs-list", f"/runs/{finished_run.run_id}": "runs-run"}
    sign_in_page(page, console.user_key)
    report = axe_report(page, pages, screenshots, "nav[aria-label=Main] a[aria-current=page]")
    assert not report, report


def test_compare_two_runs_from_a_runs_page(
    page: Page, console: Console, finished_run: FinishedRun, screenshots: object
) -> None:
    with console.signed_in() as client:
        # the query finished_run asked: the same path through the graph, its own times
        other = ask(client, "Create API documentation for the doc-store service")
    assert wait_status(console, other, {"completed", "failed"})["status"] == "completed"
    sign_in_page(page, console.user_key, f"/runs/{finished_run.run_id}")
    page.fill("#compare-with", other)
    page.click("form[aria-label='Compare this run'] button[type=submit]")
    page.wait_for_url(re.compile(r"/runs/compare\?a="))
    summary = page.locator("#compare-summary")
    expect(summary).to_contain_text("Both runs took the same path")
    # every node of the path is a row with both runs' states, in words as well as colour
    store = page.locator("tbody[data-list] tr[data-node=store]")
    expect(store).to_have_attribute("data-presence", "both")
    expect(store.locator("td").nth(1)).to_contain_text("done")
    expect(store.locator("td").nth(2)).to_contain_text("done")
    expect(page.locator("input#cmp-a")).to_have_value(finished_run.run_id)
    expect(page.locator("input#cmp-b")).to_have_value(other)
    shot(page, screenshots, "runs-compare")
    axe = Axe()
    problems = {}
    for scheme in ("light", "dark"):
        page.emulate_media(color_scheme=scheme)
        page.reload()
        page.wait_for_load_state("networkidle")
        results = axe.run(page)
        if results.violations_count:
            problems[scheme] = results.generate_report()
        shot(page, screenshots, f"runs-compare-{scheme}")
    assert not problems, "\n\n".join(f"{k}: {v}" for k, v in problems.items())
    # and on to their traces, compared span by span
    page.click("#compare-traces")
    page.wait_for_url(re.compile(r"/traces/compare\?a="))
    expect(page.locator("#compare-summary")).to_contain_text("nodes")


def test_the_overview_shows_a_run_waiting_for_review_without_a_reload(
    page: Page, console: Console, screenshots: object
) -> None:
    sign_in_page(page, console.user_key, "/")
    # the page's one stream follows discovery, the runs and the error log: said on the page
    expect(page.locator("#overview-following")).to_have_text(
        "Following services, runs, errors.", timeout=30_000
    )
    with console.signed_in() as client:
        run_id = ask(client, "Create API documentation for the discovery service", review=True)
    wait_status(console, run_id, {"waiting_review"})
    waiting = page.locator(f"#overview-waiting a[href='/runs/{run_id}']")
    expect(waiting).to_be_visible(timeout=30_000)
    expect(page.locator("#overview-services a[href='/services/orchestrator']")).to_be_visible()
    shot(page, screenshots, "overview-live")
