"""Outcomes and results: the statistics against known values, and real `run.completed` /
`run.feedback` events on `eco.events` reaching a real store's results (SQLite and
PostgreSQL): per-arm means, Wilson intervals, fallback runs counted under their arm,
redeliveries counted once, the sample-ratio check and the verdict held back under the
minimum sample."""

from __future__ import annotations

import asyncio
import math
import statistics
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
import redis.asyncio as aioredis

from eco_prompt_store.service import _stats
from eco_shared.bus import Event, EventBus
from eco_shared.prompts.assign import assign

TEMPLATES = ("Write docs for {{ topic }}.", "Document {{ topic }} clearly.")
EVENTS_TIMEOUT_S = 30

# --- the statistics, against known values --------------------------------------------

# chi-square critical values (df, x, upper-tail probability) from standard tables
CHI2_TABLE = [
    (1, 3.841458820694124, 0.05),
    (1, 6.634896601021214, 0.01),
    (1, 10.827566170662733, 0.001),
    (2, 5.991464547107979, 0.05),
    (3, 7.814727903251178, 0.05),
    (4, 13.276704135987622, 0.01),
    (10, 23.209251158954356, 0.01),
    (30, 43.77297182574219, 0.05),
]


@pytest.mark.parametrize(("df", "x", "p"), CHI2_TABLE)
def test_chi2_survival_matches_tables(df: int, x: float, p: float) -> None:
    assert _stats.chi2_sf(x, df) == pytest.approx(p, rel=1e-9)


@pytest.mark.parametrize("x", [0.001, 0.5, 1.0, 2.5, 7.0, 20.0, 60.0])
def test_chi2_survival_closed_forms(x: float) -> None:
    """df 1: erfc(√(x/2)); df 2: e^(−x/2); df 4: e^(−x/2)(1 + x/2): series and fraction agree."""
    assert _stats.chi2_sf(x, 1) == pytest.approx(math.erfc(math.sqrt(x / 2)), rel=1e-9, abs=1e-300)
    assert _stats.chi2_sf(x, 2) == pytest.approx(math.exp(-x / 2), rel=1e-9)
    assert _stats.chi2_sf(x, 4) == pytest.approx(math.exp(-x / 2) * (1 + x / 2), rel=1e-9)


def test_gamma_q_edges() -> None:
    assert _stats.regularized_gamma_q(3.0, 0.0) == 1.0
    assert _stats.regularized_gamma_q(0.5, 1e6) == 0.0
    with pytest.raises(ValueError, match="positive"):
        _stats.regularized_gamma_q(0.0, 1.0)


def test_wilson_interval_known_values() -> None:
    """81 of 263 (Wilson's own kind of example) and the edge cases 0/n and n/n."""
    ci = _stats.wilson_interval(81, 263)
    assert ci.value == pytest.approx(81 / 263)
    assert (ci.low, ci.high) == (pytest.approx(0.2553, abs=1e-4), pytest.approx(0.3662, abs=1e-4))
    zero = _stats.wilson_interval(0, 10)
    assert zero.low == 0.0
    assert zero.high == pytest.approx(0.2775, abs=1e-4)
    full = _stats.wilson_interval(10, 10)
    assert full.high == pytest.approx(1.0)
    assert full.low == pytest.approx(1 - 0.2775, abs=1e-4)
    assert _stats.wilson_interval(0, 0).value is None


def test_mean_interval_is_normal_approximation_with_sample_sd() -> None:
    values = [1.0, 2.0, 3.0, 4.0]
    ci = _stats.mean_interval(values)
    s = statistics.stdev(values)  # n − 1
    assert ci.value == 2.5
    assert ci.high - ci.value == pytest.approx(_stats.Z95 * s / 2)
    assert ci.value - ci.low == pytest.approx(_stats.Z95 * s / 2)
    one = _stats.mean_interval([0.7])
    assert (one.value, one.low, one.high) == (0.7, None, None)


def test_srm_flags_skew_and_passes_balance() -> None:
    balanced = _stats.srm_test([5_030, 4_970], [0.5, 0.5])
    assert not balanced.mismatch
    assert balanced.chi2 == pytest.approx(0.36)
    skewed = _stats.srm_test([5_000, 5_400], [0.5, 0.5])
    assert skewed.mismatch
    assert skewed.p_value == pytest.approx(_stats.chi2_sf(15.384615384615385, 1))
    weighted = _stats.srm_test([900, 100], [0.9, 0.1])  # exactly the configured split
    assert weighted.chi2 == pytest.approx(0.0)
    assert not weighted.mismatch
    stray = _stats.srm_test([10, 10, 1], [0.5, 0.5, 0.0])  # traffic on an arm of weight 0
    assert stray.mismatch
    assert not _stats.srm_test([0, 0], [0.5, 0.5]).mismatch


# --- real events reaching a real store ---------------------------------------------------


@pytest.fixture
async def orchestrator_bus(store: Any, redis_url: str) -> AsyncIterator[EventBus]:
    """A bus on the store's Redis prefix, publishing as the orchestrator does."""
    client = aioredis.Redis.from_url(redis_url)
    bus = EventBus(client, "orchestrator", prefix=store.prefix, owns_redis=True)
    try:
        yield bus
    finally:
        await bus.close()


async def _experiment(
    client: httpx.AsyncClient, new_prompt: Any, name: str, **overrides: Any
) -> dict[str, Any]:
    await new_prompt(name, *TEMPLATES, variables={"topic": {"type": "string"}})
    moved = await client.put(
        f"/prompts/{name}/labels/production", json={"version": 1, "expected_version": None}
    )
    assert moved.status_code == 200, moved.text
    body = {
        "name": "wording",
        "prompt": name,
        "label": "production",
        "arms": [
            {"name": "control", "version": 1, "weight": 0.5},
            {"name": "clear", "version": 2, "weight": 0.5},
        ],
        **overrides,
    }
    created = await client.post("/experiments", json=body)
    assert created.status_code == 201, created.text
    return dict(created.json())


def _units(experiment: dict[str, Any], arm: str, count: int, tag: str = "") -> list[str]:
    """`count` unit ids that the experiment's salt assigns to `arm`."""
    arms = [(a["name"], a["weight"]) for a in experiment["arms"]]
    found: list[str] = []
    i = 0
    while len(found) < count:
        unit = f"user:{tag}{i}"
        if assign(experiment["salt"], unit, arms) == arm:
            found.append(unit)
        i += 1
    return found


async def _expose(
    client: httpx.AsyncClient, experiment: dict[str, Any], units: list[tuple[str, str, str]]
) -> None:
    """Record (unit, arm, run) exposures, 500 at a time."""
    items = [
        {
            "experiment_id": experiment["id"],
            "arm": arm,
            "unit_id": unit,
            "run_id": run,
            "at": datetime.now(UTC).isoformat(),
        }
        for unit, arm, run in units
    ]
    for start in range(0, len(items), 500):
        sent = await client.post("/exposures", json={"items": items[start : start + 500]})
        assert sent.status_code == 202, sent.text


def _completed(run: str, experiment: dict[str, Any], arm: str, **data: Any) -> dict[str, Any]:
    version = next(a["version"] for a in experiment["arms"] if a["name"] == arm)
    source = data.pop("source", "store")
    return {
        "run_id": run,
        "status": "completed",
        "prompts_used": [
            {
                "name": experiment["prompt"],
                "version": str(version),
                "label": "production",
                "source": source,
                "experiment_id": experiment["id"],
                "experiment_arm": arm,
            }
        ],
        **data,
    }


async def _results_when(
    client: httpx.AsyncClient, experiment: dict[str, Any], done: Any
) -> dict[str, Any]:
    """The results once `done(results)` holds (events are consumed asynchronously)."""
    deadline = datetime.now(UTC).timestamp() + EVENTS_TIMEOUT_S
    while True:
        results = (await client.get(f"/experiments/{experiment['id']}/results")).json()
        if done(results):
            return dict(results)
        assert datetime.now(UTC).timestamp() < deadline, f"results never got there: {results}"
        await asyncio.sleep(0.1)


def _arm(results: dict[str, Any], arm: str) -> dict[str, Any]:
    return next(a for a in results["arms"] if a["arm"] == arm)


async def test_run_events_reach_the_results_per_arm(
    client: httpx.AsyncClient, name: str, new_prompt: Any, orchestrator_bus: EventBus
) -> None:
    experiment = await _experiment(client, new_prompt, name, min_sample=3)
    scores = {"control": [0.5, 0.6, 0.7], "clear": [0.8, 0.9, 1.0]}
    runs: dict[str, list[str]] = {}
    for arm in scores:
        units = _units(experiment, arm, 3, tag=arm)
        runs[arm] = [f"run-{uuid.uuid4().hex[:8]}" for _ in units]
        await _expose(
            client, experiment, [(u, arm, r) for u, r in zip(units, runs[arm], strict=True)]
        )
    events = []
    for arm, values in scores.items():
        for i, (run, score) in enumerate(zip(runs[arm], values, strict=True)):
            events.append(
                (
                    "run.completed",
                    _completed(
                        run,
                        experiment,
                        arm,
                        review_score=score,
                        revisions=i,
                        latency_ms=100.0 * (i + 1),
                        tokens={"tokens_in": 10, "tokens_out": 20 + i},
                    ),
                )
            )
    # feedback: control 1 up of 3, clear 3 up of 3 (a score >= 0.5 without a rating is up)
    ratings = [("control", 0, {"rating": "up"}), ("control", 1, {"rating": "down"})]
    ratings += [("control", 2, {"score": 0.2}), ("clear", 0, {"rating": "up"})]
    ratings += [("clear", 1, {"rating": "up"}), ("clear", 2, {"score": 0.9})]
    events += [("run.feedback", {"run_id": runs[a][i], **r}) for a, i, r in ratings]
    events.append(("document.stored", {"document_id": "d1"}))  # not ours: ignored, ACKed
    await orchestrator_bus.publish_many(events)

    results = await _results_when(
        client,
        experiment,
        lambda r: all(a["outcomes"] == 3 and a["feedback_up"]["n"] == 3 for a in r["arms"]),
    )
    for arm, values in scores.items():
        figures = _arm(results, arm)
        assert (figures["exposures"], figures["units"], figures["outcomes"]) == (3, 3, 3)
        assert figures["score"]["mean"] == pytest.approx(statistics.mean(values))
        half = _stats.Z95 * statistics.stdev(values) / math.sqrt(3)
        assert figures["score"]["low"] == pytest.approx(statistics.mean(values) - half)
        assert figures["score"]["high"] == pytest.approx(statistics.mean(values) + half)
        assert figures["revisions_mean"] == pytest.approx(1.0)
        assert figures["latency_ms_mean"] == pytest.approx(200.0)
        assert figures["tokens_mean"] == pytest.approx(31.0)
        assert figures["fallback_outcomes"] == 0
    control_up = _arm(results, "control")["feedback_up"]
    wilson = _stats.wilson_interval(1, 3)
    assert (control_up["successes"], control_up["n"]) == (1, 3)
    assert (control_up["low"], control_up["high"]) == (
        pytest.approx(wilson.low),
        pytest.approx(wilson.high),
    )
    assert _arm(results, "clear")["feedback_up"]["successes"] == 3
    assert not results["srm"]["mismatch"]
    verdict = results["verdict"]
    assert verdict is not None, results
    assert (verdict["leader"], verdict["runner_up"]) == ("clear", "control")
    assert verdict["leader_mean"] == pytest.approx(0.9)
    # 0.9 ± 0.113 and 0.6 ± 0.113 do not overlap
    assert verdict["intervals_overlap"] is False
    # nothing promotes by itself
    assert (await client.get(f"/prompts/{name}")).json()["labels"]["production"] == 1


async def test_fallback_runs_count_under_their_arm_and_redeliveries_once(
    client: httpx.AsyncClient, name: str, new_prompt: Any, orchestrator_bus: EventBus
) -> None:
    experiment = await _experiment(client, new_prompt, name)
    event = Event(
        type="run.completed",
        source="orchestrator",
        data=_completed("run-snap", experiment, "clear", review_score=0.4, source="snapshot"),
    )
    # the same event (same id) delivered twice, e.g. after a crash before the ACK
    await orchestrator_bus.publish(event.type, event.data, id=event.id)
    await orchestrator_bus.publish(event.type, event.data, id=event.id)
    seed = _completed("run-seed", experiment, "control", review_score=0.6, source="seed")
    await orchestrator_bus.publish("run.completed", seed)
    # no experiment in prompts_used: joined through the exposure recorded under its run id
    unit = _units(experiment, "control", 1, tag="joined")[0]
    await _expose(client, experiment, [(unit, "control", "run-joined")])
    await orchestrator_bus.publish("run.completed", {"run_id": "run-joined", "review_score": 1})
    # an experiment or arm the store does not know is skipped, never an error
    stray = _completed("run-stray", experiment, "clear")
    stray["prompts_used"][0]["experiment_arm"] = "no-such-arm"
    await orchestrator_bus.publish("run.completed", stray)
    # what no table can hold (a NUL, an id too long) is skipped, not a batch stuck for good
    await orchestrator_bus.publish("run.completed", _completed("bad\x00run", experiment, "clear"))
    await orchestrator_bus.publish("run.completed", _completed("r" * 300, experiment, "clear"))
    marker = _completed("run-last", experiment, "clear", review_score=0.0)
    await orchestrator_bus.publish("run.completed", marker)

    results = await _results_when(
        client,
        experiment,
        lambda r: _arm(r, "clear")["outcomes"] >= 2 and _arm(r, "control")["outcomes"] >= 2,
    )
    clear, control = _arm(results, "clear"), _arm(results, "control")
    assert (clear["outcomes"], clear["fallback_outcomes"]) == (2, 1)
    assert clear["score"]["mean"] == pytest.approx(0.2)
    assert (control["outcomes"], control["fallback_outcomes"]) == (2, 1)
    assert control["score"]["mean"] == pytest.approx(0.8)


async def test_srm_is_flagged_on_a_skewed_split_and_withholds_the_verdict(
    client: httpx.AsyncClient, name: str, new_prompt: Any
) -> None:
    experiment = await _experiment(client, new_prompt, name, min_sample=1)
    skewed = [(u, "control", "") for u in _units(experiment, "control", 300, tag="s")]
    skewed += [(u, "clear", "") for u in _units(experiment, "clear", 200, tag="s")]
    await _expose(client, experiment, [(u, a, f"r-{u}") for u, a, _ in skewed])
    results = (await client.get(f"/experiments/{experiment['id']}/results")).json()
    srm = results["srm"]
    # chi2 = (300-250)^2/250 * 2 = 20, p = erfc(sqrt(10)) ~ 7.7e-6 < 0.001
    assert srm["chi2"] == pytest.approx(20.0)
    assert srm["p_value"] == pytest.approx(math.erfc(math.sqrt(10.0)), rel=1e-6)
    assert (srm["df"], srm["mismatch"]) == (1, True)
    assert results["verdict"] is None
    assert "sample ratio mismatch" in results["verdict_withheld"]

    balanced = await _experiment(client, new_prompt, f"{name}-b", min_sample=1)
    even = [(u, "control") for u in _units(balanced, "control", 260, tag="e")]
    even += [(u, "clear") for u in _units(balanced, "clear", 240, tag="e")]
    await _expose(client, balanced, [(u, a, f"r-{u}") for u, a in even])
    srm = (await client.get(f"/experiments/{balanced['id']}/results")).json()["srm"]
    assert srm["chi2"] == pytest.approx(0.8)
    assert srm["mismatch"] is False


async def test_verdict_is_withheld_until_every_arm_has_the_minimum_sample(
    client: httpx.AsyncClient, name: str, new_prompt: Any, orchestrator_bus: EventBus
) -> None:
    experiment = await _experiment(client, new_prompt, name, min_sample=4)
    for arm, score in (("control", 0.5), ("clear", 0.6)):
        await orchestrator_bus.publish_many(
            ("run.completed", _completed(f"{arm}-{i}", experiment, arm, review_score=score))
            for i in range(4 if arm == "control" else 3)
        )
    results = await _results_when(
        client, experiment, lambda r: [a["outcomes"] for a in r["arms"]] == [4, 3]
    )
    assert results["verdict"] is None
    assert results["verdict_withheld"] == ("fewer than 4 scored outcomes per arm: clear has 3")
    # outcomes without a score do not count towards the minimum
    await orchestrator_bus.publish("run.completed", _completed("clear-x", experiment, "clear"))
    results = await _results_when(client, experiment, lambda r: _arm(r, "clear")["outcomes"] == 4)
    assert results["verdict"] is None
    await orchestrator_bus.publish(
        "run.completed", _completed("clear-3", experiment, "clear", review_score=0.6)
    )
    results = await _results_when(client, experiment, lambda r: r["verdict"] is not None)
    assert results["verdict"]["leader"] == "clear"
    # every score equal within an arm: zero-width intervals, 0.6 vs 0.5 do not overlap
    assert results["verdict"]["intervals_overlap"] is False
    assert results["verdict_withheld"] is None
