"""Live sessions are sessions: a real ``python -m pitwall --simulate`` server stores each lap as it completes,
so ``/sessions``, ``/laps``, ``/leaderboard`` and ``GET /session/<sid>`` show it while the session runs."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from pitwall.devserver import server_process
from pitwall.store import open_store
from tests.sse_client import SseClient

LAP_S = 60.0
SPEED = 12.0  # three simulated minutes (three 60 s laps) take ~15 s of wall time


@pytest.mark.parametrize("suffix", ["duckdb", "sqlite"])
def test_simulated_session_shows_completed_laps_while_running(tmp_path: Path, suffix: str) -> None:
    db = tmp_path / f"pitwall.{suffix}"
    args = ("--simulate", "--simulate-speed", str(SPEED), "--simulate-lap-seconds", str(LAP_S))
    with server_process(db, *args) as (_, url):
        inbox = SseClient(f"{url}/notifications")
        inbox.wait_connected()
        session_id = httpx.get(f"{url}/health", trust_env=False).json()["active_session_id"]
        # the out-lap, then the first flying lap: wait for the event announcing that lap
        wanted = 1
        laps_done: list[dict[str, object]] = []
        while not any(e["lap_kind"] == "flying" for e in laps_done):
            events = inbox.wait_for(wanted, timeout=60.0)
            laps_done = [e.data for e in events if e.data.get("kind") == "lap_completed"]
            wanted = len(events) + 1
        assert all(e["session_id"] == session_id for e in laps_done)
        flying = next(e for e in laps_done if e["lap_kind"] == "flying")

        with httpx.Client(base_url=url, trust_env=False) as http:
            row = next(s for s in http.get("/sessions").json()["sessions"] if s["session_id"] == session_id)
            laps = http.get("/laps", params={"session_id": session_id}).json()["rows"]
            board = http.get("/leaderboard").json()["entries"]
            detail = http.get(f"/session/{session_id}").json()
            cars = http.get("/cars").json()
        inbox.close()

    # still running when read: not ended, laps complete and timed
    assert row["ended_at"] is None and row["source"] == "simulator"
    assert row["lap_count"] >= 1 and row["best_lap_s"] == pytest.approx(flying["duration_s"], abs=0.5)
    assert abs(float(flying["duration_s"]) - LAP_S) < 0.1 * LAP_S  # the simulator drives 60 s laps
    assert row["n_frames"] > 0 and row["duration_s"] >= float(flying["duration_s"]) and row["distance_m"] > 0
    by_lap = {lap["lap"]: lap for lap in laps}
    assert by_lap[1]["kind"] == "out" and by_lap[flying["lap"]]["kind"] == "flying"
    assert by_lap[flying["lap"]]["valid"] is True
    assert [e["session_id"] for e in board] == [session_id]  # read last: a later lap may be the best by then
    assert board[0]["lap"] >= flying["lap"] and board[0]["lap_time_s"] <= float(flying["duration_s"]) + 1e-6
    assert detail["lap_count"] == row["lap_count"] and detail["best_lap_s"] == row["best_lap_s"]
    # the simulator runs the bundled car (no --can-car-config given): /cars flags it
    assert cars["loaded_id"] == "bmw_e46_m3"
    assert [c["id"] for c in cars["cars"] if c["loaded"]] == ["bmw_e46_m3"]

    # after shutdown: ended_at stamped, the figures match the stored rows
    store = open_store(db)
    try:
        ended = store.get_session(session_id)
        assert ended.ended_at is not None
        assert ended.n_frames == store.count_telemetry(session_id)
        assert store.list_laps(session_id=session_id, limit=100).height >= len(by_lap)
    finally:
        store.close()
