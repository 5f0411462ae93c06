"""Sign-in, sessions and the console's guard, against the real console and issuer."""

from __future__ import annotations

import hashlib
import re

import httpx
import pytest
import redis

from .conftest import Console, csrf_of, sign_in

# the session's ecosystem starts within the first test's time
pytestmark = [pytest.mark.slow, pytest.mark.timeout(600)]

CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; frame-src 'self'; "
    "object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
)


def test_a_visitor_gets_only_the_sign_in_page(console: Console) -> None:
    with console.client() as client:
        for path in ("/", "/runs", "/documents", "/traces", "/logs", "/services", "/go/x"):
            page = client.get(path)
            assert page.status_code == 303, path
            assert page.headers["location"].startswith("/signin?next=")
        fragment = client.get("/runs/x/live", headers={"Accept": "text/event-stream"})
        assert fragment.status_code == 401
        assert (
            client.get("/traces/x/fragments/rows", headers={"HX-Request": "true"}).status_code
            == 401
        )
        signin = client.get("/signin")
        assert signin.status_code == 200
        assert 'name="api_key"' in signin.text
        assert "Sign out" not in signin.text
        assert 'aria-label="Main"' not in signin.text


def test_sign_in_sets_a_strict_session_cookie_and_sign_out_ends_it(console: Console) -> None:
    with console.client() as client:
        response = sign_in(client, console.user_key)
        cookie = response.headers["set-cookie"]
        assert "eco_console_session=" in cookie
        assert "HttpOnly" in cookie
        assert "SameSite=strict" in cookie
        assert "Path=/" in cookie
        assert "Secure" not in cookie  # served over http here
        overview = client.get("/")
        assert overview.status_code == 200
        assert "user:" in overview.text
        assert "Sign out" in overview.text
        signout = client.post(
            "/signout", data={"csrf": csrf_of(overview.text)}, headers={"Origin": console.url}
        )
        assert signout.status_code == 303
        assert client.get("/").status_code == 303
        # the old cookie is dead on the server too, not only dropped by the browser
        again = httpx.get(
            console.url + "/",
            cookies={"eco_console_session": response.cookies["eco_console_session"]},
        )
        assert again.status_code == 303


def test_a_wrong_key_is_refused_on_the_sign_in_page(console: Console) -> None:
    with console.client() as client:
        form = client.get("/signin")
        refused = client.post(
            "/signin",
            data={"api_key": "eco_not_a_real_key", "csrf": csrf_of(form.text)},
            headers={"Origin": console.url},
        )
        assert refused.status_code == 401
        assert "was not accepted" in refused.text
        assert "eco_console_session" not in refused.headers.get("set-cookie", "")


def test_forms_need_the_csrf_token(console: Console) -> None:
    with console.signed_in() as client:
        page = client.get("/ask")
        origin = {"Origin": console.url}
        missing = client.post("/ask", data={"query": "write docs"}, headers=origin)
        assert missing.status_code == 403
        assert "CSRF" in missing.text
        wrong = client.post("/ask", data={"query": "x", "csrf": "nope"}, headers=origin)
        assert wrong.status_code == 403
        assert client.post("/signout", headers=origin).status_code == 403
        assert client.get("/").status_code == 200  # still signed in
        assert csrf_of(page.text)
    with console.client() as client:
        stale = client.post(
            "/signin",
            data={"api_key": console.user_key, "csrf": "x"},
            headers={"Origin": console.url},
        )
        assert stale.status_code == 403


def test_host_and_origin_are_checked(console: Console) -> None:
    with console.signed_in() as client:
        foreign_host = client.get("/", headers={"Host": "evil.example"})
        assert foreign_host.status_code == 400
        page = client.get("/ask")
        csrf = csrf_of(page.text)
        for headers in ({"Origin": "http://evil.example"}, {"Origin": "null"}, {}):
            refused = client.post("/ask", data={"query": "x", "csrf": csrf}, headers=headers)
            assert refused.status_code == 403, headers
            assert refused.headers["content-type"] == "application/problem+json"
        referer = client.post(
            "/ask", data={"query": "", "csrf": csrf}, headers={"Referer": console.url + "/ask"}
        )
        assert referer.status_code == 422  # past the guard: the empty query is what is refused
        assert httpx.get(console.url + "/health", headers={"Host": "console"}).status_code == 200


def test_every_page_carries_the_security_headers(console: Console) -> None:
    with console.signed_in() as client:
        for path in ("/", "/signin", "/static/console.js", "/nope"):
            response = client.get(path)
            assert response.headers["content-security-policy"] == CSP, path
            assert response.headers["x-content-type-options"] == "nosniff"
            assert response.headers["referrer-policy"] == "same-origin"
            assert response.headers["x-frame-options"] == "DENY"


def test_the_next_page_after_sign_in_stays_on_the_console(console: Console) -> None:
    with console.client() as client:
        form = client.get("/signin?next=//evil.example/x")
        assert 'value="/"' in form.text
        done = client.post(
            "/signin",
            data={
                "api_key": console.user_key,
                "csrf": csrf_of(form.text),
                "next": "https://evil.example",
            },
            headers={"Origin": console.url},
        )
        assert done.headers["location"] == "/"
        done = client.get("/signin?next=/runs")
        assert 'value="/runs"' in done.text


def _session_key(console: Console, client: httpx.Client) -> tuple[redis.Redis, str]:
    """The console's Redis and the key of this client's session hash."""
    store = redis.Redis.from_url(console.eco.redis.url)
    digest = hashlib.sha256(client.cookies["eco_console_session"].encode()).hexdigest()
    keys = [k.decode() for k in store.scan_iter(match=f"*console:session:{digest}")]
    assert len(keys) == 1, keys
    return store, keys[0]


def test_redis_holds_no_api_key_and_the_session_still_works(console: Console) -> None:
    with console.signed_in() as client:
        store, key = _session_key(console, client)
        stored = store.hgetall(key)
        assert set(stored) >= {b"api_key_sealed", b"subject", b"csrf"}
        assert b"api_key" not in stored
        assert console.user_key.encode() not in b"".join(stored.values())
        # the sealed key still reaches the services on the user's behalf
        overview = client.get("/")
        assert overview.status_code == 200
        assert "Sign out" in overview.text
        assert client.get("/runs").status_code == 200
        store.close()


def test_a_copied_or_altered_session_hash_sends_the_user_to_sign_in(console: Console) -> None:
    with console.signed_in() as victim, console.signed_in() as thief:
        store, victim_key = _session_key(console, victim)
        _, thief_key = _session_key(console, thief)
        store.delete(thief_key)
        store.hset(thief_key, mapping=store.hgetall(victim_key))
        moved = thief.get("/runs")
        assert moved.status_code == 303
        assert moved.headers["location"].startswith("/signin?next=")
        fragment = thief.get("/runs/x/live", headers={"Accept": "text/event-stream"})
        assert fragment.status_code == 401
        assert victim.get("/").status_code == 200  # the victim's own session is untouched

        sealed = store.hget(victim_key, "api_key_sealed")
        assert sealed is not None
        flipped = sealed[:10] + (b"A" if sealed[10:11] != b"A" else b"B") + sealed[11:]
        store.hset(victim_key, "api_key_sealed", flipped)
        altered = victim.get("/")
        assert altered.status_code == 303
        assert altered.headers["location"].startswith("/signin?next=")
        store.close()


# reachable without a session: signing in, the process's own routes, the static files
OPEN = {"/signin", "/health", "/health/ready", "/metrics", "/openapi.json", "/static/{name}"}


def test_every_route_but_signing_in_needs_a_session(console: Console) -> None:
    with console.client() as client:
        spec = client.get("/openapi.json").json()
        seen = []
        for path, item in spec["paths"].items():
            if path in OPEN:
                continue
            url = re.sub(r"\{[^}]+\}", "0" * 32, path)
            for method in item:
                response = client.request(
                    method.upper(), url, headers={"Origin": console.url}, data={"csrf": "x"}
                )
                seen.append((method, path))
                if response.status_code == 303:
                    assert response.headers["location"].startswith("/signin?next="), path
                else:
                    assert response.status_code == 401, (method, path, response.status_code)
        assert ("get", "/live/services") in seen
        assert len(seen) > 30
