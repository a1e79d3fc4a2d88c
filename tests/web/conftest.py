"""Chromium fixtures: the system's headless ``/usr/bin/chromium`` driven by Playwright, against a real server.

The server is ``pitwall.devserver.server_process`` with ``--simulate`` (the live car) and Road America Run04
imported through ``POST /session/import``. Every page fixture fails its test on a console error, an uncaught
page error, or a request that leaves the loopback server (the paddock has no internet).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlparse

import httpx
import pytest
from playwright.sync_api import Browser, BrowserContext, Page, Playwright, Route, sync_playwright

from pitwall import DATA_DIR, REPO_DIR
from pitwall.devserver import server_process
from tests.api.conftest import RUN04

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
SCREENSHOTS = REPO_DIR / "docs" / "img"
PHONE = {"width": 390, "height": 844}
DESKTOP = {"width": 1280, "height": 900}


@dataclass(frozen=True)
class Server:
    url: str
    session_id: str
    n_frames: int


@dataclass
class Watch:
    """What a page did wrong: console errors, page errors, requests off the loopback server."""

    errors: list[str] = field(default_factory=list)
    outside: list[str] = field(default_factory=list)


@pytest.fixture(scope="session")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    folder = tmp_path_factory.mktemp("web")
    db = folder / "pitwall.duckdb"
    uploads = folder / "uploads"
    roots = ("--import-root", str(DATA_DIR), "--import-root", str(uploads), "--upload-dir", str(uploads))
    with server_process(db, "--simulate", "--simulate-lap-seconds", "30", *roots) as (_, url):
        response = httpx.post(
            f"{url}/session/import",
            json={"vbo_path": str(RUN04), "driver": "Taha Bakir"},
            timeout=120,
            trust_env=False,
        )
        assert response.status_code == 200, response.text
        body = response.json()
        yield Server(url=url, session_id=body["session_id"], n_frames=body["n_frames"])


@pytest.fixture(scope="session")
def playwright() -> Iterator[Playwright]:
    assert CHROMIUM.exists(), "install Debian's chromium (apt-get install -y chromium); .ci/run does"
    with sync_playwright() as pw:
        yield pw


@pytest.fixture(scope="session")
def browser(playwright: Playwright) -> Iterator[Browser]:
    chromium = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
    yield chromium
    chromium.close()


def _watched_context(
    browser: Browser, server: Server, viewport: dict[str, int]
) -> tuple[BrowserContext, Watch]:
    context = browser.new_context(viewport=viewport, base_url=server.url)  # type: ignore[arg-type]
    watch = Watch()
    host = urlparse(server.url).netloc

    def guard(route: Route) -> None:
        if urlparse(route.request.url).netloc == host:
            route.continue_()
        else:
            watch.outside.append(route.request.url)
            route.abort()

    context.route("**/*", guard)
    return context, watch


def _watch_page(page: Page, watch: Watch) -> None:
    page.on("console", lambda m: watch.errors.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: watch.errors.append(str(e)))


@pytest.fixture(params=["phone", "desktop"])
def page(request: pytest.FixtureRequest, browser: Browser, server: Server) -> Iterator[Page]:
    """A fresh page at phone (390 px) or desktop width; fails the test on console errors or internet use."""
    viewport = PHONE if request.param == "phone" else DESKTOP
    context, watch = _watched_context(browser, server, viewport)
    new_page = context.new_page()
    _watch_page(new_page, watch)
    new_page.width_name = request.param  # type: ignore[attr-defined]
    yield new_page
    context.close()
    assert watch.errors == [], watch.errors
    assert watch.outside == [], watch.outside


def screenshot(page: Page, name: str) -> Path | None:
    """With ``PITWALL_SCREENSHOTS=1`` in the environment, write ``docs/img/<name>-<phone|desktop>.png`` (the
    README shows them: ``PITWALL_SCREENSHOTS=1 .venv/bin/python -m pytest tests/web`` regenerates them from the
    real app); otherwise nothing, so a test run leaves the working tree clean."""
    if os.environ.get("PITWALL_SCREENSHOTS") != "1":
        return None
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / f"{name}-{page.width_name}.png"  # type: ignore[attr-defined]
    page.screenshot(path=str(path), full_page=False)
    return path
