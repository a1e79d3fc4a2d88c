"""The original clients' bodies (the PWA's and the CAN ingest pipeline's, written from the original bridge's
documented shapes) over real HTTP (uvicorn on loopback), on both backends: ingest, streams, CORS.

The frames are a real recording (Road America Run04) rewritten the way the original ingest pipeline sends it:
its key names, ``speed`` in m/s, ``distance`` wrapping to zero each lap, a frozen GPS fix.
"""

from __future__ import annotations

import asyncio
import math
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import polars as pl
import pytest
from litestar import Litestar
from litestar.testing import TestClient

from pitwall import DATA_DIR
from pitwall.api.app import create_app
from pitwall.cli import build_parser, settings_from_args
from pitwall.config import PWA_ORIGINS, Settings
from pitwall.formats.vbo import read_vbo
from pitwall.store.base import Store
from tests.api.conftest import RUN04, make_settings
from tests.sse_client import SseClient

Serve = Callable[[Litestar], AbstractContextManager[str]]
WRAP_M = 6515.0  # Road America's lap length: where the original pipeline's lap distance wraps to zero
FROZEN_FIX = (43.7966306, -87.989782)  # a GPS that lost lock keeps reporting its last fix
PWA_ORIGIN = "http://localhost:5173"


@pytest.fixture
def server(tmp_path: Path, backend: str, serve: Serve) -> Iterator[tuple[str, Litestar]]:
    app = create_app(make_settings(tmp_path, backend))
    app.state.sse_heartbeat_s = 0.2
    with serve(app) as url:
        yield url, app


def _store(app: Litestar) -> Store:
    store: Store = app.state.store
    return store


def original_frames(n: int | None = None) -> tuple[pl.DataFrame, list[dict[str, Any]]]:
    """The recording, and its rows as the original ingest pipeline sends them (null channels left out)."""
    rec = read_vbo(RUN04).telemetry
    rec = rec if n is None else rec.head(n)
    lap = (rec["distance_m"] // WRAP_M).cast(pl.Int64) + 1
    lap_start = rec.with_columns(lap=lap).group_by("lap").agg(pl.col("t_s").min().alias("t0"))
    t0 = dict(lap_start.iter_rows())
    frames = []
    for row, lap_no in zip(rec.iter_rows(named=True), lap.to_list(), strict=True):
        frame = {
            "timestamp": row["t_s"],
            "distance": row["distance_m"] % WRAP_M,
            "speed": row["speed_kph"] / 3.6,
            "lat": FROZEN_FIX[0],
            "lon": FROZEN_FIX[1],
            "heading": row["heading_deg"],
            "altitude": row["alt_m"],
            "brake_pressure": row["brake_bar"],
            "throttle": row["throttle_pct"],
            "steering": row["steering_deg"],
            "rpm": row["rpm"],
            "avitime": row["video_t_ms"],
            "lap": lap_no,
            "lap_time": row["t_s"] - t0[lap_no],
            "coolant_temp": 88.0,
            "corner_name": "Turn 5",
            "distance_to_corner": 140.0,
        }
        frames.append({k: v for k, v in frame.items() if v is not None})
    return rec, frames


def test_session_fed_only_through_frames_with_original_names_is_stored_in_canonical_units(
    server: tuple[str, Litestar],
) -> None:
    url, app = server
    rec, frames = original_frames()
    sid = "pipeline-run04"
    answers = []
    with httpx.Client(base_url=url, trust_env=False) as http:
        for start in range(0, len(frames), 2000):  # never started: the first batch creates the session
            body = {"frames": frames[start : start + 2000], "driver": "Taha Bakir", "car": "Radical SR3"}
            response = http.post(f"/session/{sid}/frames", json=body)
            assert response.status_code == 200, response.text
            answers.append(response.json())
        detail = http.get(f"/session/{sid}").json()
        listed = http.get("/sessions").json()["sessions"]

    assert [a["created"] for a in answers] == [True] + [False] * (len(answers) - 1)
    assert sum(a["n_appended"] for a in answers) == len(frames) == rec.height
    assert all(a["saved"] and a["ignored"] == ["corner_name"] for a in answers)
    assert answers[-1]["last_frame_idx"] == rec.height - 1
    assert (
        sum(a["n_signals"] for a in answers) == 3 * rec.height
    )  # lap_time, coolant_temp, distance_to_corner

    session = detail["session"]
    assert session["meta"] == {"implicit": True} and session["source"] == "api"
    assert session["driver"] == "Taha Bakir" and session["car"] == "Radical SR3"
    assert session["n_frames"] == rec.height and session["duration_s"] == pytest.approx(rec["t_s"].max())
    assert any(s["session_id"] == sid for s in listed)
    assert {"lap_count", "best_lap_s", "notes"} <= set(detail)

    store = _store(app)
    stored = store.read_telemetry(sid)
    assert stored["t_s"].to_list() == rec["t_s"].to_list()
    assert stored["speed_kph"].to_numpy() == pytest.approx(rec["speed_kph"].to_numpy(), rel=1e-12)
    assert stored["distance_m"].to_numpy() == pytest.approx((rec["distance_m"] % WRAP_M).to_numpy())
    assert stored["distance_m"].diff().min() < -WRAP_M / 2  # it wraps, as sent
    assert set(stored["lat_deg"].to_list()) == {FROZEN_FIX[0]} and set(stored["lon_deg"]) == {FROZEN_FIX[1]}
    for ours in ("brake_bar", "throttle_pct", "steering_deg", "rpm", "heading_deg", "alt_m", "video_t_ms"):
        assert stored[ours].to_list() == rec[ours].to_list(), ours
    assert stored["lap"].max() == 3 and stored["lap"].dtype == pl.Int32
    tall = store.read_signals(sid, ["lap_time_s", "coolant_temp_c", "distance_to_corner_m"])
    lap_time = tall.filter(pl.col("signal_name") == "lap_time_s").sort("t_s")
    assert lap_time.height == rec.height and lap_time["value"].max() < 200.0
    assert set(tall.filter(pl.col("signal_name") == "coolant_temp_c")["value"]) == {88.0}


def test_one_frame_epoch_clock_and_unknown_keys(server: tuple[str, Litestar]) -> None:
    url, app = server
    t0 = datetime(2026, 5, 26, 17, 0, tzinfo=UTC).timestamp()
    with httpx.Client(base_url=url, trust_env=False) as http:
        first = http.post("/session/can-42/frame", json={"timestamp": t0, "speed": 10.0, "oil_temp": 101.5})
        second = http.post(
            "/session/can-42/frame", json={"timestamp": t0 + 0.5, "rpm": 4000, "MXP_Boost": 1.2, "note": "x"}
        )
        bad = http.post("/session/can-42/frame", json={"timestamp": t0 + 1.0, "rpm": "high"})
    assert first.json()["created"] is True and first.json()["frame_idx"] == 0
    assert second.json() == {
        "session_id": "can-42",
        "frame_idx": 1,
        "n_appended": 1,
        "n_signals": 1,
        "ignored": ["note"],
        "created": False,
        "saved": True,
    }
    assert (
        bad.status_code == 400 and bad.json()["error"] == "invalid frames" and "rpm" in bad.json()["detail"]
    )
    store = _store(app)
    row = store.get_session("can-42")
    assert row.started_at == datetime(2026, 5, 26, 17, 0, tzinfo=UTC)  # the first frame's epoch time
    stored = store.read_telemetry("can-42")
    assert stored["t_s"].to_list() == [0.0, 0.5] and stored["speed_kph"][0] == pytest.approx(36.0)
    assert stored["utc"][1] == datetime(2026, 5, 26, 17, 0, 0, 500_000, tzinfo=UTC)
    signals = store.read_signals("can-42", ["oil_temp_c", "MXP_Boost"]).sort("signal_name")
    assert signals.select("signal_name", "t_s", "value").rows() == [
        ("MXP_Boost", 0.5, 1.2),
        ("oil_temp_c", 0.0, 101.5),
    ]
    assert store.count_telemetry("can-42") == 2  # the bad frame wrote nothing


def test_signals_objects_and_original_video_frames(server: tuple[str, Litestar]) -> None:
    url, app = server
    with httpx.Client(base_url=url, trust_env=False) as http:
        http.post("/session/start", json={"session_id": "cam-1"})
        signals = http.post(
            "/session/cam-1/signals",
            json={"signals": [{"name": "tyre_fl_c", "t": 0.0, "value": 71.5}, ["tyre_fl_c", 1.0, 72.0]]},
        )
        video = http.post(
            "/session/cam-1/video_frames",
            json={
                "frames": [
                    {
                        "timestamp": 0.0,
                        "avitime_ms": 0,
                        "file_path": "/sd/VID_0001.mp4",
                        "file_offset_s": 0.0,
                        "width": 1920,
                        "height": 1080,
                    },
                    {"timestamp": 0.04, "avitime_ms": 31066, "file_path": "/sd/VID_0001.mp4", "width": 1920},
                ]
            },
        )
        bad_video = http.post("/session/cam-1/video_frames", json={"frames": [{"timestamp": 0.0, "fps": 30}]})
        missing = http.post("/session/nope/video_frames", json={"frames": [{"timestamp": 0.0}]})
    assert (
        signals.status_code == 200 and signals.json()["n_appended"] == 2 and signals.json()["saved"] is True
    )
    assert video.status_code == 200 and video.json()["n_appended"] == 2
    assert bad_video.status_code == 400 and set(bad_video.json()) == {"error", "detail"}
    assert missing.status_code == 404
    store = _store(app)
    assert store.read_signals("cam-1", ["tyre_fl_c"])["value"].to_list() == [71.5, 72.0]
    frames = store.read_video_frames("cam-1")
    assert frames.select("t_s", "video_file", "video_t_ms").rows() == [
        (0.0, "/sd/VID_0001.mp4", 0),
        (0.04, "/sd/VID_0001.mp4", 31066),  # no file_offset_s: avitime_ms is the time within the file
    ]


def test_telemetry_stream_sends_named_events_with_original_keys_for_one_session(
    server: tuple[str, Litestar],
) -> None:
    url, _ = server
    _, frames = original_frames(40)
    stream = SseClient(f"{url}/telemetry/stream?session_id=pwa-1", headers={"Origin": PWA_ORIGIN})
    stream.wait_connected()
    with httpx.Client(base_url=url, trust_env=False) as http:
        assert http.post("/session/other/frames", json={"frames": frames[:10]}).status_code == 200
        assert http.post("/session/pwa-1/frames", json={"frames": frames[:20]}).status_code == 200
    got = stream.wait_for(20)
    stream.close()
    assert stream.hello is not None and stream.hello.data == {"stream": "telemetry", "session_id": "pwa-1"}
    assert {e.event for e in got} == {"telemetry"} and {e.data["session_id"] for e in got} == {"pwa-1"}
    first, sent = got[0].data, frames[0]
    assert first["speed"] == pytest.approx(sent["speed"]) and first["speed_kph"] == pytest.approx(
        sent["speed"] * 3.6
    )
    for key in ("timestamp", "distance", "brake_pressure", "throttle", "steering", "rpm", "lat", "lon"):
        assert first[key] == pytest.approx(sent[key]), key
    assert first["lap_number"] == sent["lap"] and first["g_lat"] is None and first["combo_g"] is None
    assert [e.data["frame_idx"] for e in got[:20]] == list(range(20))


def test_cue_stream_needs_a_session_and_sends_the_original_cue(server: tuple[str, Litestar]) -> None:
    url, app = server
    missing = httpx.get(f"{url}/cues/stream", trust_env=False)
    assert missing.status_code == 400 and missing.json()["error"] == "invalid request"
    cues = SseClient(f"{url}/cues/stream?session_id=pwa-1")
    cues.wait_connected()
    app.state.bus.publish_cue("pwa-1", "Brake at the 3 board", emotion="urgent")
    cue = cues.wait_for(1)[0]
    cues.close()
    assert cue.event == "cue" and {"id", "text", "emotion", "timestamp"} <= set(cue.data)
    assert cue.data["text"] == "Brake at the 3 board" and cue.data["emotion"] == "urgent"
    assert math.isclose(cue.data["timestamp"], datetime.now(UTC).timestamp(), abs_tol=60)


def test_cors_preflight_and_headers_on_json_and_sse(server: tuple[str, Litestar]) -> None:
    url, _ = server
    with httpx.Client(base_url=url, trust_env=False) as http:
        preflight = http.options(
            "/session/pwa-1/frames",
            headers={
                "Origin": PWA_ORIGIN,
                "Access-Control-Request-Method": "POST",
                "Access-Control-Request-Headers": "content-type",
            },
        )
        sessions = http.get("/sessions", headers={"Origin": "http://127.0.0.1:4173"})
        stranger = http.get("/sessions", headers={"Origin": "http://evil.example"})
        refused = http.options(
            "/session/pwa-1/frames",
            headers={"Origin": "http://evil.example", "Access-Control-Request-Method": "POST"},
        )
    assert preflight.status_code == 204
    assert preflight.headers["access-control-allow-origin"] == PWA_ORIGIN
    assert "POST" in preflight.headers["access-control-allow-methods"]
    assert "content-type" in preflight.headers["access-control-allow-headers"].lower()
    assert "access-control-allow-credentials" not in preflight.headers
    assert sessions.headers["access-control-allow-origin"] == "http://127.0.0.1:4173"
    assert "access-control-allow-origin" not in stranger.headers  # the browser refuses it
    assert refused.status_code == 400 and refused.headers["content-type"] == "application/json"
    assert refused.json()["error"] == "CORS preflight refused"
    assert refused.json()["detail"]["origin"] == "http://evil.example"
    assert "access-control-allow-origin" not in refused.headers

    with (
        httpx.Client(trust_env=False) as http,
        http.stream("GET", f"{url}/telemetry/stream", headers={"Origin": PWA_ORIGIN}) as response,
    ):
        assert response.status_code == 200
        assert response.headers["access-control-allow-origin"] == PWA_ORIGIN
        assert response.headers["content-type"].startswith("text/event-stream")


def test_cors_origin_flag_replaces_the_default_list() -> None:
    default = settings_from_args(build_parser().parse_args([]))
    assert default.cors_origins == PWA_ORIGINS
    assert set(default.allowed_origins) == {*PWA_ORIGINS, "http://127.0.0.1:8765", "http://localhost:8765"}
    args = [
        "--port",
        "9000",
        "--cors-origin",
        "http://192.168.1.20:5173",
        "--cors-origin",
        "https://pit.example",
    ]
    custom = settings_from_args(build_parser().parse_args(args))
    assert custom.allowed_origins == (
        "http://192.168.1.20:5173",
        "https://pit.example",
        "http://127.0.0.1:9000",
        "http://localhost:9000",
    )
    assert Settings(host="0.0.0.0", port=80, cors_origins=()).allowed_origins == ("http://0.0.0.0:80",)


def test_spectator_token_for_a_session_as_the_pwa_asks_for_it(server: tuple[str, Litestar]) -> None:
    url, _ = server
    with httpx.Client(base_url=url, trust_env=False) as http:
        http.post("/session/start", json={"session_id": "race-1"})
        issued = http.post("/spectator/token", json={"session_id": "race-1"})
        unknown = http.post("/spectator/token", json={"session_id": "nope"})
    assert issued.status_code == 201, issued.text
    body = issued.json()
    assert body["session_id"] == "race-1" and body["ttl_s"] == 3600
    assert body["url"] == f"/spectator/race-1?token={body['token']}"
    assert unknown.status_code == 404 and unknown.json()["error"] == "unknown session"


def test_remote_spectator_preflight_passes_the_guard_and_refusals_carry_cors(tmp_path: Path) -> None:
    """A PWA on the LAN: its preflight is answered before the remote-access guard (which would refuse an
    OPTIONS from a remote peer), and the guard's 401 carries the CORS headers so the page can read it."""
    lan_pwa = "http://192.168.1.20:5173"
    settings = replace(make_settings(tmp_path, "duckdb"), host="0.0.0.0", cors_origins=(lan_pwa,))

    async def as_remote_peer(app: Litestar) -> tuple[httpx.Response, httpx.Response]:
        transport = httpx.ASGITransport(app=app, client=("198.51.100.4", 40000))
        async with httpx.AsyncClient(transport=transport, base_url="http://pitwall") as peer:
            preflight = await peer.options(
                "/health",
                headers={
                    "Origin": lan_pwa,
                    "Access-Control-Request-Method": "GET",
                    "Access-Control-Request-Headers": "authorization",
                },
            )
            return preflight, await peer.get("/health", headers={"Origin": lan_pwa})

    with TestClient(create_app(settings)) as client:
        preflight, refused = asyncio.run(as_remote_peer(client.app))
    assert preflight.status_code == 204 and preflight.headers["access-control-allow-origin"] == lan_pwa
    assert "authorization" in preflight.headers["access-control-allow-headers"].lower()
    assert refused.status_code == 401 and refused.json()["error"] == "token required"
    assert refused.headers["access-control-allow-origin"] == lan_pwa


def test_ingested_session_has_its_laps_stored_when_it_ends(
    tmp_path: Path, backend: str, serve: Serve
) -> None:
    """The pipeline's session (original keys; real GPS and cumulative distance this time — laps from a frozen
    fix and a wrapping distance are the slicing's business) ends with ``POST /end``: its laps are stored, so
    ``/sessions`` and ``/leaderboard`` count them like an imported session's."""
    rec, frames = original_frames()
    fixes = rec.select("lat_deg", "lon_deg", "distance_m").rows()
    for frame, (lat, lon, distance) in zip(frames, fixes, strict=True):
        frame["lat"], frame["lon"], frame["distance"] = lat, lon, distance
    settings = make_settings(tmp_path, backend, track=DATA_DIR / "tracks" / "road-america.json")
    with serve(create_app(settings)) as url, httpx.Client(base_url=url, trust_env=False) as http:
        for start in range(0, len(frames), 2500):
            body = {"frames": frames[start : start + 2500], "driver": "Taha Bakir"}
            assert http.post("/session/pipe-2/frames", json=body).status_code == 200
        before = next(s for s in http.get("/sessions").json()["sessions"] if s["session_id"] == "pipe-2")
        assert http.post("/session/pipe-2/end").status_code == 200
        after = next(s for s in http.get("/sessions").json()["sessions"] if s["session_id"] == "pipe-2")
        stored = http.get("/laps", params={"session_id": "pipe-2"}).json()["rows"]
        board = http.get("/leaderboard").json()["entries"]
        again = http.post("/session/pipe-2/end").json()
    assert before["lap_count"] == 0 and before["ended_at"] is None
    assert after["lap_count"] >= 1 and after["track"] == "Road America"
    flying = [lap["duration_s"] for lap in stored if lap["kind"] == "flying" and lap["valid"]]
    assert flying and after["best_lap_s"] == pytest.approx(min(flying)) and 100 < min(flying) < 130
    assert [(e["session_id"], e["driver"]) for e in board] == [("pipe-2", "Taha Bakir")]
    assert again["ended_at"] == after["ended_at"]


def test_pipeline_session_with_frozen_gps_and_wrapping_distance_gets_laps_sectors_and_corners(
    tmp_path: Path, backend: str
) -> None:
    """The issue's acceptance case end to end: frames with the original field names only (``timestamp``,
    ``distance`` wrapping to zero at each start/finish crossing, ``speed`` in m/s, a frozen ``lat``/``lon``),
    never started explicitly — the lap-time table, sectors and corners come out, lap times within 0.05 s of the
    simulated truth."""
    from pitwall.formats.car import load_car
    from pitwall.live.physics import lap_profile, lap_time_s
    from tests.analysis import simulate_laps
    from tests.api.test_compat_shapes import PACES, SONOMA, blind_frames

    profile = lap_profile(SONOMA, car=load_car(DATA_DIR / "cars" / "bmw_e46_m3.yaml"), lap_seconds=None)
    drive, truth = simulate_laps(profile, lap_time_s(profile), pace=PACES, phase_s=0.037)
    blind = blind_frames(drive, truth)
    frames = [
        {
            "timestamp": row["t_s"],
            "distance": row["distance_m"],
            "speed": row["speed_kph"] / 3.6,
            "lat": row["lat_deg"],
            "lon": row["lon_deg"],
            "throttle": row["throttle_pct"],
            "brake_pressure": row["brake_bar"],
        }
        for row in blind.iter_rows(named=True)
    ]
    sid = "pipeline-blind"
    with TestClient(create_app(make_settings(tmp_path, backend))) as client:
        for start in range(0, len(frames), 1500):
            answer = client.post(f"/session/{sid}/frames", json={"frames": frames[start : start + 1500]})
            assert answer.status_code == 200, answer.text
        table = client.get(f"/session/{sid}/lap_time_table").json()
        sectors = client.get(f"/session/{sid}/sector_times")
        corners = client.get(f"/session/{sid}/corners")
    flying = [lap for lap in table["laps"] if lap["kind"] == "flying"]
    assert [lap["duration_s"] for lap in flying] == pytest.approx(list(np.diff(truth)), abs=0.05)
    assert all(lap["s1_s"] and lap["s2_s"] and lap["s3_s"] for lap in flying)
    assert sectors.status_code == 200 and len(sectors.json()["laps"]) >= len(flying)
    assert corners.status_code == 200, corners.text
    assert len(corners.json()["corners"]) == len(SONOMA.corners)
