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
from tests.api.conftest import (
    BACKENDS,
    RACECAPTURE,
    RACECHRONO_LAP9,
    RACECHRONO_LAP13,
    RUN01,
    RUN04,
    RUN05,
    make_settings,
)
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


def test_a_learnt_track_is_renamed_and_its_start_line_moved_over_http(tmp_path: Path) -> None:
    settings = make_settings(tmp_path, "sqlite")
    with TestClient(create_app(settings)) as client:
        session_id = client.post("/session/import", json={"vbo_path": str(RACECHRONO_LAP9)}).json()[
            "session_id"
        ]
        before = load_track(settings.user_tracks_path / "tianma.json")
        assert client.patch("/track/sonoma", json={"name": "Mine"}).status_code == 403
        assert client.patch("/track/nowhere", json={"name": "x"}).status_code == 404
        assert client.patch("/track/tianma", json={}).status_code == 400
        assert client.patch("/track/tianma", json={"start_lat": 31.0}).status_code == 400
        far = client.patch("/track/tianma", json={"start_lat": 31.2, "start_lon": 121.3})
        assert far.status_code == 400 and "from the track" in far.json()["detail"]
        # the start line to the point half a lap round the centre line
        half = len(before.reference_line.s_m) // 2
        lat, lon = float(before.reference_line.lat_deg[half]), float(before.reference_line.lon_deg[half])
        edited = client.patch(
            "/track/tianma", json={"name": "Shanghai Tianma", "start_lat": lat, "start_lon": lon}
        )
        assert edited.status_code == 200, edited.text
        assert edited.json()["name"] == "Shanghai Tianma"
        assert edited.json()["start_lat"] == pytest.approx(lat, abs=1e-6)
        laps = client.get(f"/session/{session_id}").json()["laps"]
    after = load_track(settings.user_tracks_path / "tianma.json")
    assert after.name == "Shanghai Tianma" and after.length_m == pytest.approx(before.length_m, rel=0.01)
    assert laps and laps[0]["method"] == "logger"  # the logger's own marks still time the laps


def test_the_track_cli_lists_renames_and_refuses_bundled_tracks(tmp_path: Path) -> None:
    from pipelines.__main__ import main

    db = tmp_path / "pitwall.duckdb"
    settings = make_settings(tmp_path, "duckdb", db=db)
    with TestClient(create_app(settings)) as client:
        assert client.post("/session/import", json={"vbo_path": str(RACECHRONO_LAP13)}).status_code == 200
    assert main(["track", "--db", str(db), "rename", "tianma", "Tianma Circuit"]) == 0
    assert load_track(tmp_path / "tracks" / "tianma.json").name == "Tianma Circuit"
    assert main(["track", "--db", str(db), "rename", "sonoma", "x"]) == 1
    assert main(["track", "--db", str(db), "move-start", "tianma", "0.0", "0.0"]) == 1
    assert main(["track", "--db", str(db), "list"]) == 0


def test_an_unknown_circuit_with_its_own_gate_is_learnt_and_its_laps_stored(tmp_path: Path) -> None:
    """Road America Run04 against a library without Road America: the file's [laptiming] gate times the laps
    (lap 2 = 114.96 s by the gate, 115.0 s by the ECU counter), the circuit is learnt from lap 2, the laps are
    stored and on the leaderboard, and sectors use the learnt track, not the active one (Sonoma)."""
    settings = make_settings(tmp_path, "duckdb", tracks_dir=library_without_road_america(tmp_path))
    with TestClient(create_app(settings)) as client:
        response = client.post("/session/import", json={"vbo_path": str(RUN04)})
        assert response.status_code == 200, response.text
        session_id = response.json()["session_id"]
        session = client.get(f"/session/{session_id}").json()
        table = client.get(f"/session/{session_id}/lap_time_table").json()
        board = client.get("/leaderboard").json()["entries"]
    track_id = session["session"]["track_id"]
    assert track_id.startswith("circuit-at-") and track_id != "sonoma"
    lap2 = next(lap for lap in session["laps"] if lap["lap"] == 2)
    assert (
        lap2["kind"] == "flying" and lap2["valid"] and lap2["duration_s"] == pytest.approx(114.96, abs=0.05)
    )
    assert board and board[0]["lap_time_s"] == pytest.approx(114.96, abs=0.05)
    learnt = load_track(settings.user_tracks_path / f"{track_id}.json")
    assert 6300 < learnt.length_m < 6600  # Road America is 6.5 km
    best = next(lap for lap in table["laps"] if lap["is_best"])
    assert sum(s["time_s"] for s in best["sectors"]) == pytest.approx(best["lap_time_s"], abs=0.01)


def library_without_road_america(tmp_path: Path) -> Path:
    """A copy of the track library without Road America (what a club racer's install knows of a new circuit)."""
    library = tmp_path / "library"
    library.mkdir()
    for path in TrackLibrary().directory.glob("*.json"):
        if not path.name.startswith("road-america"):
            (library / path.name).write_bytes(path.read_bytes())
    return library


@pytest.mark.parametrize("backend", BACKENDS)
def test_an_unknown_circuit_in_a_file_with_no_timing_is_learnt_from_its_repeating_loop(
    tmp_path: Path, backend: str
) -> None:
    """Run04 with its ``[laptiming]`` section removed (no start line, no lap marker: a file that carries no timing
    at all) against a library without Road America: the circuit is learnt from the loop the path repeats, its
    laps are stored and ranked, and each lap time equals the one Road America's surveyed centre line gives with
    its start line moved to the same place (within 0.05 s); Run01, from the same car at the same place, is then
    detected on the learnt circuit instead of learning another."""
    import polars as pl

    from pitwall.analysis.laps import slice_laps
    from pitwall.formats.vbo import parse_vbo
    from pitwall.learned_tracks import with_start_at

    lines = RUN04.read_text().split("\n")
    start = lines.index("[laptiming]")
    end = next(k for k in range(start + 1, len(lines)) if lines[k].startswith("["))
    vbo = tmp_path / "roots" / "run04-no-timing.vbo"
    settings = make_settings(tmp_path, backend, tracks_dir=library_without_road_america(tmp_path))
    vbo.write_text("\n".join([*lines[:start], *lines[end:]]))
    recording = parse_vbo(vbo.read_bytes(), name=str(vbo))
    assert not recording.gates and not recording.lap_marks_s
    with TestClient(create_app(settings)) as client:
        response = client.post("/session/import", json={"vbo_path": str(vbo), "driver": "KO"})
        assert response.status_code == 200, response.text
        session_id = response.json()["session_id"]
        session = client.get(f"/session/{session_id}").json()
        board = client.get("/leaderboard").json()["entries"]
        again = client.post("/session/import", json={"vbo_path": str(RUN01), "driver": "KO"})
        assert again.status_code == 200, again.text
        run01 = client.get(f"/session/{again.json()['session_id']}").json()["session"]
    track_id = session["session"]["track_id"]
    assert track_id.startswith("circuit-at-")
    learnt = load_track(settings.user_tracks_path / f"{track_id}.json")
    assert 6300 < learnt.length_m < 6600  # Road America is 6.5 km
    assert "repeating loop" in learnt.source
    flying = [lap for lap in session["laps"] if lap["kind"] == "flying"]
    assert len(flying) == 2 and all(lap["valid"] for lap in flying)
    # the same start line on Road America's surveyed centre line times the same laps
    line = learnt.start_finish
    surveyed = with_start_at(
        TrackLibrary().get("road-america"),
        (line.lat1_deg + line.lat2_deg) / 2,
        (line.lon1_deg + line.lon2_deg) / 2,
    )
    truth = slice_laps(recording.telemetry.lazy(), surveyed).collect().filter(pl.col("kind") == "flying")
    assert [lap["duration_s"] for lap in flying] == pytest.approx(truth["duration_s"].to_list(), abs=0.05)
    assert board[0]["lap_time_s"] == pytest.approx(truth["duration_s"].min(), abs=0.05)
    assert run01["track_id"] == track_id  # detected on the learnt circuit
    assert sorted(p.stem for p in settings.user_tracks_path.glob("*.json")) == [track_id]


def test_sectors_are_timed_on_the_files_own_split_lines(tmp_path: Path) -> None:
    """Run04 with two ``Split`` lines added to its ``[laptiming]`` section (at 1.5 km and 4.0 km of Road America):
    the lap-time table's sectors end there instead of at the library's equal thirds, and S1 equals the time from
    the start line to the split line's own crossing."""
    import numpy as np

    from pitwall.analysis.laps import lap_crossings
    from pitwall.formats.vbo import parse_vbo

    road_america = TrackLibrary().get("road-america")
    ref = road_america.reference_line

    def vbo_line(name: str, s_m: float) -> str:
        """A VBO split line as the Run04 logger writes its start line: two points a few metres apart on the
        path, the later one first (longitude first, minutes, west positive); the reader draws the timing line
        across them."""
        k = int(np.searchsorted(ref.s_m, s_m))
        a = (float(ref.lat_deg[k]), float(ref.lon_deg[k]))
        b = (float(ref.lat_deg[k + 1]), float(ref.lon_deg[k + 1]))
        return f"Split        {-b[1] * 60:+.6f} {b[0] * 60:+.6f} {-a[1] * 60:+.6f} {a[0] * 60:+.6f} ¬ {name}"

    lines = RUN04.read_text().split("\n")
    at = lines.index("[laptiming]") + 2
    extra = [vbo_line("S1", 1500.0), vbo_line("S2", 4000.0)]
    vbo = tmp_path / "roots" / "run04-splits.vbo"
    settings = make_settings(tmp_path, "sqlite")
    vbo.write_text("\n".join([*lines[:at], *extra, *lines[at:]]))
    recording = parse_vbo(vbo.read_bytes(), name=str(vbo))
    assert [g.kind for g in recording.gates] == ["start_finish", "split", "split"]
    with TestClient(create_app(settings)) as client:
        response = client.post("/session/import", json={"vbo_path": str(vbo)})
        assert response.status_code == 200, response.text
        session_id = response.json()["session_id"]
        table = client.get(f"/session/{session_id}/lap_time_table").json()
        laps = client.get(f"/session/{session_id}").json()["laps"]
    lap2 = next(lap for lap in laps if lap["lap"] == 2)
    row = next(lap for lap in table["laps"] if lap["lap_number"] == 2)
    t = recording.telemetry
    fixes = [t[c].to_numpy() for c in ("t_s", "lat_deg", "lon_deg")]
    crossing = lap_crossings(*fixes, t["heading_deg"].to_numpy(), recording.gates[1])
    s1_end = float(crossing[(crossing > lap2["t_start_s"]) & (crossing < lap2["t_end_s"])][0])
    assert row["sectors"][0]["time_s"] == pytest.approx(s1_end - lap2["t_start_s"], abs=0.05)
    equal_thirds = road_america.length_m / 3
    assert abs(1500.0 - equal_thirds) > 500  # the file's split is far from the library's
    assert sum(s["time_s"] for s in row["sectors"]) == pytest.approx(row["lap_time_s"], abs=0.01)
    assert np.isfinite(row["sectors"][2]["time_s"])


def test_loop_marks_need_a_repeated_loop() -> None:
    """A file with no timing gets lap marks only from a loop it repeats: Run04 (out-lap, two laps, in-lap) gives
    three marks whose two laps agree in length with Road America's 6.4 km; Run05 (an out-lap and no more) and a
    straight drive give none."""
    import numpy as np
    import polars as pl

    from pitwall.analysis.geo import haversine_m
    from pitwall.formats.vbo import parse_vbo
    from pitwall.learned_tracks import loop_lap_marks

    run04 = parse_vbo(RUN04.read_bytes(), name=str(RUN04)).telemetry
    marks = loop_lap_marks(run04)
    assert len(marks) == 3
    fixes = run04.drop_nulls(["lat_deg", "lon_deg"])
    t, lat, lon = (fixes[c].to_numpy() for c in ("t_s", "lat_deg", "lon_deg"))
    along = np.r_[0.0, np.cumsum(haversine_m(lat[:-1], lon[:-1], lat[1:], lon[1:]))]
    assert np.diff(np.interp(marks, t, along)) == pytest.approx([6430.0, 6430.0], rel=0.02)
    assert loop_lap_marks(parse_vbo(RUN05.read_bytes(), name=str(RUN05)).telemetry) == []
    n = 3000
    straight = pl.DataFrame(
        {"t_s": np.arange(n) * 0.1, "lat_deg": 43.0 + np.arange(n) * 2e-5, "lon_deg": np.full(n, -88.0)}
    )
    assert loop_lap_marks(straight) == []
