"""Experiments and exposures against a real process (SQLite and PostgreSQL): create, list,
stop, promote (a recorded label move, never automatic), the resolution's definition, bad
input refused with nothing stored, and idempotent exposures checked against assignment."""

from __future__ import annotations

import asyncio
import re
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest

from eco_shared.prompts.assign import assign
from eco_shared.testing.auth import bearer

TEMPLATES = ("Write docs for {{ topic }}.", "Document {{ topic }} clearly.", "Explain {{ topic }}.")
VARIABLES = {"topic": {"type": "string"}}


async def _prompt_on_label(client: httpx.AsyncClient, new_prompt: Any, name: str) -> None:
    """A prompt with three versions and `production` at version 1."""
    await new_prompt(name, *TEMPLATES, variables=VARIABLES)
    moved = await client.put(
        f"/prompts/{name}/labels/production", json={"version": 1, "expected_version": None}
    )
    assert moved.status_code == 200, moved.text


def _experiment(prompt_name: str, **overrides: Any) -> dict[str, Any]:
    return {
        "name": "wording",
        "prompt": prompt_name,
        "label": "production",
        "arms": [
            {"name": "control", "version": 1, "weight": 0.5},
            {"name": "clear", "version": 2, "weight": 0.5},
        ],
        **overrides,
    }


async def _experiments_of(client: httpx.AsyncClient, name: str) -> list[dict[str, Any]]:
    page = await client.get("/experiments", params={"prompt": name})
    assert page.status_code == 200, page.text
    return list(page.json()["items"])


async def test_create_read_list_and_stop(
    client: httpx.AsyncClient, name: str, new_prompt: Any
) -> None:
    await _prompt_on_label(client, new_prompt, name)
    resolution = f"/prompts/{name}/labels/production/resolution"
    plain_etag = (await client.get(resolution)).headers["etag"]
    created = await client.post("/experiments", json=_experiment(name, min_sample=50))
    assert created.status_code == 201, created.text
    experiment = created.json()
    assert created.headers["location"] == f"/experiments/{experiment['id']}"
    assert (experiment["status"], experiment["created_by"]) == ("running", "user:test")
    assert (experiment["min_sample"], experiment["metric"]) == (50, "score")
    assert re.fullmatch(r"[0-9a-f]{32}", experiment["salt"])  # random when not given
    assert [a["name"] for a in experiment["arms"]] == ["control", "clear"]
    assert (await client.get(f"/experiments/{experiment['id']}")).json() == experiment
    assert await _experiments_of(client, name) == [experiment]
    stopped_page = await client.get("/experiments", params={"prompt": name, "status": "stopped"})
    assert stopped_page.json()["items"] == []

    # the resolution carries the definition: salt, weights and each arm's version
    answer = await client.get(resolution, headers={"If-None-Match": plain_etag})
    assert answer.status_code == 200  # a cached resolution without the experiment is stale
    resolved = answer.json()
    definition = resolved["experiment"]
    assert (definition["id"], definition["salt"]) == (experiment["id"], experiment["salt"])
    assert [(a["name"], a["weight"], a["version"]["version"]) for a in definition["arms"]] == [
        ("control", 0.5, 1),
        ("clear", 0.5, 2),
    ]
    assert definition["arms"][1]["version"]["template"] == TEMPLATES[1]

    stop = await client.post(f"/experiments/{experiment['id']}/stop", json={"reason": "enough"})
    assert stop.status_code == 200, stop.text
    assert (stop.json()["status"], stop.json()["stop_reason"]) == ("stopped", "enough")
    assert stop.json()["stopped_by"] == "user:test"
    again = await client.post(f"/experiments/{experiment['id']}/stop")
    assert again.status_code == 409
    assert again.headers["content-type"] == "application/problem+json"
    resolved = (await client.get(f"/prompts/{name}/labels/production/resolution")).json()
    assert resolved["experiment"] is None
    assert resolved["version"]["version"] == 1  # stopping moves nothing
    assert (await client.get(resolution)).headers["etag"] == plain_etag
    assert (
        await client.get("/experiments/00000000-0000-0000-0000-000000000000")
    ).status_code == 404


def _arms(*arms: tuple[str, int, float]) -> list[dict[str, Any]]:
    return [{"name": n, "version": v, "weight": w} for n, v, w in arms]


@pytest.mark.parametrize(
    ("change", "status", "field"),
    [
        ({"arms": _arms(("a", 1, 0.5), ("b", 2, 0.4))}, 422, "arms"),
        ({"arms": _arms(("a", 1, 0.5), ("b", 2, 0.5 + 1e-6))}, 422, "arms"),
        ({"arms": _arms(("a", 1, 0.5), ("a", 2, 0.5))}, 422, "arms.1.name"),
        ({"arms": _arms(("a", 1, 0.5), ("b", 9, 0.5))}, 422, "arms.1.version"),
        ({"arms": _arms(("a", 1, 1.0))}, 422, "arms"),
        ({"arms": _arms(("a", 1, 1.5), ("b", 2, -0.5))}, 422, "arms.0.weight"),
        ({"label": "latest"}, 422, "label"),
        ({"label": "staging"}, 422, "label"),
        ({"prompt": "no-such-prompt"}, 404, None),
    ],
    ids=[
        "sum-0.9",
        "sum-off-by-1e-6",
        "repeated-arm",
        "unknown-version",
        "one-arm",
        "weight-out-of-range",
        "latest",
        "label-not-set",
        "unknown-prompt",
    ],
)
async def test_bad_experiments_are_refused_and_store_nothing(
    client: httpx.AsyncClient,
    name: str,
    new_prompt: Any,
    change: dict[str, Any],
    status: int,
    field: str | None,
) -> None:
    await _prompt_on_label(client, new_prompt, name)
    refused = await client.post("/experiments", json=_experiment(name, **change))
    assert refused.status_code == status, refused.text
    assert refused.headers["content-type"] == "application/problem+json"
    if field is not None:
        assert field in [e["field"] for e in refused.json()["errors"]], refused.json()
    assert await _experiments_of(client, name) == []
    resolved = (await client.get(f"/prompts/{name}/labels/production/resolution")).json()
    assert resolved["experiment"] is None


async def test_weights_summing_to_one_within_rounding_are_accepted(
    client: httpx.AsyncClient, name: str, new_prompt: Any
) -> None:
    await _prompt_on_label(client, new_prompt, name)
    third = 1 / 3
    arms = _arms(("a", 1, third), ("b", 2, third), ("c", 3, third), ("off", 1, 0.0))
    created = await client.post("/experiments", json=_experiment(name, arms=arms, salt="s1"))
    assert created.status_code == 201, created.text
    assert created.json()["salt"] == "s1"


async def test_one_running_experiment_per_label(
    client: httpx.AsyncClient, name: str, new_prompt: Any
) -> None:
    await _prompt_on_label(client, new_prompt, name)
    racing = await asyncio.gather(
        *(client.post("/experiments", json=_experiment(name, name=f"e{i}")) for i in range(4))
    )
    assert sorted(r.status_code for r in racing) == [201, 409, 409, 409]
    winner = next(r.json() for r in racing if r.status_code == 201)
    assert [e["id"] for e in await _experiments_of(client, name)] == [winner["id"]]
    assert (await client.post(f"/experiments/{winner['id']}/stop")).status_code == 200
    after = await client.post("/experiments", json=_experiment(name))
    assert after.status_code == 201, after.text
    assert [e["status"] for e in await _experiments_of(client, name)] == ["running", "stopped"]


async def test_experiments_page_by_cursor_and_any_cursor_of_the_pattern_is_a_position(
    client: httpx.AsyncClient, name: str, new_prompt: Any
) -> None:
    await _prompt_on_label(client, new_prompt, name)
    made = []
    for n in range(3):  # one runs at a time per label: stop each before the next
        created = await client.post("/experiments", json=_experiment(name, name=f"e{n}"))
        assert created.status_code == 201, created.text
        made.append(created.json()["id"])
        assert (await client.post(f"/experiments/{made[-1]}/stop")).status_code == 200
    seen: list[str] = []
    cursor = None
    while True:
        params: dict[str, Any] = {"prompt": name, "limit": 1}
        if cursor:
            params["cursor"] = cursor
        page = (await client.get("/experiments", params=params)).json()
        seen += [e["id"] for e in page["items"]]
        cursor = page.get("next_cursor")
        if not cursor:
            break
    assert seen == made[::-1]  # newest first, each once
    for odd in ("A" * 32, "_" * 32, "-" * 32, "0" * 32):  # far future, far past, ...
        answer = await client.get("/experiments", params={"prompt": name, "cursor": odd})
        assert answer.status_code == 200, answer.text
    assert (await client.get("/experiments", params={"cursor": "short"})).status_code == 422


async def test_promotion_is_a_recorded_label_move_and_stops_the_experiment(
    client: httpx.AsyncClient, name: str, new_prompt: Any
) -> None:
    await _prompt_on_label(client, new_prompt, name)
    experiment = (await client.post("/experiments", json=_experiment(name))).json()
    # results never move anything by themselves
    await client.get(f"/experiments/{experiment['id']}/results")
    assert (await client.get(f"/prompts/{name}")).json()["labels"]["production"] == 1

    unknown = await client.post(f"/experiments/{experiment['id']}/promote", json={"arm": "zzz"})
    assert unknown.status_code == 422
    stale = await client.post(
        f"/experiments/{experiment['id']}/promote", json={"arm": "clear", "expected_version": 3}
    )
    assert stale.status_code == 409
    assert stale.json()["current_version"] == 1
    assert (await client.get(f"/experiments/{experiment['id']}")).json()["status"] == "running"

    promoted = await client.post(
        f"/experiments/{experiment['id']}/promote",
        json={"arm": "clear", "reason": "clearer wins", "expected_version": 1},
    )
    assert promoted.status_code == 200, promoted.text
    body = promoted.json()
    assert (body["label"]["version"], body["label"]["previous_version"]) == (2, 1)
    assert (body["label"]["moved_by"], body["label"]["reason"]) == ("user:test", "clearer wins")
    assert (body["experiment"]["status"], body["experiment"]["promoted_arm"]) == (
        "stopped",
        "clear",
    )
    history = (await client.get(f"/prompts/{name}/labels/production/history")).json()["items"]
    assert (history[0]["from_version"], history[0]["to_version"]) == (1, 2)
    assert (history[0]["by"], history[0]["reason"]) == ("user:test", "clearer wins")
    resolved = (await client.get(f"/prompts/{name}/labels/production/resolution")).json()
    assert (resolved["version"]["version"], resolved["experiment"]) == (2, None)
    again = await client.post(f"/experiments/{experiment['id']}/promote", json={"arm": "control"})
    assert again.status_code == 409
    assert (await client.get(f"/prompts/{name}")).json()["labels"]["production"] == 2


async def test_promotion_without_expected_version_takes_the_current_one(
    client: httpx.AsyncClient, name: str, new_prompt: Any
) -> None:
    await _prompt_on_label(client, new_prompt, name)
    experiment = (await client.post("/experiments", json=_experiment(name))).json()
    promoted = await client.post(f"/experiments/{experiment['id']}/promote", json={"arm": "clear"})
    assert promoted.status_code == 200, promoted.text
    assert "wording" in promoted.json()["label"]["reason"]  # a reason is always recorded


def _exposure(experiment: dict[str, Any], unit: str, run: str | None = None) -> dict[str, Any]:
    arms = [(a["name"], a["weight"]) for a in experiment["arms"]]
    item = {
        "experiment_id": experiment["id"],
        "arm": assign(experiment["salt"], unit, arms),
        "unit_id": unit,
        "at": datetime.now(UTC).isoformat(),
    }
    return {**item, "run_id": run} if run else item


async def test_exposures_are_idempotent_by_experiment_unit_and_run(
    client: httpx.AsyncClient, name: str, new_prompt: Any
) -> None:
    await _prompt_on_label(client, new_prompt, name)
    experiment = (await client.post("/experiments", json=_experiment(name))).json()
    items = [_exposure(experiment, f"user:{i}", f"run-{i}") for i in range(40)]
    first = await client.post("/exposures", json={"items": items})
    assert first.status_code == 202, first.text
    assert first.json() == {"accepted": 40, "new": 40}
    again = await client.post("/exposures", json={"items": items + items[:5]})
    assert again.json() == {"accepted": 45, "new": 0}
    # the same unit in another run is another exposure, of the same unit
    more = [_exposure(experiment, "user:0", "run-x"), _exposure(experiment, "user:0")]
    assert (await client.post("/exposures", json={"items": more})).json()["new"] == 2
    results = (await client.get(f"/experiments/{experiment['id']}/results")).json()
    by_arm = {a["arm"]: a for a in results["arms"]}
    expected_units = {"control": 0, "clear": 0}
    for item in items:
        expected_units[item["arm"]] += 1
    assert {a: by_arm[a]["units"] for a in by_arm} == expected_units
    assert sum(a["exposures"] for a in by_arm.values()) == 42


async def test_bad_exposures_are_refused_whole(
    client: httpx.AsyncClient, name: str, new_prompt: Any
) -> None:
    await _prompt_on_label(client, new_prompt, name)
    experiment = (await client.post("/experiments", json=_experiment(name))).json()
    good = _exposure(experiment, "user:a")
    wrong_arm = {**_exposure(experiment, "user:b")}
    wrong_arm["arm"] = "clear" if wrong_arm["arm"] == "control" else "control"
    for bad, field in [
        (wrong_arm, "items.1.arm"),
        ({**good, "unit_id": "user:c", "arm": "nope"}, "items.1.arm"),
        ({**good, "experiment_id": "no-such-experiment"}, "items.1.experiment_id"),
    ]:
        refused = await client.post("/exposures", json={"items": [good, bad]})
        assert refused.status_code == 422, refused.text
        assert field in [e["field"] for e in refused.json()["errors"]]
    too_many = [_exposure(experiment, f"u{i}") for i in range(501)]
    assert (await client.post("/exposures", json={"items": too_many})).status_code == 422
    assert (await client.post("/exposures", json={"items": []})).status_code == 422
    results = (await client.get(f"/experiments/{experiment['id']}/results")).json()
    assert sum(a["exposures"] for a in results["arms"]) == 0  # nothing of a refused batch


async def test_experiment_routes_need_their_scopes(
    store: Any, client: httpx.AsyncClient, name: str, new_prompt: Any
) -> None:
    await _prompt_on_label(client, new_prompt, name)
    reader = bearer("prompt-store", ["prompts:read"])
    async with httpx.AsyncClient(base_url=store.url, timeout=30, headers=reader) as read_only:
        refused = await read_only.post("/experiments", json=_experiment(name))
        assert refused.status_code == 403
        assert (await read_only.get("/experiments")).status_code == 200
    async with httpx.AsyncClient(base_url=store.url, timeout=30) as anonymous:
        assert (await anonymous.get("/experiments")).status_code == 401
    assert await _experiments_of(client, name) == []
