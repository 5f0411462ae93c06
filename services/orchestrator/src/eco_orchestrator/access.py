"""Who may see a run, the grant a run acts for its owner with, and the audit trail.

A run belongs to the verified caller that created it (`Principal.owner`); any other caller
gets 404 for it, exactly as if it did not exist, unless it holds `runs:read:all` (or
`admin`). When a user starts a run, their bearer token is exchanged at the issuer for a run
grant bound to that run id; the grant is stored with the run, so whichever replica executes
(or resumes) the run acts for the user with it.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any

import structlog
from fastapi import Request

from eco_orchestrator.models import Run, utcnow
from eco_shared.auth import Principal, ServiceAuth, TokenError
from eco_shared.bus import EventBus
from eco_shared.problems import ProblemError, Unavailable

log = structlog.get_logger(__name__)

AUDIT_STREAM = "eco.audit"
READ_ALL = "runs:read"  # `sees_all(READ_ALL)`: runs:read:all, or admin


def sees_all(caller: Principal) -> bool:
    """Whether the caller sees every principal's runs."""
    return caller.sees_all(READ_ALL)


def visible(run: Run, caller: Principal) -> bool:
    """Whether `caller` may know that `run` exists."""
    return sees_all(caller) or (run.owner is not None and run.owner == caller.owner)


def bearer_token(request: Request) -> str | None:
    """The raw bearer token the request came with (None without one: auth off)."""
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    return token.strip() or None if scheme.lower() == "bearer" else None


async def run_grant(
    auth: ServiceAuth | None, user_token: str | None, run_id: str
) -> tuple[str | None, datetime | None]:
    """The issuer's grant for `run_id`, from the caller's token; (None, None) when this
    orchestrator has no credentials (auth off): the run then acts as the orchestrator."""
    tokens = auth.tokens if auth is not None else None
    if tokens is None or user_token is None:
        return None, None
    try:
        grant, ttl_s = await tokens.run_grant(user_token, run_id)
    except TokenError as exc:
        if exc.status is None or exc.status >= 500:
            raise Unavailable(
                "The issuer cannot be reached to grant the run; try again shortly.",
                title="Issuer unavailable",
                retry_after_s=2,
            ) from exc
        raise ProblemError(
            403,
            f"The issuer refused to let a run act for you: {exc}",
            title="Delegation refused",
            type="urn:eco:problem:delegation-refused",
        ) from exc
    return grant, utcnow() + timedelta(seconds=ttl_s) if ttl_s > 0 else None


async def audit(bus: EventBus, type: str, data: Mapping[str, Any]) -> None:
    """Publish a security-relevant action on `eco.audit` (after the write it reports)."""
    try:
        await bus.publish(type, dict(data), stream=AUDIT_STREAM)
    except Exception as exc:  # the action is done; a lost audit record is logged loudly
        log.error("audit_publish_failed", type=type, error=str(exc)[:200], **dict(data))


def actor(caller: Principal) -> dict[str, Any]:
    """Who did it, for an audit record (the subject and whoever acted for it)."""
    record: dict[str, Any] = {"by": caller.subject}
    if caller.actors:
        record["acting_chain"] = caller.acting_chain()
    if caller.key_id:
        record["key_id"] = caller.key_id
    return record
