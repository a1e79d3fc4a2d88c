"""Every page of the web app in real headless Chromium against a real server (simulator + imported Run04).

Each page renders without console errors and without any request leaving the server; the numbers on the page
are the API's; Live moves with the SSE stream; a session opened once is reviewable offline from the service
worker; DuckDB-wasm on the exported parquet gives the API's row count and best lap.
"""

from __future__ import annotations

from pathlib import Path

import httpx
from playwright.sync_api import Browser, Page, expect

from pitwall.devserver import server_process
from tests.api.conftest import RACECHRONO_LAP13
from tests.web.conftest import DESKTOP, PHONE, Server, _watch_page, _watched_context, screenshot

LOAD_MS = 60_000  # generous: two cores shared by many processes; tests wait on page state, not on time


def lap_time(seconds: float | None) -> str:
    """The page's m:ss.mmm format (app.js ``lapTime``)."""
    if seconds is None:
        return "—"
    minutes = int(seconds // 60)
    return f"{minutes}:{seconds - minutes * 60:06.3f}"


def api(server: Server, path: str) -> dict:  # type: ignore[type-arg]
    response = httpx.get(f"{server.url}{path}", timeout=60, trust_env=False)
    assert response.status_code == 200, response.text
    return response.json()  # type: ignore[no-any-return]


def test_live_page_moves_with_the_stream(page: Page, server: Server) -> None:
    page.goto("/#/live")
    expect(page.locator("#live-status")).to_have_text("live", timeout=LOAD_MS)
    page.wait_for_function("Number(document.querySelector('main').dataset.frames) > 20", timeout=LOAD_MS)
    first = page.locator("main").get_attribute("data-frames")
    speed = page.locator("#live-speed").inner_text()
    # frames keep coming and the speed follows them (waited for: on a straight it holds for a while)
    page.wait_for_function(
        f"Number(document.querySelector('main').dataset.frames) > {first}"
        f" && document.getElementById('live-speed').textContent !== {speed!r}",
        timeout=LOAD_MS,
    )
    speeds = {speed, page.locator("#live-speed").inner_text()}
    assert all(s.isdigit() for s in speeds), speeds
    assert page.locator("#live-gear").inner_text() in {"N", *map(str, range(1, 9))}
    expect(page.locator("#live-car")).to_have_attribute("visibility", "visible")
    assert page.locator("#gg-dot").get_attribute("cx") is not None
    cue = page.locator("#live-cue")  # the coach's first cue may already be there on a slow machine
    expect(cue).not_to_be_empty()
    if cue.inner_text() == "no cues yet":
        expect(cue).to_have_class("muted")
    else:  # a cue from /cues/stream replaced the placeholder and its muted style
        expect(cue).not_to_have_class("muted")
    screenshot(page, "live")


def test_live_lap_timer_shows_the_running_delta_to_the_best_lap(browser: Browser, server: Server) -> None:
    """The simulator laps in ~30 s: after the out-lap and one full lap there is a best lap, and from then on the
    delta at the same distance is shown with its sign (a real lap timer's running delta, not last − best)."""
    context, watch = _watched_context(browser, server, DESKTOP)
    page = context.new_page()
    _watch_page(page, watch)
    page.goto("/#/live")
    expect(page.locator("#live-status")).to_have_text("live", timeout=LOAD_MS)
    page.wait_for_function(
        "/^[+-]\\d+\\.\\d\\d$/.test(document.getElementById('lap-delta').textContent)", timeout=4 * LOAD_MS
    )
    first = page.locator("#lap-delta").inner_text()
    page.wait_for_function(
        f"document.getElementById('lap-delta').textContent !== {first!r}", timeout=LOAD_MS
    )  # it runs with the car
    assert (
        abs(float(page.locator("#lap-delta").inner_text())) < 5.0
    )  # the simulator laps within seconds of its best
    expect(page.locator("#lap-last")).to_contain_text("best")
    context.close()
    assert watch.errors == [] and watch.outside == [], (watch.errors, watch.outside)


def test_sessions_page_lists_the_api_numbers(page: Page, server: Server) -> None:
    listed = next(s for s in api(server, "/sessions")["sessions"] if s["session_id"] == server.session_id)
    page.goto("/#/sessions")
    row = page.locator(f'#sessions-table tr[data-session="{server.session_id}"]')
    expect(row).to_be_visible(timeout=LOAD_MS)
    expect(row.locator("td.laps")).to_have_text(str(listed["lap_count"]))
    expect(row.locator("td.best")).to_have_text(lap_time(listed["best_lap_s"]))
    expect(row).to_contain_text("Taha Bakir")


def test_a_file_imported_from_the_device_appears_with_its_laps(browser: Browser, server: Server) -> None:
    """Import from the device on the Sessions page: a RaceChrono CSV (its format found by content) goes up
    with a progress bar and comes back as a session row with the logger's lap."""
    context, watch = _watched_context(browser, server, PHONE)
    page = context.new_page()
    _watch_page(page, watch)
    page.goto("/#/sessions")
    expect(page.locator("#sessions-table")).to_be_visible(timeout=LOAD_MS)
    page.set_input_files("#upload-file", str(RACECHRONO_LAP13))
    page.click("#upload")
    expect(page.locator("#upload-status")).to_contain_text("imported", timeout=LOAD_MS)
    session_id = page.locator("#upload-status").inner_text().split()[1].rstrip(":")
    assert page.locator("#upload-progress").get_attribute("value") in ("1", "1.0")
    row = page.locator(f'#sessions-table tr[data-session="{session_id}"]')
    expect(row).to_be_visible(timeout=LOAD_MS)
    listed = next(s for s in api(server, "/sessions")["sessions"] if s["session_id"] == session_id)
    expect(row.locator("td.best")).to_have_text(lap_time(listed["best_lap_s"]))
    assert abs(listed["best_lap_s"] - 75.934) < 0.05  # RaceChrono's own lap 13
    httpx.delete(f"{server.url}/session/{session_id}", timeout=60, trust_env=False)
    context.close()
    assert watch.errors == [] and watch.outside == [], (watch.errors, watch.outside)


def test_a_spectator_link_opens_a_read_only_live_view(browser: Browser, server: Server) -> None:
    issued = httpx.post(f"{server.url}/spectator/token", json={}, timeout=60, trust_env=False).json()
    context, watch = _watched_context(browser, server, PHONE)
    page = context.new_page()
    _watch_page(page, watch)
    page.goto(f"/?token={issued['token']}#/spectator")
    expect(page.locator("h2")).to_have_text("Spectator", timeout=LOAD_MS)
    expect(page.locator("#live-status")).to_have_text("live", timeout=LOAD_MS)
    assert page.locator("#share").count() == 0  # read-only: no share button, no import, no delete
    expect(page.get_by_text("spectator view (read-only)")).to_be_visible()
    context.close()
    assert watch.errors == [] and watch.outside == [], (watch.errors, watch.outside)


def test_session_page_shows_the_api_laps_sectors_and_charts(page: Page, server: Server) -> None:
    table = api(server, f"/session/{server.session_id}/lap_time_table")
    page.goto(f"/#/session/{server.session_id}")
    page.wait_for_selector("main[data-ready='1']", timeout=LOAD_MS)
    expect(page.locator("#best-lap-time")).to_have_text(lap_time(table["best_lap_s"]))
    rows = page.locator("#lap-table tbody tr")
    expect(rows).to_have_count(len(table["laps"]))
    best = page.locator(f'#lap-table tr[data-lap="{table["best_lap"]}"]')
    lap = next(row for row in table["laps"] if row["lap"] == table["best_lap"])
    cells = best.locator("td")
    for i, key in ((2, "duration_s"), (3, "s1_s"), (4, "s2_s"), (5, "s3_s")):
        expect(cells.nth(i)).to_have_text(lap_time(lap[key]))
    assert page.locator("#chart-map svg").count() == 1
    assert page.locator("#chart-traces svg").count() == 1
    expect(page.locator("#corner-table tbody tr").first).to_be_visible()
    screenshot(page, "session")


def test_explore_runs_duckdb_wasm_on_the_exported_parquet(page: Page, server: Server) -> None:
    table = api(server, f"/session/{server.session_id}/lap_time_table")
    page.goto(f"/#/explore/{server.session_id}")
    page.wait_for_selector("main[data-ready='1']", timeout=3 * LOAD_MS)
    page.wait_for_selector("#sql-out[data-state='done']", timeout=LOAD_MS)
    expect(page.locator('#sql-result td[data-col="lap"]')).to_have_text(str(table["best_lap"]))
    shown = float(page.locator('#sql-result td[data-col="duration_s"]').inner_text())
    assert abs(shown - table["best_lap_s"]) < 5e-4
    page.click('button[data-query="row count"]')
    expect(page.locator('#sql-result td[data-col="n_rows"]')).to_have_text(str(server.n_frames))
    screenshot(page, "explore")


def test_an_opened_session_is_reviewable_offline(browser: Browser, server: Server) -> None:
    context, watch = _watched_context(browser, server, DESKTOP)
    page = context.new_page()
    _watch_page(page, watch)
    table = api(server, f"/session/{server.session_id}/lap_time_table")
    page.goto(f"/#/session/{server.session_id}")
    page.wait_for_function("navigator.serviceWorker.ready.then(() => !!navigator.serviceWorker.controller)")
    page.reload()  # now every request goes through the service worker, which keeps what the page opens
    page.wait_for_selector("main[data-ready='1']", timeout=LOAD_MS)
    context.set_offline(True)
    page.reload()
    page.wait_for_selector("main[data-ready='1']", timeout=LOAD_MS)
    expect(page.locator("#best-lap-time")).to_have_text(lap_time(table["best_lap_s"]))
    expect(page.locator("#net")).to_have_text("offline")
    assert page.locator("#chart-map svg").count() == 1
    context.close()
    watch.errors = [e for e in watch.errors if "ERR_INTERNET_DISCONNECTED" not in e]
    assert watch.errors == [] and watch.outside == [], (watch.errors, watch.outside)


def test_schema_docs_render_offline(page: Page, server: Server) -> None:
    page.goto("/schema")
    expect(page.get_by_text("Pitwall").first).to_be_visible(timeout=LOAD_MS)
    page.wait_for_selector("#redoc-container h1", timeout=LOAD_MS)


def test_live_says_no_live_source_then_connection_lost(browser: Browser, tmp_path: Path) -> None:
    """A server without a live source: the Live page says so instead of showing stale numbers; when the
    server goes away it says the connection is lost and keeps reconnecting (no fake frames)."""
    with server_process(tmp_path / "quiet.duckdb") as (proc, url):
        context = browser.new_context(viewport=PHONE, base_url=url)  # type: ignore[arg-type]
        page = context.new_page()
        page.goto("/#/live")
        expect(page.locator("#live-status")).to_have_text("no live source", timeout=LOAD_MS)
        assert page.locator("main").get_attribute("data-frames") in (None, "0")
        expect(page.locator("#live-speed")).to_have_text("—")
        proc.terminate()
        proc.wait(timeout=30)
        expect(page.locator("#live-status")).to_have_text("connection lost — reconnecting", timeout=LOAD_MS)
        context.close()
