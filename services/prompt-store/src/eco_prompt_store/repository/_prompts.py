"""Every query on prompts and their versions, on a connection the caller owns.

Nothing here commits: the service opens one transaction per write. A version number is
claimed with `UPDATE prompts ... RETURNING`, which takes the prompt's row lock on
PostgreSQL (and SQLite's write lock), so concurrent writers of one prompt queue there.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

from eco_prompt_store.repository._tables import (
    VERSION_COLUMNS,
    NameTaken,
    NewVersion,
    PromptRecord,
    VersionRecord,
    dumps,
    labels,
    prompts,
    versions,
)

LATEST = "latest"


def _like(text: str) -> str:
    """A LIKE pattern (escape `\\`) matching any text containing `text`."""
    escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


async def insert_prompt(
    conn: AsyncConnection,
    *,
    name: str,
    description: str | None,
    tags: list[str],
    kind: str,
    created_at: datetime,
    created_by: str,
) -> PromptRecord:
    """A new prompt without versions (`NameTaken` when the name exists)."""
    values = {
        "name": name,
        "description": description,
        "tags": dumps(tags),
        "kind": kind,
        "last_version": 0,
        "created_at": created_at,
        "created_by": created_by,
    }
    try:
        result = await conn.execute(prompts.insert().values(**values).returning(prompts.c.id))
    except IntegrityError as exc:
        raise NameTaken(name) from exc
    return PromptRecord(
        id=result.scalar_one(),
        name=name,
        description=description,
        tags=tags,
        kind=kind,
        last_version=0,
        created_at=created_at,
        created_by=created_by,
    )


async def get_prompt(conn: AsyncConnection, name: str) -> PromptRecord | None:
    row = (await conn.execute(sa.select(prompts).where(prompts.c.name == name))).mappings().first()
    return PromptRecord.of(row) if row else None


async def list_prompts(
    conn: AsyncConnection,
    *,
    q: str | None,
    tag: str | None,
    kind: str | None,
    before_id: int | None,
    limit: int,
) -> list[PromptRecord]:
    """Prompts newest first; `q` is a case-insensitive substring of the name, description,
    tags or the text of the version `latest` points at."""
    query = sa.select(prompts)
    if q:
        pattern = _like(q.lower())
        latest_text = (
            sa.select(versions.c.id)
            .join(
                labels,
                sa.and_(
                    labels.c.prompt_id == versions.c.prompt_id,
                    labels.c.version == versions.c.version,
                    labels.c.label == LATEST,
                ),
            )
            .where(
                versions.c.prompt_id == prompts.c.id,
                sa.func.lower(versions.c.template).like(pattern, escape="\\"),
            )
        )
        query = query.where(
            sa.or_(
                sa.func.lower(prompts.c.name).like(pattern, escape="\\"),
                sa.func.lower(sa.func.coalesce(prompts.c.description, "")).like(
                    pattern, escape="\\"
                ),
                sa.func.lower(prompts.c.tags).like(pattern, escape="\\"),
                latest_text.exists(),
            )
        )
    if tag is not None:
        # tags are stored as canonical JSON text: `"tag"` matches that tag exactly
        query = query.where(prompts.c.tags.like(_like(dumps(tag)), escape="\\"))
    if kind is not None:
        query = query.where(prompts.c.kind == kind)
    if before_id is not None:
        query = query.where(prompts.c.id < before_id)
    rows = (await conn.execute(query.order_by(prompts.c.id.desc()).limit(limit))).mappings()
    return [PromptRecord.of(r) for r in rows]


async def labels_of(conn: AsyncConnection, prompt_ids: Sequence[int]) -> dict[int, dict[str, int]]:
    """Every label of these prompts: prompt id -> {label: version}."""
    found: dict[int, dict[str, int]] = {i: {} for i in prompt_ids}
    if prompt_ids:
        query = sa.select(labels.c.prompt_id, labels.c.label, labels.c.version).where(
            labels.c.prompt_id.in_(prompt_ids)
        )
        for prompt_id, label, version in await conn.execute(query.order_by(labels.c.label)):
            found[prompt_id][label] = version
    return found


async def labels_at(
    conn: AsyncConnection, prompt_id: int, numbers: Sequence[int]
) -> dict[int, list[str]]:
    """The labels pointing at each of these versions of a prompt."""
    found: dict[int, list[str]] = {n: [] for n in numbers}
    if numbers:
        query = sa.select(labels.c.version, labels.c.label).where(
            labels.c.prompt_id == prompt_id, labels.c.version.in_(numbers)
        )
        for version, label in await conn.execute(query.order_by(labels.c.label)):
            found[version].append(label)
    return found


async def lock_prompt(conn: AsyncConnection, prompt_id: int) -> None:
    """Hold the prompt's row (PostgreSQL) or the write lock (SQLite) until the commit, so
    writers of one prompt take turns."""
    await conn.execute(
        prompts.update()
        .where(prompts.c.id == prompt_id)
        .values(last_version=prompts.c.last_version)
    )


async def claim_version(conn: AsyncConnection, prompt_id: int) -> int:
    """The next version number of a prompt (locks the prompt until the commit)."""
    result = await conn.execute(
        prompts.update()
        .where(prompts.c.id == prompt_id)
        .values(last_version=prompts.c.last_version + 1)
        .returning(prompts.c.last_version)
    )
    return int(result.scalar_one())


async def insert_version(conn: AsyncConnection, new: NewVersion, number: int) -> None:
    await conn.execute(
        versions.insert().values(
            prompt_id=new.prompt_id,
            version=number,
            sha256=new.sha256,
            content_key=new.content_key,
            template=new.template,
            syntax=new.syntax,
            variables=dumps(new.variables),
            config=dumps(new.config),
            message=new.message,
            author=new.author,
            created_at=new.created_at,
            origin=dumps(new.origin) if new.origin is not None else None,
        )
    )


def _versions() -> sa.Select[tuple[object, ...]]:
    return sa.select(*VERSION_COLUMNS).join(prompts, prompts.c.id == versions.c.prompt_id)


async def _one(conn: AsyncConnection, query: sa.Select[tuple[object, ...]]) -> VersionRecord | None:
    row = (await conn.execute(query.limit(1))).mappings().first()
    return VersionRecord.of(row) if row else None


async def find_by_content(
    conn: AsyncConnection, prompt_id: int, content_key: str
) -> VersionRecord | None:
    """The version of this prompt with exactly this template, syntax, variables and config."""
    query = _versions().where(
        versions.c.prompt_id == prompt_id, versions.c.content_key == content_key
    )
    return await _one(conn, query)


async def get_version(conn: AsyncConnection, prompt_id: int, number: int) -> VersionRecord | None:
    query = _versions().where(versions.c.prompt_id == prompt_id, versions.c.version == number)
    return await _one(conn, query)


async def get_by_sha256(conn: AsyncConnection, sha256: str) -> VersionRecord | None:
    """The first version stored with these template bytes (of any prompt)."""
    return await _one(conn, _versions().where(versions.c.sha256 == sha256).order_by(versions.c.id))


async def list_versions(
    conn: AsyncConnection, prompt_id: int, *, before: int | None, limit: int
) -> list[VersionRecord]:
    """Versions of a prompt, newest first."""
    query = _versions().where(versions.c.prompt_id == prompt_id)
    if before is not None:
        query = query.where(versions.c.version < before)
    rows = await conn.execute(query.order_by(versions.c.version.desc()).limit(limit))
    return [VersionRecord.of(r) for r in rows.mappings()]
