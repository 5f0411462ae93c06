"""One private ecosystem for the console's tests, the console as a real process beside it,
and users signed in with real API keys minted at the real issuer."""

from __future__ import annotations

import contextlib
import os
import re
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from axe_playwright_python.sync_playwright import Axe
from playwright.sync_api import Browser, Page, expect, sync_playwright

from eco_shared.testing import ServiceProcess, wait_until
from eco_shared.testing.auth import session_material, token
from eco_shared.testing.ecosystem import PrivateEcosystem

APP = "eco_console.main:create_app"
USER_SCOPES = [
    "discovery:read",
    "docs:read",
    "docs:write",
    "gateway:chat",
    "gateway:read",
    "logs:read",
    "prompts:read",
    "runs:create",
    "runs:read",
    "runs:write",
]
READER_SCOPES = ["discovery:read", "docs:read", "gateway:read", "logs:read", "runs:read"]


@dataclass
class Console:
    """The running console and the ecosystem behind it."""

    url: str
    eco: PrivateEcosystem
    user_key: str
    reader_key: str

    def client(self, **kwargs: object) -> httpx.Client:
        return httpx.Client(base_url=self.url, timeout=30, **kwargs)  # type: ignore[arg-type]

    @contextlib.contextmanager
    def signed_in(self, key: str | None = None) -> Iterator[httpx.Client]:
        """A client with a session (its cookie jar), signed in through the sign-in form."""
        with self.client() as client:
            sign_in(client, key or self.user_key)
            yield client


def csrf_of(html: str) -> str:
    match = re.search(r'name="csrf" value="([^"]+)"', html)
    assert match, "no CSRF field on the page"
    return match.group(1)


def sign_in(client: httpx.Client, key: str) -> httpx.Response:
    form = client.get("/signin")
    assert form.status_code == 200
    response = client.post(
        "/signin",
        data={"api_key": key, "csrf": csrf_of(form.text), "next": "/"},
        headers={"Origin": str(client.base_url).rstrip("/")},
    )
    assert response.status_code == 303, response.text
    return response


def key_token(issuer: str, api_key: str, audience: str) -> str:
    """A token for `audience` exchanged from an API key at the real issuer."""
    exchanged = httpx.post(
        issuer + "/auth/token",
        data={
            "grant_type": "urn:ietf:params:oauth:grant-type:token-exchange",
            "subject_token": api_key,
            "subject_token_type": "urn:eco:params:oauth:token-type:api-key",
            "audience": audience,
        },
        timeout=10,
    )
    assert exchanged.status_code == 200, exchanged.text
    return str(exchanged.json()["access_token"])


def store_document(console: Console, title: str, content: str, fmt: str = "markdown") -> str:
    """A document stored as the console's user (so the user's pages show it); its id."""
    token = key_token(console.eco.url("discovery"), console.user_key, "doc-store")
    created = httpx.post(
        console.eco.url("doc-store") + "/documents",
        json={"title": title, "format": fmt, "content": content},
        headers={"Authorization": f"Bearer {token}"},
        timeout=10,
    )
    assert created.status_code == 201, created.text
    return str(created.json()["id"])


def _mint_key(eco: PrivateEcosystem, name: str, scopes: list[str]) -> str:
    admin = session_material().admin_key()
    assert admin is not None
    issuer = eco.url("discovery")
    created = httpx.post(
        issuer + "/auth/keys",
        json={"name": name, "scopes": scopes},
        headers={"Authorization": f"Bearer {key_token(issuer, admin.value, 'discovery')}"},
        timeout=10,
    )
    assert created.status_code == 201, created.text
    return str(created.json()["key"])


def ask(client: httpx.Client, query: str, *, review: bool = False) -> str:
    """Submit a query through the console's ask form; the run id it redirects to."""
    page = client.get("/ask")
    data = {"query": query, "csrf": csrf_of(page.text)}
    if review:
        data["review"] = "true"
    done = client.post("/ask", data=data, headers={"Origin": str(client.base_url).rstrip("/")})
    assert done.status_code == 303, done.text
    location = done.headers["location"]
    assert location.startswith("/runs/")
    return location.removeprefix("/runs/")


def wait_status(console: Console, run_id: str, wanted: set[str], timeout_s: float = 90) -> dict:
    """Poll the orchestrator (as an admin) until the run's status is one of `wanted`."""
    url = f"{console.eco.url('orchestrator')}/runs/{run_id}"
    found: dict = {}

    def reached() -> bool:
        found.update(httpx.get(url, headers=console.eco.headers("orchestrator"), timeout=10).json())
        return found.get("status") in wanted

    wait_until(reached, timeout_s=timeout_s, interval_s=0.2)
    return found


@dataclass
class FinishedRun:
    run_id: str
    document_id: str
    trace_id: str


@pytest.fixture(scope="session")
def finished_run(console: Console) -> FinishedRun:
    """One run asked through the console, completed, with its document stored."""
    with console.signed_in() as client:
        run_id = ask(client, "Create API documentation for the doc-store service")
    run = wait_status(console, run_id, {"completed", "failed"})
    assert run["status"] == "completed", run
    return FinishedRun(run_id, run["document_id"], run["trace_id"])


BROWSER_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    """One headless Debian chromium (Playwright downloads no browser).

    Module-scoped: one browser for each `test_browser*.py` module, so that Playwright's
    sync API (an event loop running in the main thread) is gone again before any asyncio
    test that pytest runs after that module.
    """
    executable = shutil.which("chromium")
    if executable is None:
        reason = "no `chromium` on PATH (apt-get install chromium)"
        if os.environ.get("ECO_REQUIRE_BROWSER") == "1":
            pytest.fail(f"{reason}, and ECO_REQUIRE_BROWSER=1 makes that a failure")
        pytest.skip(f"{reason}; browser tests skipped (ECO_REQUIRE_BROWSER=1 fails instead)")
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=executable, args=BROWSER_ARGS)
        try:
            yield launched
        finally:
            launched.close()


@pytest.fixture
def page(browser: Browser, console: Console) -> Iterator[Page]:
    """A fresh browser context (no cookies) on the console, 1280 × 900."""
    context = browser.new_context(base_url=console.url, viewport={"width": 1280, "height": 900})
    try:
        yield context.new_page()
    finally:
        context.close()


def sign_in_page(page: Page, key: str, next_path: str = "/") -> None:
    """Sign in through the form, landing on `next_path`."""
    page.goto(f"/signin?next={next_path}")
    page.fill("#api_key", key)
    page.click("form[action='/signin'] button[type=submit]")
    page.wait_for_url(re.compile(re.escape(next_path) + r"$"))


def ask_for_review_in_page(page: Page, console: Console, query: str) -> str:
    """Ask `query` through the form with review on; the run's page once it waits for review
    (reloaded, so the review form is drawn); returns the run id."""
    sign_in_page(page, console.user_key, "/ask")
    page.fill("#query", query)
    page.check("input[name=review]")
    page.click("form.ask button[type=submit]")
    page.wait_for_url(re.compile(r"/runs/[0-9a-f]+$"))
    run_id = page.url.rsplit("/", 1)[1]
    wait_status(console, run_id, {"waiting_review"})
    page.reload()
    expect(page.locator("#h-review")).to_be_visible()
    return run_id


def shot(page: Page, screenshots: object, name: str) -> None:
    """A full-page PNG of what the browser shows, as `name`.png."""
    page.screenshot(path=f"{screenshots}/{name}.png", full_page=True)


def axe_report(
    page: Page, pages: dict[str, str], screenshots: object, ready: str | None = None
) -> str:
    """Each of `pages` (path -> screenshot name) in light, then dark: axe's report of each
    page with a violation ("" when none has one), and a screenshot `name-scheme` of each.
    `ready`: a selector the page shows exactly once when drawn, waited for before axe runs."""
    axe = Axe()
    problems = {}
    for scheme in ("light", "dark"):
        page.emulate_media(color_scheme=scheme)
        for path, name in pages.items():
            page.goto(path)
            page.wait_for_load_state("networkidle")
            if ready is not None:
                expect(page.locator(ready)).to_have_count(1)
            results = axe.run(page)
            if results.violations_count:
                problems[(scheme, path)] = results.generate_report()
            shot(page, screenshots, f"{name}-{scheme}")
    return "\n\n".join(f"{k}: {v}" for k, v in problems.items())


@pytest.fixture(scope="session")
def screenshots(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Where browser tests save a PNG of each page (`ECO_CONSOLE_SCREENSHOTS`)."""
    wanted = os.environ.get("ECO_CONSOLE_SCREENSHOTS")
    directory = Path(wanted) if wanted else tmp_path_factory.mktemp("console-screenshots")
    directory.mkdir(parents=True, exist_ok=True)
    return directory


@pytest.fixture(scope="session")
def console(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Console]:
    data: Path = tmp_path_factory.mktemp("console-eco")
    eco = PrivateEcosystem(data).start()
    proc = ServiceProcess(APP, env=eco.env, port_env="ECO_CONSOLE_PORT", log_dir=data)
    try:
        proc.start(timeout_s=90)
        yield Console(
            url=proc.url,
            eco=eco,
            user_key=_mint_key(eco, "console-user", USER_SCOPES),
            reader_key=_mint_key(eco, "console-reader", READER_SCOPES),
        )
    finally:
        proc.terminate()
        eco.stop()


__all__ = ["Console", "csrf_of", "sign_in", "token"]
