"""Prompts and versions against a real process (SQLite and PostgreSQL): content addressing,
idempotent reposts, immutability, `latest`, ETags, by-sha256, search, render, diff, lint."""

from __future__ import annotations

import hashlib
import json
from typing import Any

import httpx

from eco_shared.testing.auth import TestAuth


async def test_create_and_read_a_prompt_records_its_creator(
    client: httpx.AsyncClient, name: str
) -> None:
    body = {"name": name, "description": "Writes docs", "tags": ["docs", "v1"], "kind": "chat"}
    created = await client.post("/prompts", json=body)
    assert created.status_code == 201, created.text
    assert created.headers["location"] == f"/prompts/{name}"
    prompt = created.json()
    assert prompt["created_by"] == "user:test"
    assert (prompt["latest_version"], prompt["labels"], prompt["kind"]) == (None, {}, "chat")
    assert (await client.get(f"/prompts/{name}")).json() == prompt
    again = await client.post("/prompts", json=body)
    assert again.status_code == 409
    assert again.headers["content-type"] == "application/problem+json"
    assert (await client.get("/prompts/no-such-prompt")).status_code == 404


async def test_versions_are_content_addressed_and_identical_reposts_answer_the_first(
    client: httpx.AsyncClient, name: str, new_prompt: Any
) -> None:
    template = "Hello {{ who }} — ünïcode"
    body = {"template": template, "variables": {"who": {"type": "string"}}, "message": "first"}
    await new_prompt(name)
    first = await client.post(f"/prompts/{name}/versions", json=body)
    assert first.status_code == 201, first.text
    v1 = first.json()
    assert v1["version"] == 1
    assert v1["sha256"] == hashlib.sha256(template.encode("utf-8")).hexdigest()
    assert (v1["author"], v1["origin"]["kind"], v1["labels"]) == ("user:test", "push", ["latest"])
    assert v1["variables"]["who"]["type"] == "string"
    # a key not declared is absent, never null (a present "default" means "optional")
    assert "default" not in v1["variables"]["who"]
    assert "required" not in v1["variables"]["who"]

    repost = await client.post(f"/prompts/{name}/versions", json=body)
    assert repost.status_code == 200
    assert repost.headers["x-eco-existing"] == "true"
    assert repost.json() == v1
    # the same bytes with other config are another version, same sha256
    other = await client.post(f"/prompts/{name}/versions", json={**body, "config": {"t": 0.2}})
    assert other.status_code == 201
    v2 = other.json()
    assert (v2["version"], v2["sha256"], v2["config"]) == (2, v1["sha256"], {"t": 0.2})
    # reposting v1 later returns v1 and does not pull `latest` back
    assert (await client.post(f"/prompts/{name}/versions", json=body)).json()["version"] == 1
    prompt = (await client.get(f"/prompts/{name}")).json()
    assert (prompt["latest_version"], prompt["labels"]) == (2, {"latest": 2})
    # versions are immutable: v1 reads back exactly as stored
    stored = (await client.get(f"/prompts/{name}/versions/1")).json()
    assert {k: stored[k] for k in ("template", "sha256", "config", "message")} == {
        "template": template,
        "sha256": v1["sha256"],
        "config": {},
        "message": "first",
    }
    assert stored["labels"] == []
    page = (await client.get(f"/prompts/{name}/versions", params={"limit": 1})).json()
    assert [v["version"] for v in page["items"]] == [2]
    rest = await client.get(f"/prompts/{name}/versions", params={"cursor": page["next_cursor"]})
    assert [v["version"] for v in rest.json()["items"]] == [1]
    assert rest.json()["next_cursor"] is None
    bad = await client.get(f"/prompts/{name}/versions", params={"cursor": "nope"})
    assert bad.status_code == 422
    # every cursor the schema allows is a position: past the end is an empty page
    far = await client.get(f"/prompts/{name}/versions", params={"cursor": "AAAAAA"})
    assert far.json() == {"items": [], "next_cursor": None}


async def test_pushing_with_labels_moves_them(
    client: httpx.AsyncClient, name: str, new_prompt: Any
) -> None:
    await new_prompt(name, "one")
    pushed = await client.post(
        f"/prompts/{name}/versions", json={"template": "two", "labels": ["production", "latest"]}
    )
    assert sorted(pushed.json()["labels"]) == ["latest", "production"]
    prompt = (await client.get(f"/prompts/{name}")).json()
    assert prompt["labels"] == {"latest": 2, "production": 2}


async def test_refused_templates_store_nothing_and_name_each_problem(
    client: httpx.AsyncClient, name: str, new_prompt: Any
) -> None:
    await new_prompt(name)
    cases: list[tuple[dict[str, Any], str, str | None]] = [
        ({"template": "Hi {{ who }}"}, "undeclared_variable", "who"),
        ({"template": "{% if x %}", "syntax": "jinja2"}, "syntax_error", None),
        ({"template": "{{ ''.__class__ }}", "syntax": "jinja2"}, "sandbox_violation", None),
        ({"template": "{a.b}", "syntax": "fstring"}, "syntax_error", None),
        ({"template": "x" * (256 * 1024 + 1)}, "too_large", None),
    ]
    for body, code, variable in cases:
        refused = await client.post(f"/prompts/{name}/versions", json=body)
        assert refused.status_code == 422, (body, refused.text)
        assert refused.headers["content-type"] == "application/problem+json"
        errors = refused.json()["errors"]
        assert errors[0]["type"] == code
        if variable:
            assert errors[0]["variable"] == variable
            assert errors[0]["field"] == f"variables.{variable}"
    invalid = [
        {"template": "x", "syntax": "handlebars"},
        {"template": "x", "variables": {"a": {"type": "date"}}},
        {"template": "x", "labels": ["Not A Label"]},
        {"template": "x\x00"},
    ]
    for body in invalid:
        assert (await client.post(f"/prompts/{name}/versions", json=body)).status_code == 422
    assert (await client.get(f"/prompts/{name}/versions")).json()["items"] == []
    assert (await client.get(f"/prompts/{name}")).json()["latest_version"] is None
    for bad in ({"name": "Upper"}, {"name": "x", "kind": "image"}, {"name": "watch"}):
        assert (await client.post("/prompts", json=bad)).status_code == 422


async def test_etags_and_not_modified(
    client: httpx.AsyncClient, name: str, new_prompt: Any
) -> None:
    [v1] = await new_prompt(name, "etag me")
    sha = v1["sha256"]
    for path in (
        f"/prompts/{name}/versions/1",
        f"/prompts/{name}/labels/latest",
        f"/prompts/by-sha256/{sha}",
    ):
        first = await client.get(path)
        assert first.status_code == 200
        assert first.headers["etag"] == f'"{sha}"'
        assert first.json()["sha256"] == sha
        again = await client.get(path, headers={"If-None-Match": f'"{sha}"'})
        assert again.status_code == 304
        assert again.content == b""
        other = await client.get(path, headers={"If-None-Match": '"0000"'})
        assert other.status_code == 200
    found = (await client.get(f"/prompts/by-sha256/{sha}")).json()
    assert (found["name"], found["version"]) == (name, 1)
    assert (await client.get(f"/prompts/by-sha256/{'0' * 64}")).status_code == 404
    assert (await client.get("/prompts/by-sha256/xyz")).status_code == 422


async def test_resolution_has_an_etag_that_changes_when_the_label_moves(
    client: httpx.AsyncClient, name: str, new_prompt: Any
) -> None:
    await new_prompt(name, "one", "two")
    path = f"/prompts/{name}/labels/prod/resolution"
    assert (await client.get(path)).status_code == 404
    move = {"version": 1, "expected_version": None}
    created = await client.put(f"/prompts/{name}/labels/prod", json=move)
    assert created.status_code == 200, created.text
    first = await client.get(path)
    body = first.json()
    assert (body["name"], body["label"], body["version"]["version"]) == (name, "prod", 1)
    assert body["experiment"] is None
    etag = first.headers["etag"]
    assert (await client.get(path, headers={"If-None-Match": etag})).status_code == 304
    move = {"version": 2, "expected_version": 1}
    assert (await client.put(f"/prompts/{name}/labels/prod", json=move)).status_code == 200
    moved = await client.get(path, headers={"If-None-Match": etag})
    assert moved.status_code == 200
    assert moved.json()["version"]["version"] == 2
    assert moved.headers["etag"] != etag


async def test_search_by_text_name_tag_and_kind(client: httpx.AsyncClient, name: str) -> None:
    word = name.replace("-", "")
    bodies = [
        {"name": f"{name}-a", "tags": ["alpha"], "kind": "text"},
        {"name": f"{name}-b", "description": f"About {word.upper()} things", "kind": "text"},
        {"name": f"{name}-c", "tags": [f"t{word[:20]}"], "kind": "chat"},
    ]
    for body in bodies:
        assert (await client.post("/prompts", json=body)).status_code == 201
    text = f"Latest text mentions ZZ{word}ZZ"
    pushed = await client.post(f"/prompts/{name}-a/versions", json={"template": text})
    assert pushed.status_code == 201

    async def names(**params: str) -> list[str]:
        page = await client.get("/prompts", params={"limit": 100, **params})
        assert page.status_code == 200, page.text
        return [p["name"] for p in page.json()["items"]]

    assert await names(q=f"zz{word}zz") == [f"{name}-a"]  # the latest version's text
    assert await names(q=word.lower()) == [f"{name}-c", f"{name}-b", f"{name}-a"]
    assert await names(q=f"{name}-b") == [f"{name}-b"]
    assert await names(q=word, kind="chat") == [f"{name}-c"]
    assert f"{name}-a" in await names(tag="alpha")
    assert f"{name}-c" not in await names(tag="alpha")
    assert await names(q="100%_no_such") == []
    page = await client.get("/prompts", params={"q": name, "limit": 2})
    second = await client.get("/prompts", params={"q": name, "cursor": page.json()["next_cursor"]})
    assert [p["name"] for p in second.json()["items"]] == [f"{name}-a"]


async def test_render_text_and_chat_and_errors_name_each_variable(
    client: httpx.AsyncClient, name: str, new_prompt: Any
) -> None:
    variables = {"topic": {"type": "string"}, "n": {"type": "integer", "default": 3}}
    await new_prompt(name, "{{ topic }} x{{ n }}", variables=variables)
    path = f"/prompts/{name}/versions/1/render"
    ok = await client.post(path, json={"variables": {"topic": "APIs"}})
    assert ok.status_code == 200, ok.text
    body = ok.json()
    assert body["rendered"] == "APIs x3"
    assert body["rendered_sha256"] == hashlib.sha256(b"APIs x3").hexdigest()
    assert (body["name"], body["version"]) == (name, 1)
    bad = await client.post(path, json={"variables": {"n": "three", "extra": 1}})
    assert bad.status_code == 422
    assert bad.headers["content-type"] == "application/problem+json"
    named = {(e["type"], e["variable"]) for e in bad.json()["errors"]}
    assert named == {
        ("unknown_variable", "extra"),
        ("missing_variable", "topic"),
        ("type_mismatch", "n"),
    }
    assert (await client.post(f"/prompts/{name}/versions/9/render", json={})).status_code == 404

    chat = json.dumps(
        [{"role": "system", "content": "On {{ topic }}"}, {"role": "user", "content": "go"}]
    )
    await new_prompt(f"{name}-chat", chat, kind="chat", variables={"topic": {"type": "string"}})
    rendered = await client.post(
        f"/prompts/{name}-chat/versions/1/render", json={"variables": {"topic": "SSE"}}
    )
    assert json.loads(rendered.json()["rendered"]) == [
        {"role": "system", "content": "On SSE"},
        {"role": "user", "content": "go"},
    ]
    refused = await client.post(f"/prompts/{name}-chat/versions", json={"template": "plain"})
    assert refused.json()["errors"][0]["type"] == "invalid_chat"


async def test_diff_names_what_changed(
    client: httpx.AsyncClient, name: str, new_prompt: Any
) -> None:
    await new_prompt(name, "line one\nline two\n")
    await client.post(
        f"/prompts/{name}/versions", json={"template": "line one\nline 2\n", "config": {"m": 1}}
    )
    diff = await client.get(f"/prompts/{name}/diff", params={"from": 1, "to": 2})
    assert diff.status_code == 200, diff.text
    body = diff.json()
    assert body["changes"] == {
        "template": True,
        "variables": False,
        "config": True,
        "syntax": False,
    }
    assert "-line two\n" in body["unified"]
    assert "+line 2\n" in body["unified"]
    assert body["unified"].startswith(f"--- {name}@1\n+++ {name}@2\n")
    same = (await client.get(f"/prompts/{name}/diff", params={"from": 1, "to": 1})).json()
    assert same["unified"] == ""
    assert (
        await client.get(f"/prompts/{name}/diff", params={"from": 1, "to": 5})
    ).status_code == 404
    assert (await client.get(f"/prompts/{name}/diff", params={"from": 1})).status_code == 422


async def test_lint_answers_200_with_every_problem(client: httpx.AsyncClient) -> None:
    body = {
        "template": "{{ used }} {{ undeclared }}",
        "variables": {"used": {"type": "string"}, "spare": {"type": "number"}},
    }
    linted = await client.post("/lint", json=body)
    assert linted.status_code == 200
    problems = {(p["code"], p.get("variable")) for p in linted.json()["problems"]}
    assert problems == {("undeclared_variable", "undeclared"), ("unused_variable", "spare")}
    jinja = await client.post("/lint", json={"template": "a\n{% for %}", "syntax": "jinja2"})
    [problem] = jinja.json()["problems"]
    assert (problem["code"], problem["line"]) == ("syntax_error", 2)
    clean = await client.post("/lint", json={"template": "{title}", "syntax": "fstring"})
    assert clean.json() == {"problems": []}


async def test_scopes_read_write_and_no_token(
    client: httpx.AsyncClient, name: str, new_prompt: Any
) -> None:
    await new_prompt(name, "scoped")
    base = str(client.base_url)
    reader = TestAuth("prompt-store", ["prompts:read"], subject="user:reader")
    async with httpx.AsyncClient(base_url=base, auth=reader, timeout=30) as read_only:
        assert (await read_only.get(f"/prompts/{name}")).status_code == 200
        assert (await read_only.post("/lint", json={"template": "x"})).status_code == 200
        writes = [
            read_only.post("/prompts", json={"name": f"{name}-ro"}),
            read_only.post(f"/prompts/{name}/versions", json={"template": "new"}),
            read_only.put(
                f"/prompts/{name}/labels/prod", json={"version": 1, "expected_version": None}
            ),
            read_only.post(f"/prompts/{name}/labels/prod/rollback", json={}),
        ]
        for write in writes:
            denied = await write
            assert denied.status_code == 403
            assert denied.headers["content-type"] == "application/problem+json"
    writer = TestAuth("prompt-store", ["prompts:write"], subject="user:writer")
    async with httpx.AsyncClient(base_url=base, auth=writer, timeout=30) as write_only:
        assert (await write_only.get(f"/prompts/{name}")).status_code == 403
        pushed = await write_only.post(f"/prompts/{name}/versions", json={"template": "by writer"})
        assert pushed.json()["author"] == "user:writer"
    async with httpx.AsyncClient(base_url=base, timeout=30) as anonymous:
        for path in (f"/prompts/{name}", "/prompts", "/prompts/watch"):
            assert (await anonymous.get(path)).status_code == 401
        assert (await anonymous.get("/health")).status_code == 200
    wrong = TestAuth("doc-store")
    async with httpx.AsyncClient(base_url=base, auth=wrong, timeout=30) as other_audience:
        assert (await other_audience.get(f"/prompts/{name}")).status_code == 401
    assert (await client.get(f"/prompts/{name}/versions")).json()["items"][0]["version"] == 2
