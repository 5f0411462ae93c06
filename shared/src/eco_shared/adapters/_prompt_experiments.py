"""The experiments part of the prompt store's adapter: experiments, exposures, variations."""

from __future__ import annotations

from typing import Any

from eco_shared.adapters._base import BaseServiceAdapter, operation
from eco_shared.models.prompt_experiments import (
    Experiment,
    ExperimentCreate,
    ExperimentPage,
    ExperimentResults,
    ExperimentStatus,
    ExposureBatch,
    ExposureItem,
    ExposuresAccepted,
    Promotion,
    VariationList,
)


def _params(**values: Any) -> dict[str, Any]:
    return {k: v for k, v in values.items() if v is not None}


class ExperimentOps(BaseServiceAdapter):
    """Experiments, exposures and variations."""

    @operation("POST", "/experiments", body=True, response=Experiment)
    async def create_experiment(self, experiment: ExperimentCreate | dict[str, Any]) -> Experiment:
        """Start an experiment on a label (409 when one already runs there)."""
        body = ExperimentCreate.model_validate(experiment)
        response = await self._request(
            "POST",
            "/experiments",
            operation="create_experiment",
            json=body.model_dump(mode="json", exclude_unset=True),
        )
        return Experiment.model_validate(response.json())

    @operation(
        "GET",
        "/experiments",
        query=("prompt", "status", "cursor", "limit"),
        response=ExperimentPage,
    )
    async def list_experiments(
        self,
        prompt: str | None = None,
        *,
        status: ExperimentStatus | None = None,
        cursor: str | None = None,
        limit: int | None = None,
    ) -> ExperimentPage:
        """Experiments, newest first."""
        params = _params(prompt=prompt, status=status, cursor=cursor, limit=limit)
        response = await self._request(
            "GET", "/experiments", operation="list_experiments", params=params
        )
        return ExperimentPage.model_validate(response.json())

    @operation("GET", "/experiments/{experiment_id}", response=Experiment)
    async def get_experiment(self, experiment_id: str) -> Experiment:
        response = await self._request(
            "GET",
            "/experiments/{experiment_id}",
            operation="get_experiment",
            path_params={"experiment_id": experiment_id},
        )
        return Experiment.model_validate(response.json())

    @operation("POST", "/experiments/{experiment_id}/stop", body=True, response=Experiment)
    async def stop_experiment(self, experiment_id: str, reason: str | None = None) -> Experiment:
        """Stop an experiment; the label keeps pointing where it did."""
        response = await self._request(
            "POST",
            "/experiments/{experiment_id}/stop",
            operation="stop_experiment",
            path_params={"experiment_id": experiment_id},
            json=_params(reason=reason),
        )
        return Experiment.model_validate(response.json())

    @operation("GET", "/experiments/{experiment_id}/results", response=ExperimentResults)
    async def experiment_results(self, experiment_id: str) -> ExperimentResults:
        """Per-arm figures with 95 % intervals, the SRM check and the verdict, if earned."""
        response = await self._request(
            "GET",
            "/experiments/{experiment_id}/results",
            operation="experiment_results",
            path_params={"experiment_id": experiment_id},
        )
        return ExperimentResults.model_validate(response.json())

    @operation("POST", "/experiments/{experiment_id}/promote", body=True, response=Promotion)
    async def promote(
        self,
        experiment_id: str,
        arm: str,
        *,
        reason: str | None = None,
        expected_version: int | None = None,
    ) -> Promotion:
        """Move the experiment's label to `arm`'s version (a recorded move) and stop it."""
        body = _params(arm=arm, reason=reason, expected_version=expected_version)
        response = await self._request(
            "POST",
            "/experiments/{experiment_id}/promote",
            operation="promote",
            path_params={"experiment_id": experiment_id},
            json=body,
        )
        return Promotion.model_validate(response.json())

    @operation("POST", "/exposures", body=True, response=ExposuresAccepted)
    async def record_exposures(
        self, items: list[ExposureItem] | list[dict[str, Any]]
    ) -> ExposuresAccepted:
        """Record up to 500 exposures (idempotent by experiment, unit and run)."""
        batch = ExposureBatch.model_validate({"items": items})
        response = await self._request(
            "POST",
            "/exposures",
            operation="record_exposures",
            json=batch.model_dump(mode="json", exclude_unset=True),
        )
        return ExposuresAccepted.model_validate(response.json())

    @operation(
        "POST", "/prompts/{name}/versions/{version}/variations", body=True, response=VariationList
    )
    async def variations(
        self,
        name: str,
        version: int,
        count: int = 1,
        *,
        instruction: str | None = None,
        model: str | None = None,
    ) -> VariationList:
        """Generate `count` rewrites of a version through the LLM gateway (unlabelled)."""
        body = _params(count=count, instruction=instruction, model=model)
        response = await self._request(
            "POST",
            "/prompts/{name}/versions/{version}/variations",
            operation="variations",
            path_params={"name": name, "version": version},
            json=body,
        )
        return VariationList.model_validate(response.json())
