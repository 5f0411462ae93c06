"""`/experiments` and `/exposures`: A/B splits of a label, what clients assigned, results.

Creating, stopping and promoting need `prompts:write`; reading experiments and results,
and recording exposures (what the orchestrator's client sends), `prompts:read`. A
promotion is a recorded label move made by the caller; nothing promotes by itself.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query, Response

from eco_prompt_store.api._http import LimitParam
from eco_prompt_store.deps import PromptStoreDep, Reader, Writer
from eco_prompt_store.service._experiments import EXPERIMENT_CURSOR_PATTERN
from eco_shared.models.prompt_experiments import (
    Experiment,
    ExperimentCreate,
    ExperimentPage,
    ExperimentResults,
    ExperimentStatus,
    ExperimentStop,
    ExposureBatch,
    ExposuresAccepted,
    PromoteRequest,
    Promotion,
)
from eco_shared.models.prompt_store import NAME_PATTERN
from eco_shared.problems import problem_responses

router = APIRouter(prefix="/experiments", tags=["experiments"])
exposures_router = APIRouter(prefix="/exposures", tags=["experiments"])

ExperimentId = Annotated[
    str, Path(min_length=1, max_length=36, pattern=r"^[0-9a-f-]{1,36}$", description="Its id.")
]
_NO_EXPERIMENT = (404, "No such experiment")
_NOT_RUNNING = (409, "The experiment is not running (stopped or promoted)")


@router.post(
    "",
    status_code=201,
    summary="Start an experiment: split a label across versions by weight",
    responses=problem_responses(
        (404, "No prompt of that name"),
        (409, "An experiment already runs on this prompt and label"),
        (422, "Weights that do not sum to 1, repeated arm names, unknown versions or label"),
    ),
)
async def create_experiment(
    caller: Writer, body: ExperimentCreate, prompts: PromptStoreDep, response: Response
) -> Experiment:
    experiment = await prompts.create_experiment(caller, body)
    response.headers["Location"] = f"/experiments/{experiment.id}"
    return experiment


@router.get(
    "",
    summary="Experiments, newest first",
    responses=problem_responses(422),
)
async def list_experiments(
    _caller: Reader,
    prompts: PromptStoreDep,
    prompt: Annotated[str | None, Query(pattern=NAME_PATTERN)] = None,
    status: Annotated[ExperimentStatus | None, Query()] = None,
    cursor: Annotated[
        str | None,
        Query(pattern=EXPERIMENT_CURSOR_PATTERN, description="`next_cursor` of the previous page."),
    ] = None,
    limit: LimitParam = 20,
) -> ExperimentPage:
    return await prompts.list_experiments(prompt=prompt, status=status, cursor=cursor, limit=limit)


@router.get(
    "/{experiment_id}", summary="One experiment", responses=problem_responses(_NO_EXPERIMENT, 422)
)
async def get_experiment(
    _caller: Reader, experiment_id: ExperimentId, prompts: PromptStoreDep
) -> Experiment:
    return await prompts.get_experiment(experiment_id)


@router.post(
    "/{experiment_id}/stop",
    summary="Stop an experiment (its label keeps pointing where it does)",
    responses=problem_responses(_NO_EXPERIMENT, _NOT_RUNNING, 422),
)
async def stop_experiment(
    caller: Writer,
    experiment_id: ExperimentId,
    prompts: PromptStoreDep,
    body: ExperimentStop | None = None,
) -> Experiment:
    return await prompts.stop_experiment(caller, experiment_id, body.reason if body else None)


@router.get(
    "/{experiment_id}/results",
    summary="Per-arm results with 95 % intervals, the sample-ratio check and any verdict",
    responses=problem_responses(_NO_EXPERIMENT, 422),
)
async def experiment_results(
    _caller: Reader, experiment_id: ExperimentId, prompts: PromptStoreDep
) -> ExperimentResults:
    return await prompts.experiment_results(experiment_id)


@router.post(
    "/{experiment_id}/promote",
    summary="Promote an arm: a recorded label move to its version; the experiment stops",
    responses=problem_responses(
        _NO_EXPERIMENT,
        (409, "Not running, or the label is not at `expected_version` (`current_version`)"),
        (422, "No such arm"),
    ),
)
async def promote(
    caller: Writer, experiment_id: ExperimentId, body: PromoteRequest, prompts: PromptStoreDep
) -> Promotion:
    return await prompts.promote(caller, experiment_id, body)


@exposures_router.post(
    "",
    status_code=202,
    summary="Record the arms clients assigned (idempotent by experiment, unit and run)",
    responses=problem_responses(
        (422, "Over 500 items, unknown experiments or arms, or an arm the salt does not assign"),
    ),
)
async def record_exposures(
    _caller: Reader, body: ExposureBatch, prompts: PromptStoreDep
) -> ExposuresAccepted:
    return await prompts.record_exposures(body)
