"""The documents part of the console in headless Chromium: the document page's five views
agree on one trace id, a version diff, the chain ↔ span ↔ logs links, and axe with zero
violations on the document page, the diff page and a search, light and dark."""

from __future__ import annotations

import re

import httpx
import pytest
from playwright.sync_api import Page, expect

from eco_shared.testing import wait_until

from .conftest import (
    Console,
    FinishedRun,
    axe_report,
    key_token,
    shot,
    sign_in_page,
    store_document,
)

pytestmark = [pytest.mark.slow, pytest.mark.timeout(600)]


def _wait_chain_spans(console: Console, page: Page, document_id: str) -> None:
    """Spans reach the log collector in batches: wait until the chain's spans are drawn."""

    def linked() -> bool:
        page.goto(f"/documents/{document_id}")
        return page.locator("ol.chain li[data-chain-span]").count() > 0

    wait_until(linked, timeout_s=60, interval_s=0.5)


def _two_versions(console: Console) -> str:
    doc_id = store_document(
        console, "Field notes", "# Field notes\n\nPuffins nest in burrows.\nGannets dive.\n"
    )
    token = key_token(console.eco.url("discovery"), console.user_key, "doc-store")
    updated = httpx.put(
        console.eco.url("doc-store") + f"/documents/{doc_id}",
        json={
            "content": "# Field notes\n\nPuffins nest in burrows.\nGannets plunge-dive.\n"
            "Skuas steal fish.\n"
        },
        headers={"Authorization": f"Bearer {token}"},
        timeout=10,
    )
    assert updated.status_code == 200, updated.text
    return doc_id


def test_the_document_pages_five_views_agree_on_one_trace_id(
    page: Page, console: Console, finished_run: FinishedRun, screenshots: object
) -> None:
    sign_in_page(page, console.user_key)
    _wait_chain_spans(console, page, finished_run.document_id)
    # 1. the provenance
    provenance = page.locator("#h-prov ~ dl.facts dd[data-trace-id]").get_attribute("data-trace-id")
    # 2. the waterfall
    waterfall = page.locator(".waterfall[data-trace-id]").get_attribute("data-trace-id")
    # 3. the logs: every log line's trace link
    logs = page.eval_on_selector_all(
        "section[aria-labelledby=h-logs] tbody a[data-trace-id]",
        "els => els.map(e => e.dataset.traceId)",
    )
    # 4. the PROV-JSON the page offers (downloaded with the browser's session), and the
    # trace id its graph drew from it
    prov = page.request.get(f"/documents/{finished_run.document_id}/prov.json")
    assert prov.ok
    prov_ids = {a.get("eco:trace_id") for a in prov.json()["activity"].values()}
    drawn = page.locator("#prov-graph").get_attribute("data-prov-trace-id")
    # the run graph beside them, loaded into the page: the path taken ends in the store
    expect(page.locator("#run-graph g[data-node=store]")).to_have_attribute(
        "data-state", "done", timeout=30_000
    )
    shot(page, screenshots, "document-five-views")
    # 5. the run the provenance links to, opened from the page
    page.locator("#h-prov ~ dl.facts a[href^='/runs/']").click()
    page.wait_for_url(re.compile(r"/runs/[0-9a-f]+$"))
    run_trace = page.locator("dt:text-is('Trace') + dd a").inner_text()

    assert logs, "no log line of the trace on the page"
    assert provenance == finished_run.trace_id
    assert {provenance, waterfall, *logs, *prov_ids, drawn, run_trace} == {provenance}


def test_a_chain_entry_opens_its_span_and_logs_and_links_back(
    page: Page, console: Console, finished_run: FinishedRun, screenshots: object
) -> None:
    sign_in_page(page, console.user_key)
    _wait_chain_spans(console, page, finished_run.document_id)
    entry = page.locator("ol.chain li[data-chain-span]").first
    sid = entry.get_attribute("data-chain-span")
    number = (entry.get_attribute("id") or "").removeprefix("chain-")
    entry.locator("a[data-chain-link=span]").click()
    page.wait_for_url(re.compile(rf"\?span={sid}#span-{sid}$"))
    expect(page.locator(f"#span-{sid}")).to_have_class(re.compile(r"\bselected\b"))
    expect(page.locator("#span-detail")).to_have_attribute("data-span-id", str(sid))
    expect(page.locator(f"#chain-{number}")).to_have_class(re.compile(r"\bselected\b"))
    shot(page, screenshots, "document-span-selected")
    # and back: the span's details name the chain entry it recorded
    page.locator(f"a[data-chain-back='{number}']").click()
    expect(page).to_have_url(re.compile(rf"#chain-{number}$"))
    expect(page.locator(f"#chain-{number}")).to_be_in_viewport()


def test_a_version_diff_in_the_browser(page: Page, console: Console, screenshots: object) -> None:
    doc_id = _two_versions(console)
    sign_in_page(page, console.user_key, f"/documents/{doc_id}")
    versions = page.locator("#versions")
    expect(versions.locator("tbody tr")).to_have_count(2)
    expect(versions.locator("a[aria-current=page]")).to_have_text("v2")
    # the compare form (keyboard: the selects, then Enter on the button)
    page.select_option("#diff-from", "1")
    page.select_option("#diff-to", "2")
    page.locator("form[aria-label='Compare two versions'] button").press("Enter")
    page.wait_for_url(re.compile(rf"/documents/{doc_id}/diff\?from=1&to=2$"))
    expect(page.locator("h1")).to_have_text("Field notes: v1 → v2")
    expect(page.locator("[data-diff-summary]")).to_have_text("+2 added, −1 removed lines.")
    expect(page.locator("tr[data-diff=removed] del")).to_have_text(["Gannets dive."])
    expect(page.locator("tr[data-diff=added] ins")).to_have_text(
        ["Gannets plunge-dive.", "Skuas steal fish."]
    )
    # the change is said in words to assistive technology, not by colour alone
    expect(page.locator("tr[data-diff=added] .visually-hidden").first).to_have_text("added")
    shot(page, screenshots, "document-diff")
    page.locator(f"main p a[href='/documents/{doc_id}?version=1']").click()
    page.wait_for_url(re.compile(rf"/documents/{doc_id}\?version=1$"))
    expect(page.locator("#versions a[aria-current=page]")).to_have_text("v1")


def test_axe_finds_no_violations_on_the_documents_pages_light_or_dark(
    page: Page, console: Console, finished_run: FinishedRun, screenshots: object
) -> None:
    doc_id = _two_versions(console)
    sign_in_page(page, console.user_key)
    _wait_chain_spans(console, page, finished_run.document_id)
    span = page.locator("ol.chain li[data-chain-span]").first.get_attribute("data-chain-span")
    pages = {
        "/documents?q=field+notes": "documents-search",
        f"/documents/{finished_run.document_id}": "document-prov",
        f"/documents/{finished_run.document_id}?span={span}": "document-span",
        f"/documents/{doc_id}?version=1": "document-version",
        f"/documents/{doc_id}/diff?from=1&to=2": "document-diff",
    }
    report = axe_report(page, pages, screenshots)
    page.goto("/documents?q=field+notes")
    expect(page.locator(f"tbody[data-list] a[href='/documents/{doc_id}']")).to_be_visible()
    assert not report, report
