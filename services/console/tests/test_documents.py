"""The documents part of the console: the list paged by the doc store's own cursor, a
document's versions and their line diff (the pure core, then the pages against the real
doc store), the PROV graph, and the cross-links between the chain, the spans and the logs."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET

import httpx
import pytest

from eco_console.service.diff import DiffRow, line_diff
from eco_console.service.prov_graph import prov_graph
from eco_shared.testing import wait_until

from .conftest import Console, FinishedRun, key_token, store_document

SVG = "{http://www.w3.org/2000/svg}"


def add_version(console: Console, document_id: str, content: str) -> int:
    """A new version of a document, stored as the console's user; its number."""
    token = key_token(console.eco.url("discovery"), console.user_key, "doc-store")
    updated = httpx.put(
        console.eco.url("doc-store") + f"/documents/{document_id}",
        json={"content": content},
        headers={"Authorization": f"Bearer {token}"},
        timeout=10,
    )
    assert updated.status_code == 200, updated.text
    return int(updated.json()["version"])


# --- the diff core ---


def test_a_line_diff_marks_added_and_removed_lines_with_their_numbers() -> None:
    old = b"one\ntwo\nthree\n"
    new = b"one\n2\nthree\nfour\n"
    diff = line_diff(old, new)
    assert (diff.added, diff.removed, diff.reason) == (2, 1, None)
    assert diff.rows == [
        DiffRow("same", 1, 1, "one"),
        DiffRow("removed", 2, None, "two"),
        DiffRow("added", None, 2, "2"),
        DiffRow("same", 3, 3, "three"),
        DiffRow("added", None, 4, "four"),
    ]


def test_long_unchanged_runs_fold_into_gaps_with_context_kept() -> None:
    lines = [f"line {i}" for i in range(1, 41)]
    changed = [*lines[:19], "line twenty", *lines[20:]]
    diff = line_diff("\n".join(lines).encode(), "\n".join(changed).encode(), context=2)
    kinds = [r.kind for r in diff.rows]
    assert kinds == ["gap", "same", "same", "removed", "added", "same", "same", "gap"]
    assert [r.hidden for r in diff.rows if r.kind == "gap"] == [17, 18]
    assert diff.rows[3] == DiffRow("removed", 20, None, "line 20")
    assert diff.rows[4] == DiffRow("added", None, 20, "line twenty")
    assert sum(r.hidden for r in diff.rows) + len(diff.rows) - 2 == 41  # every line counted


def test_identical_texts_have_no_rows() -> None:
    diff = line_diff(b"same\n", b"same\n")
    assert diff.identical
    assert diff.rows == []
    assert not line_diff(b"a", b"b").identical


@pytest.mark.parametrize(
    ("old", "new", "says"),
    [
        (b"\x00\x01binary", b"text", "Not text"),
        (b"text", b"\xff\xfe not utf-8", "Not text"),
        (b"x" * 2000, b"y", "Too large"),
        (b"\n".join([b"l"] * 50), b"short", "Too many lines"),
    ],
)
def test_binary_or_huge_sides_degrade_to_a_sentence(old: bytes, new: bytes, says: str) -> None:
    diff = line_diff(old, new, max_bytes=1000, max_lines=40)
    assert diff.rows == []
    assert diff.reason is not None
    assert diff.reason.startswith(says)
    assert not diff.identical


# --- the pages ---


def test_the_list_pages_by_the_doc_stores_cursor(console: Console) -> None:
    marker = "kittiwake"
    made = [store_document(console, f"{marker} {i}", f"a {marker}") for i in range(23)]
    with console.signed_in() as client:
        seen: list[str] = []
        pages = 0
        url = f"/documents?q={marker}"
        for _ in range(10):
            pages += 1
            page = client.get(url)
            assert page.status_code == 200
            seen += re.findall(r'<a href="/documents/([0-9a-f-]+)">', page.text)
            nxt = re.search(r'<a rel="next" href="([^"]+)"', page.text)
            if nxt is None:
                break
            url = "/documents" + nxt.group(1).replace("&amp;", "&")
        # newest first, each once, across pages of ECO_CONSOLE_PAGE_SIZE (20)
        assert (seen, pages) == (made[::-1], 2)
        bad = client.get("/documents?cursor=bm90LW91cnM")
        assert bad.status_code == 200  # the doc store's 400 is a sentence on the page
        assert "not a cursor this service handed out" in bad.text


def test_versions_are_listed_with_links_and_a_version_is_shown(console: Console) -> None:
    doc_id = store_document(console, "Guillemot", "first line\nsecond line\n")
    assert add_version(console, doc_id, "first line\nsecond, changed\n") == 2
    with console.signed_in() as client:
        latest = client.get(f"/documents/{doc_id}").text
        versions = latest.split('id="h-versions"', 1)[1].split("</section>", 1)[0]
        assert f'href="/documents/{doc_id}?version=1"' in versions
        assert f'href="/documents/{doc_id}?version=2" aria-current="page"' in versions
        assert f'href="/documents/{doc_id}/diff?from=1&amp;to=2"' in versions
        first = client.get(f"/documents/{doc_id}?version=1")
        assert first.status_code == 200
        assert "v1 of 2" in first.text
        assert f'src="/documents/{doc_id}/content?version=1"' in first.text
        assert f'href="/documents/{doc_id}?version=1" aria-current="page"' in first.text
        content = client.get(f"/documents/{doc_id}/content?version=1")
        assert content.text == "first line\nsecond line\n"
        assert client.get(f"/documents/{doc_id}?version=9").status_code == 404
        assert client.get(f"/documents/{doc_id}?version=0").status_code == 422


def test_the_diff_page_is_an_accessible_table_of_changed_lines(console: Console) -> None:
    doc_id = store_document(console, "Shag", "keep\n<b>old</b> line\nkeep too\n")
    add_version(console, doc_id, "keep\n<b>new</b> line\nkeep too\nadded at the end\n")
    with console.signed_in() as client:
        page = client.get(f"/documents/{doc_id}/diff", params={"from": 1, "to": 2})
        assert page.status_code == 200
        html = page.text
        assert "+2 added" in html
        assert "−1 removed" in html
        removed = re.findall(r'<tr class="diff-removed" data-diff="removed">(.*?)</tr>', html)
        added = re.findall(r'<tr class="diff-added" data-diff="added">(.*?)</tr>', html)
        assert len(removed) == 1
        assert len(added) == 2
        # text and symbol, never colour alone; the document's markup escaped
        assert '<span class="visually-hidden">removed</span>' in removed[0]
        assert "<del>&lt;b&gt;old&lt;/b&gt; line</del>" in removed[0]
        assert "<ins>&lt;b&gt;new&lt;/b&gt; line</ins>" in added[0]
        assert "<ins>added at the end</ins>" in added[1]
        assert "<caption" in html
        assert 'scope="col"' in html
        same = client.get(f"/documents/{doc_id}/diff", params={"from": 2, "to": 2})
        assert "The two versions are identical." in same.text
        missing = client.get(f"/documents/{doc_id}/diff", params={"from": 1, "to": 7})
        assert missing.status_code == 404
        assert "doc-store has no such thing" in missing.text
        assert client.get(f"/documents/{doc_id}/diff", params={"from": 1}).status_code == 422
        bad = client.get(f"/documents/{doc_id}/diff", params={"from": "x", "to": 2})
        assert bad.status_code == 422


def test_a_huge_version_is_a_sentence_not_a_diff(console: Console) -> None:
    doc_id = store_document(console, "Big", "small\n")
    add_version(console, doc_id, "word\n" * 120_000)  # 600,000 bytes: over the limit
    with console.signed_in() as client:
        page = client.get(f"/documents/{doc_id}/diff", params={"from": 1, "to": 2})
        assert page.status_code == 200
        assert "Too large to compare here" in page.text
        assert "data-diff=" not in page.text


# --- the PROV graph core ---

# the shape the doc store's exporter (the `prov` package) writes: typed values as {"$": ...},
# a repeated relation id holding a list
PROV_JSON = {
    "prefix": {"eco": "urn:eco:"},
    "entity": {
        "eco:document/d/v/1": {"prov:label": "Orders API", "eco:version": {"$": "1"}},
        "eco:document/d/v/2": {"prov:label": "Orders API", "eco:version": {"$": "2"}},
        "eco:input/http%3A%2F%2Fx%2Fopenapi.json": {"eco:uri": "http://x/openapi.json"},
        "eco:prompt/api/3/abc": {"prov:label": "api v3", "eco:name": "api", "eco:version": "3"},
    },
    "activity": {
        "eco:run/r1": {"eco:workflow_name": "api_documentation", "eco:trace_id": "ab" * 16}
    },
    "agent": {
        "eco:service/llm-gateway": {"eco:service": "llm-gateway"},
        "eco:user/alice": {"eco:subject": "user:alice"},
    },
    "wasGeneratedBy": {
        "_:g1": {"prov:entity": "eco:document/d/v/2", "prov:activity": "eco:run/r1"}
    },
    "used": {
        "_:u1": [
            {
                "prov:activity": "eco:run/r1",
                "prov:entity": "eco:input/http%3A%2F%2Fx%2Fopenapi.json",
            },
            {"prov:activity": "eco:run/r1", "prov:entity": "eco:prompt/api/3/abc"},
        ]
    },
    "wasAssociatedWith": {
        "_:a1": {"prov:activity": "eco:run/r1", "prov:agent": "eco:service/llm-gateway"}
    },
    "wasAttributedTo": {
        "_:t1": {"prov:entity": "eco:document/d/v/2", "prov:agent": "eco:user/alice"}
    },
    "wasDerivedFrom": {
        "_:r1": {
            "prov:generatedEntity": "eco:document/d/v/2",
            "prov:usedEntity": "eco:document/d/v/1",
            "prov:type": {"$": "prov:Revision", "type": "xsd:QName"},
        }
    },
    "actedOnBehalfOf": {
        "_:b1": {"prov:delegate": "eco:service/llm-gateway", "prov:responsible": "eco:user/alice"}
    },
}


def test_the_prov_graph_has_every_node_in_its_shape_and_every_relation() -> None:
    g = prov_graph(PROV_JSON)
    assert g.reason is None
    kinds = {n.id: n.kind for n in g.nodes}
    assert kinds == {
        "eco:document/d/v/1": "entity",
        "eco:document/d/v/2": "entity",
        "eco:input/http%3A%2F%2Fx%2Fopenapi.json": "entity",
        "eco:prompt/api/3/abc": "entity",
        "eco:run/r1": "activity",
        "eco:service/llm-gateway": "agent",
        "eco:user/alice": "agent",
    }
    labels = {n.id: n.label for n in g.nodes}
    assert labels["eco:document/d/v/2"] == "Orders API v2"
    assert labels["eco:prompt/api/3/abc"] == "api v3"
    assert labels["eco:run/r1"] == "run api_documentation"
    assert labels["eco:input/http%3A%2F%2Fx%2Fopenapi.json"] == "openapi.json"
    assert g.trace_id == "ab" * 16
    said = {(s.subject, s.phrase, s.object) for s in g.sentences}
    assert said == {
        ("Orders API v2", "was generated by", "run api_documentation"),
        ("run api_documentation", "used", "openapi.json"),
        ("run api_documentation", "used", "api v3"),
        ("run api_documentation", "was associated with", "llm-gateway"),
        ("Orders API v2", "was attributed to", "user:alice"),
        ("Orders API v2", "was a revision of", "Orders API v1"),
        ("llm-gateway", "acted on behalf of", "user:alice"),
    }
    assert len(g.edges) == 7  # one drawn edge per related pair
    assert g.title == "PROV graph: 4 entities, 1 activities, 2 agents"


def test_the_prov_graph_layout_points_down_without_overlaps_and_is_deterministic() -> None:
    g = prov_graph(PROV_JSON)
    centre = {n.id: (n.cx, n.cy) for n in g.nodes}
    # subject above object: the document, then its run, then what the run used
    assert centre["eco:document/d/v/2"][1] < centre["eco:run/r1"][1]
    assert centre["eco:run/r1"][1] < centre["eco:prompt/api/3/abc"][1]
    for a in g.nodes:
        assert 0 <= a.x
        assert a.x + a.width <= g.width
        assert a.y + a.height <= g.height
        for b in g.nodes:
            if a.id < b.id:
                apart = abs(a.cx - b.cx) >= a.width or abs(a.cy - b.cy) >= a.height
                assert apart, (a.id, b.id)
    assert prov_graph(PROV_JSON) == g
    agent = next(n for n in g.nodes if n.kind == "agent")
    assert len(agent.points.split()) == 5  # the house: a pentagon


def test_an_empty_or_huge_prov_document_is_a_sentence() -> None:
    assert prov_graph({"prefix": {}}).reason == (
        "The PROV-JSON names no entity, activity or agent."
    )
    big = {"entity": {f"eco:e{i}": {} for i in range(50)}}
    g = prov_graph(big, max_nodes=40)
    assert g.nodes == []
    assert g.reason is not None
    assert "Too many nodes" in g.reason


# --- the document page of a real run: the PROV graph and the cross-links ---


def wait_trace(console: Console, trace_id: str, min_spans: int = 5) -> None:
    url = f"{console.eco.url('log-collector')}/traces/{trace_id}"

    def stored() -> bool:
        got = httpx.get(url, headers=console.eco.headers("log-collector"), timeout=10)
        return got.status_code == 200 and got.json()["span_count"] >= min_spans

    wait_until(stored, timeout_s=30, interval_s=0.3)


def test_a_run_documents_page_draws_its_prov_graph(
    console: Console, finished_run: FinishedRun
) -> None:
    with console.signed_in() as client:
        html = client.get(f"/documents/{finished_run.document_id}").text
        prov = client.get(f"/documents/{finished_run.document_id}/prov.json").json()
    section = html.split('id="prov-graph"', 1)[1].split("</section>", 1)[0]
    assert f'data-prov-trace-id="{finished_run.trace_id}"' in html
    svg = ET.fromstring(re.search(r"<svg .*?</svg>", section, re.S).group(0))  # type: ignore[union-attr]
    assert svg.find(f"{SVG}title") is not None
    nodes = {g.get("data-prov-node"): g for g in svg.iter(f"{SVG}g") if g.get("data-prov-node")}
    # every entity, activity and agent of the PROV-JSON is drawn, in PROV's shape
    for kind, shape in (("entity", "ellipse"), ("activity", "rect"), ("agent", "polygon")):
        assert prov[kind]
        for ident in prov[kind]:
            assert nodes[ident].get("data-kind") == kind
            assert nodes[ident].find(f"{SVG}{shape}") is not None
            assert (nodes[ident].findtext(f"{SVG}text") or "").strip()
    run = next(iter(prov["activity"]))
    assert any(
        e.get("data-edge", "").endswith(f"→{run}") and "wasGeneratedBy" in e.get("data-relation")
        for e in svg.iter(f"{SVG}path")
    )
    assert "was generated by" in section  # the text alternative
    assert 'data-prov-relation="wasAssociatedWith"' in section


def test_chain_entries_link_to_their_span_and_logs_and_back(
    console: Console, finished_run: FinishedRun
) -> None:
    wait_trace(console, finished_run.trace_id)
    doc = f"/documents/{finished_run.document_id}"
    with console.signed_in() as client:
        found: list[tuple[str, str]] = []

        def linked() -> bool:
            # spans reach the log collector in batches: wait until the chain's are there
            html = client.get(doc).text
            chain = html.split('<ol class="chain"', 1)[1].split("</ol>", 1)[0]
            found[:] = re.findall(r'<li id="chain-(\d+)" data-chain-span="([0-9a-f]{16})"', chain)
            return bool(found)

        wait_until(linked, timeout_s=30, interval_s=0.5)
        html = client.get(doc).text
        chain = html.split('<ol class="chain"', 1)[1].split("</ol>", 1)[0]
        every_log = html.split('id="h-logs"', 1)[1]
        entry, sid = found[0]
        assert f'href="?span={sid}#span-{sid}" data-chain-link="span"' in chain
        assert f'href="?span={sid}#span-detail" data-chain-link="logs"' in chain
        selected = client.get(doc, params={"span": sid}).text
    # the span is selected in the waterfall, its details and log lines are drawn, and they
    # link back to the chain entry, which is marked
    assert re.search(rf'class="wf-row[^"]* selected" id="span-{sid}"', selected)
    assert f'id="span-detail" data-span-id="{sid}"' in selected
    detail = selected.split('id="span-detail"', 1)[1].split("</section>", 1)[0]
    # exactly the trace's log lines of that span, no other's
    row = r'<tr id="(log-[^"]+)" data-span="([0-9a-f]+)"'
    logs = re.findall(row, detail)
    assert {s for _, s in logs} <= {sid}
    assert [i for i, _ in logs] == [i for i, s in re.findall(row, every_log) if s == sid]
    assert f'<a href="#chain-{entry}" data-chain-back="{entry}">' in selected
    assert f'<li id="chain-{entry}" data-chain-span="{sid}" class="selected">' in selected
    with console.signed_in() as client:
        assert client.get(doc, params={"span": "nope"}).status_code == 422
