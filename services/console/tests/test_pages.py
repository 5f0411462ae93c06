"""The console's pages and fragments against the real ecosystem: status, links, ARIA,
escaping, the sandboxed document view, live progress, review and cancel with scopes."""

from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path

import httpx
import pytest
import redis

from eco_shared.bus._event import envelope_fields, new_event_id, utc_now_rfc3339
from eco_shared.sse import iter_sse
from eco_shared.testing import wait_until

from .conftest import Console, FinishedRun, ask, csrf_of, store_document, wait_status

# the session's ecosystem starts within the first test's time
pytestmark = [pytest.mark.slow, pytest.mark.timeout(600)]

XSS = "<script>alert('x')</script>"
STATIC = Path(__file__).resolve().parents[1] / "src" / "eco_console" / "static"


def _wait_trace(console: Console, trace_id: str, min_spans: int = 1) -> None:
    url = f"{console.eco.url('log-collector')}/traces/{trace_id}"

    def stored() -> bool:
        got = httpx.get(url, headers=console.eco.headers("log-collector"), timeout=10)
        return got.status_code == 200 and got.json()["span_count"] >= min_spans

    wait_until(stored, timeout_s=30, interval_s=0.3)


def test_overview_shows_every_part(console: Console) -> None:
    with console.signed_in() as client:
        page = client.get("/")
        assert page.status_code == 200
        html = page.text
        for heading in (
            "Services",
            "Runs in progress",
            "Waiting for review",
            "Recent errors",
            "LLM usage today",
        ):
            assert f">{heading}</h2>" in html, heading
        assert '<nav aria-label="Main">' in html
        assert '<a href="/" aria-current="page">Overview</a>' in html
        # status in words beside the icon, never by colour alone
        passing = (
            '<span class="status status-passing"><span aria-hidden="true">✔</span> passing</span>'
        )
        assert f'<a href="/services/orchestrator">orchestrator</a> {passing}' in html
        assert 'role="alert"' not in html  # every upstream answered


def test_services_pages_show_leases_checks_and_intents(console: Console) -> None:
    with console.signed_in() as client:
        listing = client.get("/services")
        assert listing.status_code == 200
        assert 'class="countdown" data-expires="' in listing.text
        assert "doc-store" in listing.text
        assert "passing" in listing.text
        one = client.get("/services/orchestrator")
        assert one.status_code == 200
        assert "run a natural-language query as a workflow" in one.text  # its x-eco-intent
        assert "<code>/queries</code>" in one.text
        missing = client.get("/services/no-such-service")
        assert missing.status_code == 404
        assert 'role="alert"' in missing.text


def test_run_page_has_the_node_timeline_and_links(
    console: Console, finished_run: FinishedRun
) -> None:
    with console.signed_in() as client:
        page = client.get(f"/runs/{finished_run.run_id}")
        assert page.status_code == 200
        html = page.text
        assert "completed</span>" in html
        assert re.search(r"done</span> <strong>understand</strong>", html)
        assert re.search(r"done</span> <strong>store</strong>", html)
        assert f'href="/documents/{finished_run.document_id}"' in html
        assert f'href="/traces/{finished_run.trace_id}"' in html
        assert "Cancel run" not in html  # finished: nothing to cancel
        listing = client.get("/runs", params={"status": "completed"})
        assert f'href="/runs/{finished_run.run_id}"' in listing.text
        assert client.get("/runs", params={"cursor": "not-ours"}).status_code == 400


def test_document_page_joins_provenance_trace_and_logs(
    console: Console, finished_run: FinishedRun
) -> None:
    _wait_trace(console, finished_run.trace_id, min_spans=5)
    doc_id, trace_id = finished_run.document_id, finished_run.trace_id
    with console.signed_in() as client:
        page = client.get(f"/documents/{doc_id}")
        assert page.status_code == 200
        html = page.text
        frame = re.search(r"<iframe [^>]*>", html)
        assert frame is not None
        assert 'sandbox=""' in frame.group(0)
        assert f'src="/documents/{doc_id}/content"' in frame.group(0)
        # every view names the same trace
        ids = set(re.findall(r'data-trace-id="([0-9a-f]+)"', html))
        assert ids == {trace_id}
        # a services-chain entry links to a span that the waterfall on the page draws
        chain = html.split('<ol class="chain"', 1)[1].split("</ol>", 1)[0]
        span_links = re.findall(
            rf'href="/traces/{trace_id}\?span=([0-9a-f]+)#span-\1" data-trace-id', chain
        )
        assert span_links
        drawn = set(re.findall(r'id="span-([0-9a-f]+)"', html))
        assert set(span_links) <= drawn  # every linked span is drawn, opened if deep
        assert 'role="table" aria-label="Trace waterfall"' in html
        assert "Logs of the trace" in html
        assert "run_completed" in html
        content = client.get(f"/documents/{doc_id}/content")
        assert content.status_code == 200
        assert "sandbox" in content.headers["content-security-policy"]
        assert "default-src 'none'" in content.headers["content-security-policy"]
        prov = client.get(f"/documents/{doc_id}/prov.json")
        assert prov.status_code == 200
        assert "entity" in prov.json()
        bundle = client.get(f"/documents/{doc_id}/bundle.zip")
        assert bundle.status_code == 200
        assert bundle.content[:2] == b"PK"
        sha = hashlib.sha256(client.get(f"/documents/{doc_id}/content").content).hexdigest()
        assert sha in html  # the content sha256 the provenance shows is the bytes' own


def test_trace_page_selects_a_span_with_its_logs(
    console: Console, finished_run: FinishedRun
) -> None:
    _wait_trace(console, finished_run.trace_id, min_spans=5)
    with console.signed_in() as client:
        page = client.get(f"/traces/{finished_run.trace_id}")
        assert page.status_code == 200
        rows = re.findall(r'id="span-([0-9a-f]{16})"', page.text)
        assert rows
        logs = httpx.get(
            f"{console.eco.url('log-collector')}/logs",
            params={"trace_id": finished_run.trace_id},
            headers=console.eco.headers("log-collector"),
        ).json()["items"]
        detail = httpx.get(
            f"{console.eco.url('log-collector')}/traces/{finished_run.trace_id}",
            headers=console.eco.headers("log-collector"),
        ).json()
        stored: set[str] = set()
        pending = list(detail["roots"])
        while pending:
            one = pending.pop()
            stored.add(one["span_id"])
            pending.extend(one["children"])
        with_span = next(r for r in logs if r["span_id"] in stored)
        selected = client.get(
            f"/traces/{finished_run.trace_id}", params={"span": with_span["span_id"]}
        )
        assert f'data-span-id="{with_span["span_id"]}"' in selected.text
        detail = selected.text.split('id="span-detail"', 1)[1]
        assert with_span["message"] in detail  # the span's log lines beneath it
        fragment = client.get(
            f"/traces/{finished_run.trace_id}/fragments/rows",
            params={"under": rows[0]},
            headers={"HX-Request": "true"},
        )
        assert fragment.status_code == 200
        assert f'id="span-{rows[0]}"' not in fragment.text  # only what is under it
        assert client.get(f"/traces/{'0' * 32}").status_code == 404


def test_go_resolves_the_ids_users_have(console: Console, finished_run: FinishedRun) -> None:
    _wait_trace(console, finished_run.trace_id)
    with console.signed_in() as client:
        expected = {
            finished_run.run_id: f"/runs/{finished_run.run_id}",
            finished_run.document_id: f"/documents/{finished_run.document_id}",
            finished_run.trace_id: f"/traces/{finished_run.trace_id}",
        }
        for item, target in expected.items():
            went = client.get(f"/go/{item}")
            assert went.status_code == 303
            assert went.headers["location"] == target
        form = client.get("/go", params={"id": finished_run.run_id})
        assert form.headers["location"] == f"/go/{finished_run.run_id}"
        unknown = client.get("/go/nothing-has-this-id")
        assert unknown.status_code == 404
        assert "Nothing has the id nothing-has-this-id" in unknown.text


def test_titles_and_log_messages_are_escaped(console: Console) -> None:
    doc_id = store_document(console, XSS, f"<p>hi</p>{XSS}", "html")
    stream = redis.Redis.from_url(console.eco.env["ECO_REDIS_URL"])
    marker = new_event_id()
    stream.xadd(
        "eco.logs",
        envelope_fields(
            id=marker,
            source="console-test",
            type="log.record",
            time=utc_now_rfc3339(),
            traceparent="",
            data={"event": f"{XSS} {marker}", "level": "error", "service": "console-test"},
        ),
    )
    with console.signed_in() as client:
        listing = client.get("/documents")
        document = client.get(f"/documents/{doc_id}")

        def logged() -> str | None:
            page = client.get("/logs", params={"service": "console-test"})
            return page.text if marker in page.text else None

        logs = str(wait_until(logged, timeout_s=30, interval_s=0.3))
    escaped = "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;"
    for html in (listing.text, document.text, logs):
        assert escaped in html
        assert XSS not in html


def test_a_run_streams_its_progress_and_resumes(console: Console) -> None:
    with console.signed_in() as client:
        run_id = ask(client, "Create API documentation for the log-collector service")
        page = client.get(f"/runs/{run_id}")
        assert f'sse-connect="/runs/{run_id}/live"' in page.text or "completed" in page.text
        events: list[tuple[str, str, str]] = []
        with client.stream("GET", f"/runs/{run_id}/live") as stream:
            assert stream.headers["content-type"].startswith("text/event-stream")
            for event in iter_sse(stream.iter_lines()):
                events.append((event.id, event.event, event.data))
                if event.event == "finished":
                    break
        progress = [e for e in events if e[1] == "progress"]
        assert any("<strong>understand</strong> started" in e[2] for e in progress)
        assert any("Open the document" in e[2] for e in events if e[1] == "finished")
        middle = progress[len(progress) // 2][0]
        later = []
        with client.stream(
            "GET", f"/runs/{run_id}/live", headers={"Last-Event-ID": middle}
        ) as stream:
            for line in stream.iter_lines():
                if line.startswith("id: "):
                    later.append(line[4:])
                if line.startswith("event: finished"):
                    break
        assert later
        assert middle not in later
        assert later[0] == progress[len(progress) // 2 + 1][0]


def test_review_and_cancel_are_forms_that_need_the_scopes(console: Console) -> None:
    with console.signed_in() as client:
        approve_me = ask(client, "Create API documentation for the discovery service", review=True)
        cancel_me = ask(client, "Create API documentation for the llm-gateway service", review=True)
    wait_status(console, approve_me, {"waiting_review"})
    wait_status(console, cancel_me, {"waiting_review"})
    with console.signed_in(console.reader_key) as reader:
        page = reader.get(f"/runs/{cancel_me}")
        refused = reader.post(
            f"/runs/{cancel_me}/cancel",
            data={"csrf": csrf_of(page.text)},
            headers={"Origin": console.url},
        )
        assert refused.status_code == 403
        assert 'role="alert"' in refused.text
        assert "your key lacks the scope" in refused.text
    with console.signed_in() as client:
        page = client.get(f"/runs/{approve_me}")
        assert 'name="decision" value="approve"' in page.text
        assert '<label for="comment">Comment</label>' in page.text
        approved = client.post(
            f"/runs/{approve_me}/review",
            data={"csrf": csrf_of(page.text), "decision": "approve", "comment": "fine"},
            headers={"Origin": console.url},
        )
        assert approved.status_code == 303
        page = client.get(f"/runs/{cancel_me}")
        cancelled = client.post(
            f"/runs/{cancel_me}/cancel",
            data={"csrf": csrf_of(page.text)},
            headers={"Origin": console.url},
        )
        assert cancelled.status_code == 303
    assert wait_status(console, approve_me, {"completed", "failed"})["status"] == "completed"
    assert wait_status(console, cancel_me, {"cancelled"})["status"] == "cancelled"


def test_the_vendored_files_are_the_ones_named(console: Console) -> None:
    notes = (STATIC / "VENDORED.md").read_text()
    for name in ("htmx.min.js", "htmx-ext-sse.min.js"):
        digest = hashlib.sha256((STATIC / name).read_bytes()).hexdigest()
        assert digest in notes, name
        served = httpx.get(f"{console.url}/static/{name}")
        assert served.status_code == 200
        assert served.headers["content-type"].startswith("text/javascript")
    assert httpx.get(f"{console.url}/static/..%2Fmain.py").status_code == 404
    assert (STATIC / "htmx.LICENSE.txt").is_file()
    assert (STATIC / "htmx-ext-sse.LICENSE.txt").is_file()


def test_an_issuer_that_is_away_is_a_message_not_a_500(console: Console) -> None:
    from eco_shared.redis_server import free_port
    from eco_shared.testing import ServiceProcess

    from .conftest import APP, sign_in  # noqa: F401

    env = {
        **console.eco.env,
        "ECO_DISCOVERY_URL": f"http://127.0.0.1:{free_port()}",
        "ECO_CONSOLE_REGISTER_WITH_DISCOVERY": "false",
    }
    proc = ServiceProcess(APP, env=env, port_env="ECO_CONSOLE_PORT").start()
    try:
        with httpx.Client(base_url=proc.url, timeout=30) as client:
            form = client.get("/signin")
            answer = client.post(
                "/signin",
                data={"api_key": console.user_key, "csrf": csrf_of(form.text)},
                headers={"Origin": proc.url},
            )
            assert answer.status_code == 503
            assert "cannot check keys" in answer.text
    finally:
        proc.terminate()


def test_json_is_not_needed_to_read_a_page(console: Console) -> None:
    # pages are HTML (autoescaped templates), fragments too; errors of the guard are problems
    with console.signed_in() as client:
        assert client.get("/logs").headers["content-type"].startswith("text/html")
        refused = client.post("/ask", data={}, headers={"Origin": "http://evil.example"})
        assert json.loads(refused.text)["status"] == 403
