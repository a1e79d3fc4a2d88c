"""Ingest: wide frames, one frame, video frames and tall signals, with every validation error."""

from __future__ import annotations

from datetime import UTC, datetime

import polars as pl
import pytest
from litestar import Litestar
from litestar.testing import TestClient


@pytest.fixture
def sid(client: TestClient[Litestar]) -> str:
    return str(client.post("/session/start", json={"session_id": "live-1"}).json()["session_id"])


def test_frames_batch_then_single_frame_continue_frame_idx(
    client: TestClient[Litestar], app: Litestar, sid: str
) -> None:
    frames = [
        {
            "t_s": 0.0,
            "speed_kph": 88.5,
            "gear": 3,
            "utc": "2026-05-26T17:00:00Z",
            "lat_deg": 38.16,
            "lon_deg": -122.45,
        },
        {"t_s": 0.1, "speed_kph": 89, "gear": 3.0, "throttle_pct": None},
    ]
    body = client.post(f"/session/{sid}/frames", json={"frames": frames}).json()
    assert body == {
        "session_id": sid,
        "appended": 2,
        "first_frame_idx": 0,
        "last_frame_idx": 1,
        "n_appended": 2,
        "n_signals": 0,
        "ignored": [],
        "created": False,
        "saved": True,
    }
    one = client.post(f"/session/{sid}/frame", json={"t_s": 0.2, "rpm": 6500})
    assert one.status_code == 200
    assert one.json() == {
        "session_id": sid,
        "frame_idx": 2,
        "n_appended": 1,
        "n_signals": 0,
        "ignored": [],
        "created": False,
        "saved": True,
    }

    stored = app.state.store.read_telemetry(sid)
    assert stored["frame_idx"].to_list() == [0, 1, 2]
    assert stored["speed_kph"].to_list() == [88.5, 89.0, None]
    assert stored["gear"].dtype == pl.Int32 and stored["gear"].to_list() == [3, 3, None]
    assert stored["rpm"].to_list() == [None, None, 6500.0]
    assert stored["utc"][0] == datetime(2026, 5, 26, 17, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("frames", "message"),
    [
        ([{"t_s": 0.0, "speed": "fast"}], "frame 0: speed (speed_kph) expects a number"),
        ([{"timestamp": 0.0, "lap": 1.5}], "lap expects an integer"),
        ([{"speed_kph": 1.0}], "t_s"),
        ([{"t_s": 0.0}, {"speed_kph": 2.0}], "frame 1: t_s is required"),
        ([{"t_s": "soon"}], "t_s expects a number"),
        ([{"t_s": 0.0, "gear": 2.5}], "gear expects an integer"),
        ([{"t_s": 0.0, "gear": 2**40}], "gear out of range"),
        ([{"t_s": 0.0, "utc": "yesterday"}], "utc expects an ISO-8601"),
        ([{"t_s": 0.0, "utc": 12}], "utc expects an ISO-8601"),
        ([], "no frames"),
    ],
)
def test_frames_validation_400(
    client: TestClient[Litestar], app: Litestar, sid: str, frames: list[dict[str, object]], message: str
) -> None:
    response = client.post(f"/session/{sid}/frames", json={"frames": frames})
    assert response.status_code == 400, response.text
    assert response.json()["error"] == "invalid frames"
    assert message in response.json()["detail"]
    assert app.state.store.count_telemetry(sid) == 0


def test_frame_endpoints_404_and_body_errors(client: TestClient[Litestar], sid: str) -> None:
    boolean = client.post(f"/session/{sid}/frames", json={"frames": [{"t_s": 0.0, "speed_kph": True}]})
    assert boolean.status_code == 400 and boolean.json()["error"] == "invalid request"
    assert client.post("/session/bad id/frames", json={"frames": [{"t_s": 0.0}]}).status_code == 400
    assert client.post("/session/bad id/frame", json={"t_s": 0.0}).status_code == 400
    assert client.post(f"/session/{sid}/frames", json={"rows": []}).status_code == 400
    assert client.post(f"/session/{sid}/frame", json=[1, 2]).status_code == 400
    nested = client.post(f"/session/{sid}/frame", json={"t_s": {"a": 1}})
    assert nested.status_code == 400 and set(nested.json()) == {"error", "detail"}


def test_video_frames(client: TestClient[Litestar], app: Litestar, sid: str) -> None:
    frames = [
        {"t_s": 0.0, "video_file": "VBOX0001.mp4", "video_t_ms": 0, "frame_no": 0},
        {"t_s": 0.04, "video_file": "VBOX0001.mp4", "video_t_ms": 40},
    ]
    body = client.post(f"/session/{sid}/video_frames", json={"frames": frames}).json()
    assert body == {
        "session_id": sid,
        "appended": 2,
        "registered": [],
        "n_appended": 2,
        "saved": True,
        "created": False,
    }
    stored = app.state.store.read_video_frames(sid)
    assert stored["video_t_ms"].to_list() == [0, 40] and stored["frame_no"].to_list() == [0, None]
    assert client.post(f"/session/{sid}/video_frames", json={"frames": []}).status_code == 400
    assert client.post(f"/session/{sid}/video_frames", json={"frames": [{"t_s": 0.0}]}).status_code == 400
    assert client.post("/session/nope/video_frames", json={"frames": frames}).status_code == 404


def test_signals_tall_sink_auto_registers(client: TestClient[Litestar], app: Litestar, sid: str) -> None:
    body = client.post(
        f"/session/{sid}/signals",
        json={"signals": [["Oil_Temp", 0.0, 101.5], ["Oil_Temp", 1.0, 102.0], ["Fuel_Level", 0.5, 40]]},
    ).json()
    assert body == {
        "session_id": sid,
        "appended": 3,
        "registered": ["Fuel_Level", "Oil_Temp"],
        "n_appended": 3,
        "saved": True,
        "created": False,
    }
    again = client.post(f"/session/{sid}/signals", json={"signals": [["Oil_Temp", 2.0, 103.0]]}).json()
    assert again["registered"] == []
    stored = app.state.store.read_signals(sid, ["Oil_Temp"])
    assert stored["value"].to_list() == [101.5, 102.0, 103.0]
    registry = client.get("/signals/registry").json()
    oil = next(s for s in registry["signals"] if s["signal_name"] == "Oil_Temp")
    assert oil["source"] == "api"


@pytest.mark.parametrize(
    "signals",
    [[["speed_kph", 0.0, 1.0]], [["", 0.0, 1.0]], [["x", "t", 1.0]], [["x", 0.0]], []],
)
def test_signals_validation_400(client: TestClient[Litestar], sid: str, signals: list[list[object]]) -> None:
    response = client.post(f"/session/{sid}/signals", json={"signals": signals})
    assert response.status_code == 400, response.text
    assert set(response.json()) == {"error", "detail"}


def test_signals_to_a_new_session_id_create_it(client: TestClient[Litestar]) -> None:
    """As ``/frames`` does (and the original bridge): an ingest pipeline never loses its first batch."""
    refused = client.post("/session/fresh-1/signals", json={"signals": [["", 0.0, 1.0]]})
    assert refused.status_code == 400
    assert client.get("/session/fresh-1").status_code == 404  # a refused write leaves no session behind
    body = client.post("/session/fresh-1/signals", json={"signals": [["a", 0.0, 1.0]]}).json()
    assert body["created"] is True and body["appended"] == 1
    session = client.get("/session/fresh-1").json()
    assert session["session"]["meta"]["implicit"] is True
    again = client.post("/session/fresh-1/signals", json={"signals": [["a", 1.0, 2.0]]}).json()
    assert again["created"] is False
