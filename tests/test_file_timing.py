"""The file's own timing and circuits that are not in the library, through the HTTP API on both backends.

RaceChrono's Tianma circuit is not in the track library: the first recording teaches it (saved as a user
track), the second is detected on it; laps are timed on the logger's own lap marks and match its lap list
within 0.05 s. The RaceCapture drive round a loop is timed the same way against its ``LapTime`` channel.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from litestar.testing import TestClient

from pitwall.api.app import create_app
from pitwall.formats.track import TrackLibrary, load_track
from tests.api.conftest import BACKENDS, RACECAPTURE, RACECHRONO_LAP9, RACECHRONO_LAP13, make_settings
from tests.formats.test_logger_formats import RACECAPTURE_LAPS_MIN, RACECHRONO_LAP_S


@pytest.mark.parametrize("backend", BACKENDS)
def test_an_unknown_circuit_is_learnt_and_timed_on_the_loggers_marks(tmp_path: Path, backend: str) -> None:
    settings = make_settings(tmp_path, backend)
    with TestClient(create_app(settings)) as client:
        sessions = []
        for path in (RACECHRONO_LAP9, RACECHRONO_LAP13):
            response = client.post("/session/import", json={"vbo_path": str(path)})
            assert response.status_code == 200, response.text
            sessions.append(response.json()["session_id"])
        for session_id, path in zip(sessions, (RACECHRONO_LAP9, RACECHRONO_LAP13), strict=True):
            body = client.get(f"/session/{session_id}").json()
            assert body["session"]["track_id"] == "tianma" and body["session"]["track"] == "Tianma"
            flying = [lap for lap in body["laps"] if lap["kind"] == "flying"]
            assert len(flying) == 1 and flying[0]["method"] == "logger" and flying[0]["valid"]
            assert flying[0]["duration_s"] == pytest.approx(RACECHRONO_LAP_S[path], abs=0.05)
            table = client.get(f"/session/{session_id}/lap_time_table").json()
            assert table["best_lap_s"] == pytest.approx(RACECHRONO_LAP_S[path], abs=0.05)
            best = next(lap for lap in table["laps"] if lap["is_best"])
            assert sum(s["time_s"] for s in best["sectors"]) == pytest.approx(best["lap_time_s"], abs=0.01)
            stats = client.get(f"/session/{session_id}/stats").json()
            assert stats["track_id"] == "tianma" and stats["best_lap_s"] == pytest.approx(table["best_lap_s"])
        board = client.get("/leaderboard", params={"track": "Tianma"}).json()
        assert board["count"] >= 1
    learnt = settings.user_tracks_path / "tianma.json"
    assert learnt.exists()
    track = load_track(learnt)
    assert 1950 < track.length_m < 2050  # the public figure is 2,000 m
    assert (
        track.corners[0].direction == "left" and 150 < track.corners[0].s_apex_m < 210
    )  # T1 hairpin, ~180 m
    assert "Learnt by Pitwall from session_20251231_111318_tianma_lap9_v3.csv" in track.source
    assert "tianma" in TrackLibrary(settings.tracks_dir, user_dir=settings.user_tracks_path).ids()
    assert json.loads(learnt.read_text())["id"] == "tianma"


def test_racecapture_laps_match_its_lap_time_channel(tmp_path: Path) -> None:
    with TestClient(create_app(make_settings(tmp_path, "duckdb"))) as client:
        response = client.post("/session/import", json={"vbo_path": str(RACECAPTURE)})
        assert response.status_code == 200, response.text
        session_id = response.json()["session_id"]
        laps = client.get(f"/session/{session_id}").json()["laps"]
    flying = [lap["duration_s"] for lap in laps if lap["kind"] == "flying"]
    assert flying == pytest.approx([m * 60 for m in RACECAPTURE_LAPS_MIN], abs=0.05)


def test_an_unsupported_upload_is_a_clear_400(tmp_path: Path) -> None:
    settings = make_settings(tmp_path, "duckdb")
    odd = tmp_path / "roots" / "export.rcz"
    odd.write_bytes(b"PK\x03\x04" + bytes(200))
    with TestClient(create_app(settings)) as client:
        response = client.post("/session/import", json={"vbo_path": str(odd)})
        assert response.status_code in (400, 422), response.text
        assert "unsupported format (looks like a zip archive" in json.dumps(response.json())
        assert client.get("/sessions").json()["count"] == 0
