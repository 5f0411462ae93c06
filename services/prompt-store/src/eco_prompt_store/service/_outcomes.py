"""Outcomes: `run.completed` and `run.feedback` from `eco.events`, and the results they make.

A run's outcome counts under the arm it was assigned, taken from the run's `prompts_used`
entries (`experiment_id`/`experiment_arm`, or `experiment: {id, arm}`), else from the
exposures recorded under its run id; so a run that fell back to a cached, stale, snapshot
or seed copy still counts for its arm (and is counted as a fallback). Both handlers are
upserts keyed by (experiment, run) or run: an event delivered twice writes the same row.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any, TypeGuard

import structlog
from sqlalchemy.ext.asyncio import AsyncConnection

from eco_prompt_store.repository import _experiments as repo
from eco_prompt_store.service import _stats
from eco_prompt_store.service._base import ServiceBase
from eco_shared.bus import Event
from eco_shared.models.prompt_experiments import (
    ArmResult,
    ExperimentResults,
    MeanEstimate,
    RateEstimate,
    SampleRatio,
    Verdict,
)

log = structlog.get_logger(__name__)

OUTCOMES_GROUP = "prompt-store"  # the store's consumer group on eco.events
COMPLETED = "run.completed"
FEEDBACK = "run.feedback"
FALLBACK_SOURCES = frozenset({"cache", "stale", "snapshot", "seed"})


def _number(value: Any, *, low: float = 0.0, high: float = math.inf) -> float | None:
    """A finite number within [low, high], else None (absent or not usable)."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    number = float(value)
    return number if math.isfinite(number) and low <= number <= high else None


def _tokens(value: Any) -> float | None:
    """`tokens` as a count, or the sum of a `{tokens_in, tokens_out}`-like object."""
    if isinstance(value, Mapping):
        parts = [_number(v) for k, v in value.items() if k != "total" and "token" in str(k)]
        total = _number(value.get("total"))
        if total is not None:
            return total
        usable = [p for p in parts if p is not None]
        return math.fsum(usable) if usable else None
    return _number(value)


def _storable(value: object, limit: int) -> TypeGuard[str]:
    """A string the tables can hold: at most `limit` characters, no NUL (PostgreSQL)."""
    return isinstance(value, str) and 0 < len(value) <= limit and "\x00" not in value


def _assignments(data: Mapping[str, Any]) -> dict[str, tuple[str, str | None]]:
    """experiment id -> (arm, source) from a run's `prompts_used`."""
    found: dict[str, tuple[str, str | None]] = {}
    entries = data.get("prompts_used")
    for entry in entries if isinstance(entries, list) else []:
        if not isinstance(entry, Mapping):
            continue
        nested = entry.get("experiment")
        nested = nested if isinstance(nested, Mapping) else {}
        experiment_id = entry.get("experiment_id") or nested.get("id")
        arm = entry.get("experiment_arm") or nested.get("arm")
        if _storable(experiment_id, 36) and _storable(arm, 64):
            source = entry.get("source")
            found[experiment_id] = (arm, source if isinstance(source, str) else None)
    return found


class OutcomeOps(ServiceBase):
    """The handler of the store's consumer group on `eco.events`."""

    async def handle_run_events(self, events: list[Event]) -> None:
        """Record the batch's run outcomes and feedback in one transaction (ACKed after)."""
        relevant = [e for e in events if e.type in (COMPLETED, FEEDBACK)]
        if not relevant:
            return
        async with self.writing() as conn:
            for event in relevant:
                run_id = event.data.get("run_id")
                if not _storable(run_id, 255) or not _storable(event.id, 64):
                    log.warning("outcome_without_run_id", event_id=event.id, type=event.type)
                    continue
                if event.type == COMPLETED:
                    await self._completed(conn, event, run_id)
                else:
                    await self._feedback(conn, event, run_id)

    async def _completed(self, conn: AsyncConnection, event: Event, run_id: str) -> None:
        data = event.data
        assigned = _assignments(data)
        if not assigned:
            assigned = {exp: (arm, None) for exp, arm in await repo.arms_of_runs(conn, run_id)}
        if not assigned:
            return
        known = await repo.get_experiments(conn, list(assigned))
        for experiment_id, (arm, source) in assigned.items():
            experiment = known.get(experiment_id)
            if experiment is None or arm not in {a["name"] for a in experiment["arms"]}:
                log.warning("outcome_for_unknown_arm", experiment_id=experiment_id, arm=arm)
                continue
            await repo.upsert_outcome(
                conn,
                {
                    "experiment_id": experiment_id,
                    "run_id": run_id,
                    "arm": arm,
                    "score": _number(data.get("review_score"), high=1.0),
                    "revisions": _number(data.get("revisions")),
                    "latency_ms": _number(data.get("latency_ms")),
                    "tokens": _tokens(data.get("tokens")),
                    "source": source if source in FALLBACK_SOURCES | {"store"} else None,
                    "event_id": event.id,
                    "at": event.timestamp,
                },
            )

    async def _feedback(self, conn: AsyncConnection, event: Event, run_id: str) -> None:
        rating = event.data.get("rating")
        rating = rating if rating in ("up", "down") else None
        score = _number(event.data.get("score"), high=1.0)
        if rating is None and score is None:
            log.warning("feedback_without_rating", event_id=event.id, run_id=run_id)
            return
        await repo.upsert_feedback(
            conn,
            {
                "run_id": run_id,
                "rating": rating,
                "score": score,
                "event_id": event.id,
                "at": event.timestamp,
            },
        )


def _overlap(a: MeanEstimate, b: MeanEstimate) -> bool:
    if a.low is None or a.high is None or b.low is None or b.high is None:
        return True  # an interval not yet defined rules nothing out
    return a.low <= b.high and b.low <= a.high


def results(
    experiment: Mapping[str, Any], sums: Mapping[str, repo.ArmAggregate]
) -> ExperimentResults:
    """Per-arm figures, the sample-ratio check and, once earned, the verdict."""
    arms: list[ArmResult] = []
    for arm in experiment["arms"]:
        agg = sums.get(arm["name"]) or repo.ArmAggregate(arm=arm["name"])
        score = _stats.mean_interval_from_sums(agg.score_n, agg.score_sum, agg.score_sumsq)
        up = _stats.wilson_interval(agg.up, agg.rated)
        arms.append(
            ArmResult(
                arm=arm["name"],
                version=arm["version"],
                weight=arm["weight"],
                exposures=agg.exposures,
                units=agg.units,
                outcomes=agg.outcomes,
                fallback_outcomes=agg.fallback,
                score=MeanEstimate(n=score.n, mean=score.value, low=score.low, high=score.high),
                feedback_up=RateEstimate(
                    n=up.n, successes=agg.up, rate=up.value, low=up.low, high=up.high
                ),
                feedback_score_mean=agg.feedback_score,
                revisions_mean=agg.revisions,
                latency_ms_mean=agg.latency_ms,
                tokens_mean=agg.tokens,
            )
        )
    srm = _stats.srm_test([a.units for a in arms], [a.weight for a in arms])
    ratio = SampleRatio(chi2=srm.chi2, df=srm.df, p_value=srm.p_value, mismatch=srm.mismatch)
    verdict, withheld = _verdict(arms, experiment["min_sample"], ratio)
    return ExperimentResults(
        experiment_id=experiment["id"],
        status=experiment["status"],
        metric=experiment["metric"],
        min_sample=experiment["min_sample"],
        arms=arms,
        srm=ratio,
        verdict=verdict,
        verdict_withheld=withheld,
    )


def _verdict(
    arms: list[ArmResult], min_sample: int, srm: SampleRatio
) -> tuple[Verdict | None, str | None]:
    if srm.mismatch:
        return None, (
            f"sample ratio mismatch (chi2 {srm.chi2:.2f}, p {srm.p_value:.2g}): the split is"
            " not the configured one, so the arms are not comparable; find the cause first"
        )
    live = [a for a in arms if a.weight > 0]
    if len(live) < 2:
        return None, "fewer than two arms receive traffic: nothing to compare"
    short = [a for a in live if a.score.n < min_sample]
    if short:
        named = ", ".join(f"{a.arm} has {a.score.n}" for a in short)
        return None, f"fewer than {min_sample} scored outcomes per arm: {named}"
    ranked = sorted(live, key=lambda a: (-(a.score.mean or 0.0), a.arm))
    leader, runner_up = ranked[0], ranked[1]
    return (
        Verdict(
            metric="score",
            leader=leader.arm,
            leader_mean=leader.score.mean or 0.0,
            runner_up=runner_up.arm,
            runner_up_mean=runner_up.score.mean or 0.0,
            intervals_overlap=any(_overlap(leader.score, other.score) for other in ranked[1:]),
        ),
        None,
    )
