"""Seeding the prompt store with the prompts shipped in code, at every start.

Idempotent: posting a version's identical bytes answers the existing version, and the
`production` label is set only where it does not exist yet (compare-and-swap against
"no label"; a 409 means someone set it first, and it is left alone). It runs in the
background, retrying with back-off until every seed is in, so a store that is absent never
delays start-up or readiness; until then the client serves the seeds themselves.
"""

from __future__ import annotations

import asyncio
import contextvars
from collections.abc import Mapping

import structlog

from eco_shared.adapters._base import AdapterError
from eco_shared.adapters.prompt_store import PromptStoreAdapter
from eco_shared.auth import acting_for
from eco_shared.prompts.client import Seed
from eco_shared.supervise import Backoff

log = structlog.get_logger(__name__)

SEED_REASON = "seeded from the prompts shipped with eco-orchestrator"


async def push_seed(store: PromptStoreAdapter, seed: Seed, label: str) -> int:
    """Put one seed in the store and point `label` at it if the label is unset; its version."""
    try:
        await store.create_prompt(seed.name, description=seed.description, kind="text")
    except AdapterError as exc:
        if exc.status != 409:  # 409: the prompt exists already
            raise
    body = {
        "template": seed.text,
        "syntax": seed.syntax,
        "variables": dict(seed.variables),
        "config": dict(seed.config),
        "message": SEED_REASON,
    }
    version = await store.add_version(seed.name, body)
    if version.sha256 != seed.sha256:
        raise ValueError(f"the store hashed seed {seed.name} {version.sha256}, not {seed.sha256}")
    try:
        await store.move_label(seed.name, label, version.version, None, SEED_REASON)
        log.info("prompt_seed_labelled", prompt=seed.name, label=label, version=version.version)
    except AdapterError as exc:
        if exc.status != 409:  # 409: the label exists; whoever set it decides
            raise
    return version.version


async def push_seeds(
    store: PromptStoreAdapter,
    seeds: Mapping[str, Seed],
    label: str,
    *,
    initial_s: float = 0.5,
    max_s: float = 30.0,
) -> dict[str, int]:
    """Push every seed, retrying the ones that fail until all are in; their versions."""
    backoff = Backoff(initial_s, max_s)
    pending = dict(seeds)
    done: dict[str, int] = {}
    with acting_for(None):  # the orchestrator's own calls, whatever context started it
        while pending:
            for name, seed in list(pending.items()):
                try:
                    done[name] = await push_seed(store, seed, label)
                except Exception as exc:  # an absent store, or a refusal: retried either way
                    log.warning("prompt_seed_deferred", prompt=name, error=str(exc)[:300])
                else:
                    del pending[name]
            if pending:
                await asyncio.sleep(backoff.next_delay())
    log.info("prompt_seeds_pushed", prompts=sorted(done))
    return done


def start_seeding(
    store: PromptStoreAdapter, seeds: Mapping[str, Seed], label: str
) -> asyncio.Task[dict[str, int]]:
    """`push_seeds` as a background task of its own (a clean context: no caller's grant)."""
    return contextvars.Context().run(
        asyncio.create_task, push_seeds(store, seeds, label), name="prompt-seeding"
    )
