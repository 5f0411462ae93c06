"""Wire models of the prompt store's experiments, exposures and variations.

The store validates and answers with these; `eco_shared.adapters.prompt_store` re-exports
them with the rest of its models.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field

from eco_shared.models.prompt_store import (
    LABEL_PATTERN,
    NAME_PATTERN,
    TEXT_PATTERN,
    Label,
    PromptVersion,
)
from eco_shared.pagination import Page

__all__ = [
    "ARM_PATTERN",
    "ArmResult",
    "ArmSpec",
    "Experiment",
    "ExperimentCreate",
    "ExperimentMetric",
    "ExperimentPage",
    "ExperimentResults",
    "ExperimentStatus",
    "ExperimentStop",
    "ExposureBatch",
    "ExposureItem",
    "ExposuresAccepted",
    "MAX_EXPOSURE_BATCH",
    "MeanEstimate",
    "PromoteRequest",
    "Promotion",
    "RateEstimate",
    "SampleRatio",
    "VariationList",
    "VariationRequest",
    "Verdict",
]

ARM_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$"
MAX_EXPOSURE_BATCH = 500
ExperimentStatus = Literal["running", "stopped"]
ExperimentMetric = Literal["score"]
_Reason = Annotated[str, Field(max_length=2000, pattern=TEXT_PATTERN)]
_Id = Annotated[str, Field(min_length=1, max_length=255, pattern=TEXT_PATTERN)]


class ArmSpec(BaseModel):
    """One arm of a new experiment: a version of the prompt and its share of the traffic."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(pattern=ARM_PATTERN)
    version: int = Field(ge=1, le=2**31 - 1)
    weight: float = Field(ge=0, le=1, allow_inf_nan=False)


class ExperimentCreate(BaseModel):
    """`POST /experiments`: split `label` of `prompt` across versions by weight."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=200, pattern=TEXT_PATTERN)
    prompt: str = Field(pattern=NAME_PATTERN)
    label: str = Field(pattern=LABEL_PATTERN)
    arms: list[ArmSpec] = Field(min_length=2, max_length=20)
    salt: str | None = Field(
        None,
        min_length=1,
        max_length=128,
        pattern=TEXT_PATTERN,
        description="Arms are assigned by sha256(salt:unit); a random hex salt when omitted.",
    )
    min_sample: int = Field(
        100, ge=1, le=10_000_000, description="Scored outcomes per arm before any verdict."
    )
    metric: ExperimentMetric = "score"


class ExperimentArm(BaseModel):
    """An arm as stored: its name, the version it serves and its weight."""

    name: str
    version: int
    weight: float


class Experiment(BaseModel):
    """An experiment; `running` until stopped or promoted (never automatically)."""

    id: str
    name: str
    prompt: str
    label: str
    salt: str
    status: ExperimentStatus
    arms: list[ExperimentArm]
    min_sample: int
    metric: ExperimentMetric
    created_by: str
    created_at: datetime
    stopped_by: str | None = None
    stopped_at: datetime | None = None
    stop_reason: str | None = None
    promoted_arm: str | None = None


class ExperimentPage(Page[Experiment]):
    pass


class ExperimentStop(BaseModel):
    """`POST /experiments/{id}/stop`."""

    model_config = ConfigDict(extra="forbid")

    reason: _Reason | None = None


class PromoteRequest(BaseModel):
    """`POST /experiments/{id}/promote`: move the experiment's label to `arm`'s version."""

    model_config = ConfigDict(extra="forbid")

    arm: str = Field(pattern=ARM_PATTERN)
    reason: _Reason | None = None
    expected_version: int | None = Field(
        None,
        ge=1,
        description="The label's version the caller saw (compare-and-swap); omitted: the"
        " label's current version.",
    )


class Promotion(BaseModel):
    """What a promotion did: the recorded label move and the experiment, now stopped."""

    experiment: Experiment
    label: Label


class MeanEstimate(BaseModel):
    """A mean with its 95 % interval (normal approximation, sample standard deviation)."""

    n: int
    mean: float | None = None
    low: float | None = None
    high: float | None = None


class RateEstimate(BaseModel):
    """A proportion with its 95 % Wilson score interval."""

    n: int
    successes: int
    rate: float | None = None
    low: float | None = None
    high: float | None = None


class ArmResult(BaseModel):
    """One arm's figures."""

    arm: str
    version: int
    weight: float
    exposures: int = Field(description="Exposure records (one per unit and run).")
    units: int = Field(description="Distinct units (users or runs) exposed.")
    outcomes: int = Field(description="Completed runs recorded under this arm.")
    fallback_outcomes: int = Field(
        description="Of those, runs that used a cached, stale, snapshot or seed copy."
    )
    score: MeanEstimate
    feedback_up: RateEstimate
    feedback_score_mean: float | None = None
    revisions_mean: float | None = None
    latency_ms_mean: float | None = None
    tokens_mean: float | None = None


class SampleRatio(BaseModel):
    """Pearson's chi-square of exposed units against the weights; a mismatch when p < 0.001."""

    chi2: float
    df: int
    p_value: float
    mismatch: bool


class Verdict(BaseModel):
    """Which arm leads on the metric, and whether its interval overlaps another arm's."""

    metric: ExperimentMetric
    leader: str
    leader_mean: float
    runner_up: str
    runner_up_mean: float
    intervals_overlap: bool = Field(
        description="True: the leader's 95 % interval overlaps another's; no clear winner."
    )


class ExperimentResults(BaseModel):
    """`GET /experiments/{id}/results`."""

    experiment_id: str
    status: ExperimentStatus
    metric: ExperimentMetric
    min_sample: int
    arms: list[ArmResult]
    srm: SampleRatio
    verdict: Verdict | None = None
    verdict_withheld: str | None = Field(
        None, description="Why there is no verdict yet (too few outcomes, a sample ratio mismatch)."
    )


class ExposureItem(BaseModel):
    """One assignment a client made from its cached definition."""

    model_config = ConfigDict(extra="forbid")

    experiment_id: str = Field(min_length=1, max_length=36, pattern=TEXT_PATTERN)
    arm: str = Field(pattern=ARM_PATTERN)
    unit_id: _Id
    run_id: _Id | None = None
    at: datetime


class ExposureBatch(BaseModel):
    """`POST /exposures` (idempotent by experiment, unit and run)."""

    model_config = ConfigDict(extra="forbid")

    items: list[ExposureItem] = Field(min_length=1, max_length=MAX_EXPOSURE_BATCH)


class ExposuresAccepted(BaseModel):
    """How many exposures the batch carried, and how many of them were new."""

    accepted: int
    new: int


class VariationRequest(BaseModel):
    """`POST /prompts/{name}/versions/{version}/variations`."""

    model_config = ConfigDict(extra="forbid")

    count: int = Field(1, ge=1, le=5)
    instruction: _Reason | None = None
    model: str = Field("auto", min_length=1, max_length=200, pattern=r"^\S+$")


class VariationList(BaseModel):
    """The stored variations: unlabelled versions with `origin.kind == "variation"`."""

    items: list[PromptVersion]
