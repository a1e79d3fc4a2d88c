"""``/session/replay/start|stop|status``: contract shapes and codes, frames over SSE, live reader stopped first
and restored after."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import replace
from pathlib import Path

import httpx
import pytest
from litestar import Litestar
from litestar.testing import TestClient

from pitwall.api.app import create_app
from pitwall.live.bus import encode_frames
from tests.api.conftest import RUN04, make_settings
from tests.sse_client import SseClient

Serve = Callable[[Litestar], AbstractContextManager[str]]
RUNNING_KEYS = {
    "running", "source_session_id", "speed", "loop", "frame_idx", "total_frames", "elapsed_s",
    "est_remaining_s", "frames_emitted",
}  # fmt: skip


@pytest.mark.parametrize(
    "body",
    [
        {},
        {"source_session_id": ""},
        {"source_session_id": "x", "speed": 0.05},
        {"source_session_id": "x", "speed": 101},
    ],
)
def test_bad_start_requests_are_400(
    imported: tuple[TestClient[Litestar], str], body: dict[str, object]
) -> None:
    client, _ = imported
    response = client.post("/session/replay/start", json=body)
    assert response.status_code == 400 and set(response.json()) == {"error", "detail"}


def test_start_status_conflict_stop_follow_the_contract(imported: tuple[TestClient[Litestar], str]) -> None:
    client, session_id = imported
    assert client.get("/session/replay/status").json() == {"running": False}
    unknown = client.post("/session/replay/start", json={"source_session_id": "no-such-session"})
    assert unknown.status_code == 404 and unknown.json()["error"] == "no telemetry"

    started = client.post(
        "/session/replay/start", json={"source_session_id": session_id, "speed": 2, "loop": True}
    )
    assert started.status_code == 200, started.text
    body = started.json()
    stored = client.app.state.store.read_telemetry(session_id, columns=["t_s"])["t_s"]
    assert set(body) == {"replay_id", "source_session_id", "total_frames", "est_duration_s", "speed", "loop"}
    assert body["replay_id"].startswith(f"{session_id}-replay-") and body["source_session_id"] == session_id
    assert body["total_frames"] == stored.len() == 10_401
    assert body["est_duration_s"] == pytest.approx((stored.max() - stored.min()) / 2, abs=1e-3)
    assert (body["speed"], body["loop"]) == (2.0, True)

    again = client.post("/session/replay/start", json={"source_session_id": session_id})
    assert again.status_code == 409 and again.json()["error"] == "replay running"
    give_up = time.monotonic() + 60
    while (status := client.get("/session/replay/status").json())["frames_emitted"] == 0:  # wait on data
        assert time.monotonic() < give_up, "the replay emitted nothing"
        time.sleep(0.05)
    assert set(status) == RUNNING_KEYS and status["running"] is True
    assert status["source_session_id"] == session_id and status["total_frames"] == 10_401
    assert 0 < status["frames_emitted"] == status["frame_idx"] < 10_401
    assert status["est_remaining_s"] == pytest.approx((416.04 - status["frame_idx"] * 0.04) / 2, abs=0.05)

    stopped = client.post("/session/replay/stop")
    assert stopped.status_code == 200
    assert stopped.json()["stopped"] is True and stopped.json()["frames_emitted"] >= status["frames_emitted"]
    assert client.get("/session/replay/status").json() == {"running": False}
    assert client.post("/session/replay/stop").json() == {"stopped": False, "frames_emitted": 0}


def test_replay_without_database_is_503(no_db_client: TestClient[Litestar]) -> None:
    response = no_db_client.post("/session/replay/start", json={"source_session_id": "x"})
    assert response.status_code == 503 and response.json()["error"] == "no database"


def _import_run04(http: httpx.Client) -> str:
    response = http.post("/session/import", json={"vbo_path": str(RUN04)}, timeout=60)
    assert response.status_code == 200, response.text
    return str(response.json()["session_id"])


def test_replayed_frames_are_the_stored_session_at_recorded_pace(tmp_path: Path, serve: Serve) -> None:
    app = create_app(make_settings(tmp_path, "duckdb"))
    app.state.sse_heartbeat_s = 0.2
    with serve(app) as url, httpx.Client(base_url=url) as http:
        session_id = _import_run04(http)
        stream = SseClient(f"{url}/telemetry/stream")
        inbox = SseClient(f"{url}/notifications")
        stream.wait_connected()
        inbox.wait_connected()
        asked_at = time.time()  # the replay's clock starts after this
        assert (
            http.post(
                "/session/replay/start", json={"source_session_id": session_id, "speed": 50}
            ).status_code
            == 200
        )
        got = stream.wait_for(1500)  # 1500 frames = 60 s of data = 1.2 s at 50×
        assert http.post("/session/replay/stop").json()["stopped"] is True
        notes = [e.data["kind"] for e in inbox.wait_for(2)]
        stream.close()
        inbox.close()
        stored = app.state.store.read_telemetry(session_id)
    expected = [json.loads(b) for b in encode_frames(stored.head(len(got)))]
    assert [e.data for e in got] == expected  # same shape and values as the live stream would carry
    assert notes == ["replay_started", "replay_stopped"]
    # pace: no frame goes out before its recorded t_s / speed after the start (a busy machine can only delay
    # frames, never bring them forward, so this holds under any load), and the minute of data is not late by more
    # than a generous margin (1.2 s of replay; a replay dumping the session at once would fail the first check)
    t0_s = got[0].data["t_s"]
    for event in got:
        assert event.received >= asked_at + (event.data["t_s"] - t0_s) / 50
    assert got[-1].received - asked_at < 10 * (got[-1].data["t_s"] - t0_s) / 50


def test_replay_stops_the_live_reader_first(tmp_path: Path, serve: Serve) -> None:
    settings = replace(make_settings(tmp_path, "duckdb"), simulate=True, simulate_speed=5.0)
    app = create_app(settings)
    app.state.sse_heartbeat_s = 0.2
    with serve(app) as url, httpx.Client(base_url=url) as http:
        source = _import_run04(http)
        live_session = http.get("/diagnostics/can").json()["session_id"]
        assert http.get("/diagnostics/can").json()["running"] is True
        stream = SseClient(f"{url}/telemetry/stream")
        stream.wait_connected()
        assert (
            http.post("/session/replay/start", json={"source_session_id": source, "speed": 20}).status_code
            == 200
        )
        diagnostics = http.get("/diagnostics/can").json()
        replayed = [e for e in stream.wait_for(200, timeout=15) if e.data["session_id"] == source]
        http.post("/session/replay/stop")
        resumed = http.get("/diagnostics/can").json()
        health = http.get("/health").json()
        stream.close()
        live_row = app.state.store.get_session(live_session)
    assert diagnostics["running"] is False and diagnostics["connected"] is False
    # stopping the replay restored the live reader it stopped, in a new session
    assert resumed["running"] is True and resumed["session_id"] not in (None, live_session)
    assert health["active_session_id"] == resumed["session_id"]
    assert live_row.ended_at is not None and live_row.n_frames == diagnostics["frames_stored"] > 0
    assert replayed and replayed[0].data["frame_idx"] == 0
