"""Typed client of the prompt store; its wire models (`eco_shared.models.prompt_store`, one
module for the service and this client) are re-exported here.

Prompts have immutable, content-addressed versions (`sha256` of the template's UTF-8
bytes) and labels that point at versions; label moves are compare-and-swap
(`expected_version`) and recorded. A resolution (`/prompts/{name}/labels/{label}/resolution`)
carries everything a client needs to assign an experiment arm and render offline.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

from pydantic import BaseModel

from eco_shared.adapters._base import AdapterError, BaseServiceAdapter, operation
from eco_shared.adapters._prompt_experiments import ExperimentOps
from eco_shared.models import prompt_experiments
from eco_shared.models.prompt_experiments import *  # noqa: F403 (re-exported, as its __all__ says)
from eco_shared.models.prompt_store import (
    LABEL_MOVED,
    LABEL_PATTERN,
    NAME_PATTERN,
    Diff,
    DiffChanges,
    ExperimentArmDefinition,
    ExperimentDefinition,
    Kind,
    Label,
    LabelMove,
    LabelMovePage,
    LabelMoveRequest,
    LintProblem,
    LintRequest,
    LintResult,
    Origin,
    Prompt,
    PromptCreate,
    PromptEvent,
    PromptPage,
    PromptVersion,
    PromptVersionCreate,
    Rendered,
    RenderRequest,
    Resolution,
    RollbackRequest,
    Syntax,
    VariableSpec,
    VersionPage,
)
from eco_shared.sse import aiter_sse

__all__ = [
    "LABEL_MOVED",
    "LABEL_PATTERN",
    "NAME_PATTERN",
    "Diff",
    "DiffChanges",
    "ExperimentArmDefinition",
    "ExperimentDefinition",
    "Kind",
    "Label",
    "LabelMove",
    "LabelMovePage",
    "LabelMoveRequest",
    "LintProblem",
    "LintRequest",
    "LintResult",
    "Origin",
    "Prompt",
    "PromptCreate",
    "PromptEvent",
    "PromptPage",
    "PromptStoreAdapter",
    "PromptVersion",
    "PromptVersionCreate",
    "RenderRequest",
    "Rendered",
    "Resolution",
    "RollbackRequest",
    "Syntax",
    "VariableSpec",
    "VersionPage",
]


def _params(**values: Any) -> dict[str, Any]:
    return {k: v for k, v in values.items() if v is not None}


def _body(model: BaseModel) -> dict[str, Any]:
    return model.model_dump(mode="json", exclude_unset=True)


def _problem(response: Any) -> dict[str, Any]:
    try:
        body = response.json()
    except ValueError:
        return {"detail": response.text[:500]}
    return body if isinstance(body, dict) else {"detail": body}


class _PromptOps(BaseServiceAdapter):
    """Prompts, versions, labels, diff, render, lint and the watch feed."""

    @operation("POST", "/prompts", body=True, response=Prompt)
    async def create_prompt(
        self,
        name: str,
        *,
        kind: Kind = "text",
        description: str | None = None,
        tags: list[str] | None = None,
    ) -> Prompt:
        """Create a prompt (no versions yet)."""
        body = _params(name=name, kind=kind, description=description, tags=tags)
        response = await self._request("POST", "/prompts", operation="create_prompt", json=body)
        return Prompt.model_validate(response.json())

    @operation(
        "GET", "/prompts", query=("q", "tag", "kind", "cursor", "limit"), response=PromptPage
    )
    async def list_prompts(
        self,
        q: str | None = None,
        *,
        tag: str | None = None,
        kind: Kind | None = None,
        cursor: str | None = None,
        limit: int | None = None,
    ) -> PromptPage:
        """Prompts matching `q` (names, descriptions, tags, latest text), newest first."""
        params = _params(q=q, tag=tag, kind=kind, cursor=cursor, limit=limit)
        response = await self._request("GET", "/prompts", operation="list_prompts", params=params)
        return PromptPage.model_validate(response.json())

    @operation("GET", "/prompts/{name}", response=Prompt)
    async def get_prompt(self, name: str) -> Prompt:
        response = await self._request(
            "GET", "/prompts/{name}", operation="get_prompt", path_params={"name": name}
        )
        return Prompt.model_validate(response.json())

    @operation("POST", "/prompts/{name}/versions", body=True, response=PromptVersion)
    async def add_version(
        self, name: str, version: PromptVersionCreate | dict[str, Any]
    ) -> PromptVersion:
        """Store a version (identical bytes answer the existing version)."""
        body = PromptVersionCreate.model_validate(version) if isinstance(version, dict) else version
        response = await self._request(
            "POST",
            "/prompts/{name}/versions",
            operation="add_version",
            path_params={"name": name},
            json=_body(body),
        )
        return PromptVersion.model_validate(response.json())

    @operation("GET", "/prompts/{name}/versions", query=("cursor", "limit"), response=VersionPage)
    async def list_versions(
        self, name: str, *, cursor: str | None = None, limit: int | None = None
    ) -> VersionPage:
        response = await self._request(
            "GET",
            "/prompts/{name}/versions",
            operation="list_versions",
            path_params={"name": name},
            params=_params(cursor=cursor, limit=limit),
        )
        return VersionPage.model_validate(response.json())

    @operation("GET", "/prompts/{name}/versions/{version}", response=PromptVersion)
    async def get_version(self, name: str, version: int) -> PromptVersion:
        response = await self._request(
            "GET",
            "/prompts/{name}/versions/{version}",
            operation="get_version",
            path_params={"name": name, "version": version},
        )
        return PromptVersion.model_validate(response.json())

    @operation("GET", "/prompts/{name}/labels/{label}", response=PromptVersion)
    async def get_label(self, name: str, label: str) -> PromptVersion:
        """The version a label points at."""
        response = await self._request(
            "GET",
            "/prompts/{name}/labels/{label}",
            operation="get_label",
            path_params={"name": name, "label": label},
        )
        return PromptVersion.model_validate(response.json())

    @operation("GET", "/prompts/by-sha256/{sha256}", response=PromptVersion)
    async def get_by_sha256(self, sha256: str) -> PromptVersion:
        """The first version stored with these template bytes."""
        response = await self._request(
            "GET",
            "/prompts/by-sha256/{sha256}",
            operation="get_by_sha256",
            path_params={"sha256": sha256},
        )
        return PromptVersion.model_validate(response.json())

    @operation("GET", "/prompts/{name}/labels/{label}/resolution", response=Resolution)
    async def resolution(self, name: str, label: str, etag: str | None = None) -> Resolution | None:
        """The label's version and running experiment (`.etag` set); None when `etag` still
        matches (304 Not Modified)."""
        response = await self._request(
            "GET",
            "/prompts/{name}/labels/{label}/resolution",
            operation="resolution",
            path_params={"name": name, "label": label},
            headers={"If-None-Match": etag} if etag else None,
            ok=(200, 304),
        )
        if response.status_code == 304:
            return None
        resolved = Resolution.model_validate(response.json())
        resolved._etag = response.headers.get("etag")
        return resolved

    @operation("PUT", "/prompts/{name}/labels/{label}", body=True, response=Label)
    async def move_label(
        self,
        name: str,
        label: str,
        version: int,
        expected_version: int | None,
        reason: str | None = None,
    ) -> Label:
        """Point `label` at `version` if it still points at `expected_version` (else 409)."""
        body = {"version": version, "expected_version": expected_version, **_params(reason=reason)}
        response = await self._request(
            "PUT",
            "/prompts/{name}/labels/{label}",
            operation="move_label",
            path_params={"name": name, "label": label},
            json=body,
        )
        return Label.model_validate(response.json())

    @operation(
        "GET",
        "/prompts/{name}/labels/{label}/history",
        query=("cursor", "limit"),
        response=LabelMovePage,
    )
    async def label_history(
        self, name: str, label: str, *, cursor: str | None = None, limit: int | None = None
    ) -> LabelMovePage:
        response = await self._request(
            "GET",
            "/prompts/{name}/labels/{label}/history",
            operation="label_history",
            path_params={"name": name, "label": label},
            params=_params(cursor=cursor, limit=limit),
        )
        return LabelMovePage.model_validate(response.json())

    @operation("POST", "/prompts/{name}/labels/{label}/rollback", body=True, response=Label)
    async def rollback(
        self,
        name: str,
        label: str,
        *,
        reason: str | None = None,
        expected_version: int | None = None,
    ) -> Label:
        """Move the label back to where it pointed before its last move."""
        response = await self._request(
            "POST",
            "/prompts/{name}/labels/{label}/rollback",
            operation="rollback",
            path_params={"name": name, "label": label},
            json=_params(reason=reason, expected_version=expected_version),
        )
        return Label.model_validate(response.json())

    @operation("GET", "/prompts/{name}/diff", query=("from", "to"), response=Diff)
    async def diff(self, name: str, from_version: int, to_version: int) -> Diff:
        response = await self._request(
            "GET",
            "/prompts/{name}/diff",
            operation="diff",
            path_params={"name": name},
            params={"from": from_version, "to": to_version},
        )
        return Diff.model_validate(response.json())

    @operation("POST", "/prompts/{name}/versions/{version}/render", body=True, response=Rendered)
    async def render(
        self, name: str, version: int, variables: dict[str, Any] | None = None
    ) -> Rendered:
        response = await self._request(
            "POST",
            "/prompts/{name}/versions/{version}/render",
            operation="render",
            path_params={"name": name, "version": version},
            json={"variables": variables or {}},
        )
        return Rendered.model_validate(response.json())

    @operation("POST", "/lint", body=True, response=LintResult)
    async def lint(
        self,
        template: str,
        syntax: Syntax = "mustache",
        variables: dict[str, Any] | None = None,
        *,
        kind: Kind = "text",
    ) -> LintResult:
        body: dict[str, Any] = {"template": template, "syntax": syntax, "kind": kind}
        if variables is not None:
            body["variables"] = variables
        response = await self._request("POST", "/lint", operation="lint", json=body)
        return LintResult.model_validate(response.json())

    @operation("GET", "/prompts/watch")
    async def watch(self, last_event_id: str | None = None) -> AsyncIterator[PromptEvent]:
        """Follow label moves as they happen (from after `last_event_id` when given)."""
        url = await self.base_url() + "/prompts/watch"
        response = await self.http.request(
            "GET",
            url,
            service=self.service_name,
            operation="watch",
            headers={"Last-Event-ID": last_event_id} if last_event_id else None,
            stream=True,
            timeout=None,
        )
        try:
            if response.status_code != 200:
                await response.aread()
                raise AdapterError(self.service_name, response.status_code, _problem(response))
            async for event in aiter_sse(response.aiter_lines()):
                if event.event == LABEL_MOVED:
                    yield PromptEvent.model_validate({**event.json(), "cursor": event.id})
        finally:
            await response.aclose()


# --- experiments ---
# Experiments, exposures and variations: the operations in `_prompt_experiments`, the wire
# models in `eco_shared.models.prompt_experiments` (imported above, re-exported here).

__all__ += prompt_experiments.__all__


class PromptStoreAdapter(ExperimentOps, _PromptOps):
    """The prompt store's operations. Reads need `prompts:read`, writes `prompts:write`.

    Errors are `AdapterError`s with the service's problem+json: 404 for an unknown prompt,
    version or label, 409 for a taken name or a stale `expected_version` (the problem's
    `current_version` says the label's version), 400/422 for bad input (`errors[]` names
    each variable or template problem).
    """

    service_name = "prompt-store"
