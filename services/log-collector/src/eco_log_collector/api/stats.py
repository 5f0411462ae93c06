"""`GET /stats`: counts by service and level, ingest lag, dropped records."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query
from redis.exceptions import RedisError

from eco_log_collector import service
from eco_log_collector.api._params import TIME_HELP, check_window, parse_time
from eco_log_collector.deps import Engine, Settings, State
from eco_log_collector.models import Stats
from eco_log_collector.records import now_us
from eco_shared.bus import EVENTS, LOGS
from eco_shared.logship import DROPPED_KEY
from eco_shared.problems import ProblemError

router = APIRouter(prefix="/stats", tags=["stats"])


@router.get("", summary="Counts by service and level over a window; ingest lag; drops")
async def get_stats(
    state: State,
    engine: Engine,
    settings: Settings,
    since: Annotated[
        str | None, Query(max_length=64, description=TIME_HELP + " Default 1h.")
    ] = None,
    until: Annotated[str | None, Query(max_length=64, description=TIME_HELP)] = None,
) -> Stats:
    since_us = parse_time(since or "1h", "since")
    until_us = parse_time(until, "until")
    if until_us is None:
        until_us = now_us() + 1
    assert since_us is not None
    check_window(since_us, until_us)
    try:
        return await service.collect_stats(
            engine,
            state.redis,
            keys={LOGS: state.bus.key(LOGS), EVENTS: state.bus.key(EVENTS)},
            dropped_key=settings.key(DROPPED_KEY),
            group=settings.consumer_group,
            since_us=since_us,
            until_us=until_us,
        )
    except RedisError as exc:
        raise ProblemError(503, f"Redis is unavailable: {type(exc).__name__}") from None
