"""A browser page on another origin reads Pitwall: real headless Chromium (Debian's ``/usr/bin/chromium``, driven
by Playwright; no browser is downloaded), a page served by the stdlib ``http.server`` on one loopback port and a
real ``python -m pitwall`` on another. The page fetches ``/health`` and ``/sessions``, POSTs frames (a JSON
preflight) and reads ``/telemetry/stream`` with an ``EventSource`` — without a CORS error. A page on an origin
outside the allow-list is refused by the browser (the test can fail)."""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from pitwall.devserver import running_server

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"]

pytestmark = pytest.mark.skipif(
    not CHROMIUM.exists() and not os.environ.get("CI"),
    reason="Debian chromium is not installed (CI installs it and never skips: .ci/run)",
)

PAGE = """<!doctype html>
<html><head><meta charset="utf-8"><title>pitwall cross-origin</title></head><body><script>
const API = "%(api)s";
async function call(path, init) {
  try {
    const response = await fetch(API + path, init);
    return {status: response.status, body: await response.json()};
  } catch (error) {
    return {error: String(error)};
  }
}
function firstFrame() {
  return new Promise((resolve) => {
    const source = new EventSource(API + "/telemetry/stream?session_id=web-live");
    const timer = setTimeout(() => { source.close(); resolve({error: "no telemetry event"}); }, 20000);
    source.addEventListener("hello", async () => {
      await call("/session/web-live/frames", {method: "POST", headers: {"Content-Type": "application/json"},
        body: JSON.stringify({frames: [{timestamp: 0.0, speed: 25.0, rpm: 6100, lap: 1}]})});
    });
    source.addEventListener("telemetry", (event) => {
      clearTimeout(timer); source.close(); resolve({frame: JSON.parse(event.data)});
    });
    source.onerror = () => { clearTimeout(timer); source.close(); resolve({error: "EventSource error"}); };
  });
}
(async () => {
  const out = {};
  out.health = await call("/health");
  out.post = await call("/session/web-1/frames", {method: "POST", headers: {"Content-Type": "application/json"},
    body: JSON.stringify({frames: [{timestamp: 0.0, speed: 30.0}, {timestamp: 0.1, speed: 30.5}]})});
  out.sessions = await call("/sessions");
  out.telemetry = out.health.error ? {error: "skipped"} : await firstFrame();
  window.__result = out;
})();
</script></body></html>
"""


@contextmanager
def static_page(directory: Path, html: str) -> Iterator[str]:
    """``index.html`` served by the stdlib HTTP server on a free loopback port; yields the page's origin."""
    (directory / "index.html").write_text(html)
    server = ThreadingHTTPServer(
        ("127.0.0.1", 0), partial(SimpleHTTPRequestHandler, directory=str(directory))
    )
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def run_page(origin: str) -> tuple[dict[str, Any], list[str]]:
    """Open ``origin``/index.html in headless Chromium; the page's result object and its console messages."""
    from playwright.sync_api import sync_playwright

    console: list[str] = []
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            page = browser.new_page()
            page.on("console", lambda message: console.append(message.text))
            page.goto(f"{origin}/index.html")
            page.wait_for_function("window.__result !== undefined", timeout=45_000)
            result: dict[str, Any] = page.evaluate("window.__result")
        finally:
            browser.close()
    return result, console


def test_page_on_an_allowed_origin_reads_health_sessions_and_the_telemetry_stream(tmp_path: Path) -> None:
    page_dir = tmp_path / "page"
    page_dir.mkdir()
    # the page's port must be known before the server starts (it goes on the allow-list): bind it first
    with (
        static_page(page_dir, "") as origin,
        running_server(tmp_path / "pitwall.duckdb", "--cors-origin", origin) as api,
    ):
        (page_dir / "index.html").write_text(PAGE % {"api": api})
        result, console = run_page(origin)
    assert not [m for m in console if "CORS" in m or "Access-Control" in m], console
    assert result["health"]["status"] == 200 and result["health"]["body"]["status"] == "ok"
    assert result["post"]["status"] == 200 and result["post"]["body"]["n_appended"] == 2
    assert result["post"]["body"]["created"] is True
    sessions = result["sessions"]["body"]["sessions"]
    assert result["sessions"]["status"] == 200 and "web-1" in [s["session_id"] for s in sessions]
    frame = result["telemetry"]["frame"]
    assert frame["session_id"] == "web-live" and frame["speed"] == pytest.approx(25.0)
    assert frame["speed_kph"] == pytest.approx(90.0) and frame["rpm"] == 6100 and frame["lap_number"] == 1


def test_page_on_an_origin_outside_the_allow_list_is_refused_by_the_browser(tmp_path: Path) -> None:
    page_dir = tmp_path / "page"
    page_dir.mkdir()
    with (
        running_server(tmp_path / "pitwall.sqlite") as api,
        static_page(page_dir, PAGE % {"api": api}) as origin,
    ):
        result, console = run_page(origin)
    assert "Failed to fetch" in result["health"]["error"] and "Failed to fetch" in result["sessions"]["error"]
    assert any("CORS" in m for m in console), console
