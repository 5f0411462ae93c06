"""Prompts and their versions: create, list and search, add a version, read."""

from __future__ import annotations

import hashlib
from typing import Any

from eco_prompt_store import repository as repo
from eco_prompt_store.service._base import (
    ServiceBase,
    log,
    now,
    prompt_view,
    template_errors,
    version_view,
)
from eco_prompt_store.service._paging import cut, decode_position
from eco_shared.auth import Principal
from eco_shared.models.prompt_store import (
    Prompt,
    PromptCreate,
    PromptPage,
    PromptVersion,
    PromptVersionCreate,
    VersionPage,
)
from eco_shared.problems import Conflict, NotFound, ValidationProblem
from eco_shared.prompts import template

# Paths under /prompts that are not prompt names.
RESERVED_NAMES = frozenset({"watch", "by-sha256"})
# What a version may be stored with: unused declarations are only a warning.
_WARNINGS = frozenset({"unused_variable"})


def content_key(body: PromptVersionCreate, variables: dict[str, Any]) -> str:
    """The identity of a version's content: template, syntax, variables and config."""
    canonical = repo.dumps(
        {
            "template": body.template,
            "syntax": body.syntax,
            "variables": variables,
            "config": body.config,
        }
    )
    return hashlib.sha256(canonical.encode()).hexdigest()


class PromptOps(ServiceBase):
    """Every write records its principal; versions are immutable and content-addressed."""

    async def create_prompt(self, caller: Principal, body: PromptCreate) -> Prompt:
        if body.name in RESERVED_NAMES:
            raise ValidationProblem.field("body", "name", f"{body.name!r} is reserved")
        async with self.writing() as conn:
            try:
                prompt = await repo.insert_prompt(
                    conn,
                    name=body.name,
                    description=body.description,
                    tags=list(dict.fromkeys(body.tags)),
                    kind=body.kind,
                    created_at=now(),
                    created_by=caller.subject,
                )
            except repo.NameTaken:
                raise Conflict(
                    f"A prompt named {body.name!r} exists.", title="Prompt exists"
                ) from None
        log.info("prompt_created", name=body.name, by=caller.subject)
        return prompt_view(prompt, {})

    async def get_prompt(self, name: str) -> Prompt:
        async with self.engine.connect() as conn:
            prompt = await self._prompt(conn, name)
            labels = await repo.labels_of(conn, [prompt.id])
        return prompt_view(prompt, labels[prompt.id])

    async def list_prompts(
        self,
        *,
        q: str | None,
        tag: str | None,
        kind: str | None,
        cursor: str | None,
        limit: int,
    ) -> PromptPage:
        before = decode_position(cursor)
        async with self.engine.connect() as conn:
            rows = await repo.list_prompts(
                conn, q=q, tag=tag, kind=kind, before_id=before, limit=limit + 1
            )
            page, next_cursor = cut(rows, limit, lambda p: p.id)
            labels = await repo.labels_of(conn, [p.id for p in page])
        items = [prompt_view(p, labels[p.id]) for p in page]
        return PromptPage(items=items, next_cursor=next_cursor)

    async def add_version(
        self,
        caller: Principal,
        name: str,
        body: PromptVersionCreate,
        *,
        origin: dict[str, Any] | None = None,
        move_latest: bool = True,
    ) -> tuple[PromptVersion, bool]:
        """Store a version (True), or find the identical one stored before (False); the
        requested labels, and `latest` unless told otherwise, point at it afterwards."""
        variables = {k: v.model_dump(exclude_unset=True) for k, v in body.variables.items()}
        async with self.engine.connect() as conn:
            kind = (await self._prompt(conn, name)).kind
        problems = template.lint(body.template, body.syntax, variables, kind=kind)  # type: ignore[arg-type]
        blocking = [p for p in problems if p["code"] not in _WARNINGS]
        if blocking:
            raise ValidationProblem(
                template_errors(blocking),
                f"The template cannot be stored: {blocking[0]['message']}",
                title="Template refused",
            )
        key = content_key(body, variables)
        labels = [label for label in dict.fromkeys(body.labels) if label != repo.LATEST]
        if move_latest:
            labels.insert(0, repo.LATEST)
        async with self.writing() as conn:
            prompt = await self._prompt(conn, name)
            await repo.lock_prompt(conn, prompt.id)
            stored = await repo.find_by_content(conn, prompt.id, key)
            created = stored is None
            if stored is None:
                number = await repo.claim_version(conn, prompt.id)
                new = repo.NewVersion(
                    prompt_id=prompt.id,
                    sha256=hashlib.sha256(body.template.encode("utf-8")).hexdigest(),
                    content_key=key,
                    template=body.template,
                    syntax=body.syntax,
                    variables=variables,
                    config=body.config,
                    message=body.message,
                    author=caller.subject,
                    created_at=now(),
                    origin=origin if origin is not None else {"kind": "push"},
                )
                await repo.insert_version(conn, new, number)
                stored = await self._version(conn, prompt, number)
            for label in labels if created else [x for x in labels if x != repo.LATEST]:
                current = await repo.get_label(conn, prompt.id, label)
                if current is None or current.version != stored.version:
                    reason = f"version {stored.version} stored" if label == repo.LATEST else None
                    expected = current.version if current else None
                    await self._record_move(
                        conn,
                        prompt,
                        label,
                        stored,
                        expected,
                        caller.subject,
                        reason or body.message,
                    )
            view = await self._version_view(conn, stored)
        if created:
            log.info("prompt_version_stored", name=name, version=view.version, by=caller.subject)
        return view, created

    async def get_version(self, name: str, number: int) -> PromptVersion:
        async with self.engine.connect() as conn:
            prompt = await self._prompt(conn, name)
            return await self._version_view(conn, await self._version(conn, prompt, number))

    async def get_by_sha256(self, sha256: str) -> PromptVersion:
        async with self.engine.connect() as conn:
            version = await repo.get_by_sha256(conn, sha256)
            if version is None:
                raise NotFound("Version", sha256, f"No version with sha256 {sha256}.")
            return await self._version_view(conn, version)

    async def list_versions(self, name: str, *, cursor: str | None, limit: int) -> VersionPage:
        before = decode_position(cursor)
        async with self.engine.connect() as conn:
            prompt = await self._prompt(conn, name)
            rows = await repo.list_versions(conn, prompt.id, before=before, limit=limit + 1)
            page, next_cursor = cut(rows, limit, lambda v: v.version)
            labels = await repo.labels_at(conn, prompt.id, [v.version for v in page])
        items = [version_view(v, labels[v.version]) for v in page]
        return VersionPage(items=items, next_cursor=next_cursor)
