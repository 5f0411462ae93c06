"""Two runs compared: the alignment of their node sequences (pure), and the page against
the real ecosystem, with a completed run and one its reviewer rejected."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from eco_console.service.run_compare import compare_steps, elapsed_ms
from eco_console.service.timeline import NodeStep

from .conftest import Console, FinishedRun, ask, csrf_of, wait_status


def _steps(*nodes: str, status: str = "done", ms: float = 10.0) -> list[NodeStep]:
    return [
        NodeStep(node=n, event_id=str(i), status=status, duration_ms=ms)
        for i, n in enumerate(nodes)
    ]


def test_the_same_path_is_one_row_per_node_with_both_times() -> None:
    a = _steps("plan", "write", "store", ms=10.0)
    b = _steps("plan", "write", "store", ms=25.0)
    got = compare_steps(a, b)
    assert [r.node for r in got.rows] == ["plan", "write", "store"]
    assert {r.presence for r in got.rows} == {"both"}
    assert got.same_path
    assert got.differing == 0
    assert [r.delta_ms for r in got.rows] == [15.0, 15.0, 15.0]


def test_a_path_cut_short_marks_the_nodes_only_the_other_run_took() -> None:
    got = compare_steps(_steps("plan", "review", "store", "render"), _steps("plan", "review"))
    assert [(r.node, r.presence) for r in got.rows] == [
        ("plan", "both"),
        ("review", "both"),
        ("store", "only_a"),
        ("render", "only_a"),
    ]
    assert (got.only_a, got.only_b, got.same_path) == (2, 0, False)
    assert got.rows[2].delta_ms is None  # nothing to subtract from


def test_a_retried_node_is_aligned_in_the_order_the_runs_took_it() -> None:
    got = compare_steps(_steps("plan", "write", "store"), _steps("plan", "write", "write", "store"))
    assert [(r.node, r.presence) for r in got.rows] == [
        ("plan", "both"),
        ("write", "both"),
        ("write", "only_b"),
        ("store", "both"),
    ]
    assert got.rows[1].b is not None
    assert got.rows[1].b.event_id == "1"  # the first visit with the first


def test_nodes_of_one_step_started_in_another_order_are_not_a_detour() -> None:
    got = compare_steps(
        _steps("understand", "spec", "plan", "write"), _steps("understand", "plan", "spec", "write")
    )
    assert got.same_path
    assert [r.node for r in got.rows] == ["understand", "spec", "plan", "write"]
    assert {r.presence for r in got.rows} == {"both"}


def test_a_node_only_b_took_is_placed_after_bs_node_before_it() -> None:
    got = compare_steps(
        _steps("understand", "write"), _steps("clarify", "understand", "fix", "write")
    )
    assert [(r.node, r.presence) for r in got.rows] == [
        ("clarify", "only_b"),
        ("understand", "both"),
        ("fix", "only_b"),
        ("write", "both"),
    ]


def test_a_node_both_took_differs_by_its_outcome_or_its_calls() -> None:
    a, b = _steps("plan", "write"), _steps("plan", "write")
    b[1].status = "failed"
    b[0].calls.append({"service": "llm-gateway", "operation": "chat"})
    got = compare_steps(a, b)
    assert [r.differs for r in got.rows] == [True, True]
    assert got.differing == 2
    assert compare_steps(_steps("plan"), _steps("plan")).differing == 0


def test_wall_time_needs_both_ends() -> None:
    start = datetime(2026, 12, 3, tzinfo=UTC)
    assert elapsed_ms(start, start + timedelta(seconds=1.5)) == 1500.0
    assert elapsed_ms(start, None) is None


@pytest.mark.slow
@pytest.mark.timeout(600)
def test_the_compare_page_shows_where_a_rejected_run_left_the_path(
    console: Console, finished_run: FinishedRun
) -> None:
    with console.signed_in() as client:
        rejected = ask(client, "Create API documentation for the llm-gateway service", review=True)
        wait_status(console, rejected, {"waiting_review"})
        # a run that has not finished has no path to compare yet: said, with a 409
        waiting = client.get("/runs/compare", params={"a": finished_run.run_id, "b": rejected})
        assert waiting.status_code == 409
        assert "is waiting_review: compare it when it has finished" in waiting.text
        page = client.get(f"/runs/{rejected}")
        assert 'action="/runs/compare"' in page.text  # the run page's "compare with" form
        refused = client.post(
            f"/runs/{rejected}/review",
            data={"csrf": csrf_of(page.text), "decision": "reject", "comment": "no"},
            headers={"Origin": console.url},
        )
        assert refused.status_code == 303
        assert wait_status(console, rejected, {"cancelled"})["status"] == "cancelled"
        got = client.get("/runs/compare", params={"a": finished_run.run_id, "b": rejected})
        assert got.status_code == 200, got.text
        html = got.text
        # the reviewer's "no" ended run B before the store: nodes only A passed through
        assert 'data-node="store" data-presence="only_a"' in html
        assert 'data-node="understand" data-presence="both"' in html
        assert 'data-node="review_gate" data-presence="both"' in html
        assert 'data-node="provenance" data-presence="only_a"' in html
        assert "The paths differ" in html
        assert f'href="/runs/{finished_run.run_id}"' in html
        assert f'href="/runs/{rejected}"' in html
        assert f'href="/documents/{finished_run.document_id}"' in html
        assert "/traces/compare?a=" in html
        missing = client.get("/runs/compare", params={"a": finished_run.run_id, "b": "no-such-run"})
        assert missing.status_code == 404
        assert 'role="alert"' in missing.text
        empty = client.get("/runs/compare")
        assert empty.status_code == 200
        assert 'id="cmp-a"' in empty.text
