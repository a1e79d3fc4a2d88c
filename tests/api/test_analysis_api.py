"""The session analytics routes through the real app on a real import (Road America Run04), a simulated Sonoma
session graded against the physics-model lap, and every error path (404 / 400)."""

from __future__ import annotations

import json
import math
from collections.abc import Iterator
from typing import Any

import polars as pl
import pytest
from litestar import Litestar
from litestar.testing import TestClient

from pipelines.build_reference import PROFILE_CHANNELS, build_reference, profile_session
from pitwall import DATA_DIR
from pitwall.analysis.corners import corner_passes, corner_summary
from pitwall.analysis.friction import add_derived_g
from pitwall.analysis.pedals import pedal_time_session
from pitwall.api.app import create_app
from pitwall.formats.car import load_car
from pitwall.formats.track import load_track
from pitwall.live.physics import lap_profile
from pitwall.session_view import SessionView
from tests.api.conftest import RUN05, make_settings

ROUTES = (
    "corners",
    "scorecard",
    "highlights",
    "stats",
    "friction_circle",
    "hustle_map",
    "eob",
    "incidents",
    "map",
    "sync",
    "clips",
    "pedal_behavior",
    "throttle_corner_box",
    "corner_classification",
    "straight_line_speed",
    "brake_acceleration",
)
GRADES = {"A", "B", "C", "D", "F"}
SONOMA = load_track(DATA_DIR / "tracks" / "sonoma.json")
E46 = load_car(DATA_DIR / "cars" / "bmw_e46_m3.yaml")

Client = TestClient[Litestar]


def get(client: Client, sid: str, route: str, **params: Any) -> dict[str, Any]:
    response = client.get(f"/session/{sid}/{route}", params=params)
    assert response.status_code == 200, response.text
    return dict(response.json())


def notebook_view(client: Client, sid: str) -> SessionView:
    state = client.app.state
    return SessionView.load(state.store, sid, state.library, state.track)


# -- Road America Run04 (both backends): one complete lap, lap 2 ---------------------------------------------------


def test_stats_match_the_lap_table_and_the_samples(imported: tuple[Client, str]) -> None:
    client, sid = imported
    body = get(client, sid, "stats")
    view = notebook_view(client, sid)
    lap2 = view.laps.filter(pl.col("lap") == 2).row(0, named=True)
    assert (body["n_laps"], body["n_complete_laps"], body["n_valid_laps"], body["best_lap"]) == (3, 1, 1, 2)
    assert body["best_lap_s"] == pytest.approx(lap2["duration_s"]) and 114.9 < body["best_lap_s"] < 115.1
    samples = view.telemetry.collect()
    assert body["max_speed_kph"] == pytest.approx(samples["speed_kph"].max())
    distance = samples["distance_m"]
    assert body["distance_m"] == pytest.approx(float(distance.max()) - float(distance.min()))  # type: ignore[arg-type]
    assert 0.5 < body["on_throttle_frac"] <= 1 and 0 < body["braking_frac"] < 0.5
    assert body["g_derived"] is True  # Run04 has no accelerometer channel


def test_corners_equal_a_notebook_style_pure_call(imported: tuple[Client, str]) -> None:
    client, sid = imported
    body = get(client, sid, "corners")
    view = notebook_view(client, sid)
    telemetry = add_derived_g(view.telemetry)
    passes = corner_passes(telemetry, view.track).filter(pl.col("lap") == 2)
    expected = corner_summary(passes, view.track).collect()
    assert (
        body["track_id"] == "road-america" and body["reference_file"] is None
    )  # no model lap for this track
    assert [c["corner"] for c in body["corners"]] == expected["corner"].to_list()
    for row, want in zip(body["corners"], expected.iter_rows(named=True), strict=True):
        for key in ("best_time_s", "mean_min_speed_kph", "best_brake_point_s_m", "pct_slower"):
            assert row[key] == pytest.approx(want[key], nan_ok=True), key
        assert row["reference_source"] == "none" and row["grade"] is None  # one pass: no reference but itself
    assert {p["lap"] for p in body["passes"]} == {2}
    assert len(body["passes"]) == len(view.track.corners) == 12  # one pass of each Road America corner


def test_pedal_behavior_matches_notebook_and_validates_thresholds(imported: tuple[Client, str]) -> None:
    client, sid = imported
    body = get(client, sid, "pedal_behavior", throttle_th=10)
    view = notebook_view(client, sid)
    driving = add_derived_g(view.telemetry).filter(pl.col("lap") == 2)
    want = pedal_time_session(driving, throttle_th=10).collect().row(0, named=True)
    assert body["brake_channel"] == "brake_bar" and body["brake_unit"] == "bar" and body["brake_th"] == 2.0
    for state in ("throttle_only", "brake_only", "trail_brake", "coast"):
        assert body["session"][f"{state}_s"] == pytest.approx(want[f"{state}_s"])
    fractions = [
        body["session"][f"{s}_frac"] for s in ("throttle_only", "brake_only", "trail_brake", "coast")
    ]
    assert sum(fractions) == pytest.approx(1.0)
    assert body["session"]["total_s"] == pytest.approx(114.96, abs=0.05)
    assert [lap["lap"] for lap in body["laps"]] == [2]
    bad = client.get(f"/session/{sid}/pedal_behavior", params={"throttle_th": 150})
    assert bad.status_code == 400 and bad.json()["error"] == "invalid request"
    assert "throttle_th" in json.dumps(bad.json()["detail"]) and "100" in json.dumps(bad.json()["detail"])


def test_scorecard_highlights_and_classification(imported: tuple[Client, str]) -> None:
    client, sid = imported
    card = get(client, sid, "scorecard")  # one flying lap: nothing to grade it against but itself
    assert card["overall"]["grade"] is None, card["overall"]
    assert {c["grade"] for c in card["corners"]} <= GRADES
    moments = get(client, sid, "highlights")["highlights"]
    assert 1 <= len(moments) <= 8 and [m["rank"] for m in moments] == list(range(1, len(moments) + 1))
    assert moments[0]["kind"] == "best_lap" and moments[0]["lap"] == 2
    top = next(m for m in moments if m["kind"] == "max_speed")
    lap2 = notebook_view(client, sid).lap_telemetry(2).collect()
    assert top["lap"] == 2 and top["value"] == pytest.approx(lap2["speed_kph"].max())
    bands = get(client, sid, "corner_classification", low_max=100, med_max=150)
    for corner in bands["corners"]:
        v = corner["mean_min_speed_kph"]
        assert corner["band"] == ("low" if v <= 100 else "medium" if v <= 150 else "high")
    assert (
        client.get(
            f"/session/{sid}/corner_classification", params={"low_max": 150, "med_max": 100}
        ).status_code
        == 400
    )


def test_friction_hustle_eob_brake_and_straights(imported: tuple[Client, str]) -> None:
    client, sid = imported
    fc = get(client, sid, "friction_circle", max_points=500, sector_deg=45)
    assert fc["g_derived"] is True and 500 <= len(fc["points"]) <= 500 + 36
    assert max(s["max_g"] for s in fc["envelope"]) == pytest.approx(fc["max_combined_g"])
    assert len(fc["envelope"]) <= 8
    assert client.get(f"/session/{sid}/friction_circle", params={"sector_deg": 7}).status_code == 400
    hustle = get(client, sid, "hustle_map", bin_m=100)
    assert len(hustle["segments"]) == math.ceil(hustle["track_length_m"] / 100)
    assert sum(s["time_s"] for s in hustle["segments"]) == pytest.approx(114.96, abs=0.5)
    assert all(0 <= s["full_throttle_frac"] <= 1 for s in hustle["segments"])
    eob = get(client, sid, "eob")
    assert eob["brake_channel"] == "brake_bar" and eob["corners"]
    releases = {(p["corner"]): p["brake_release_s_m"] for p in eob["passes"]}
    for corner in eob["corners"]:
        assert corner["n_passes"] == 1 and corner["spread_m"] == 0.0
        assert corner["mean_eob_s_m"] == pytest.approx(releases[corner["corner"]])
    brakes = get(client, sid, "brake_acceleration")
    assert brakes["g_derived"] is True and all(c["peak_decel_lap"] == 2 for c in brakes["corners"])
    assert max(c["peak_decel_g"] for c in brakes["corners"]) > 1.0
    straights = get(client, sid, "straight_line_speed")
    assert {s["n_laps"] for s in straights["straights"]} == {1}
    assert (
        max(s["best_top_speed_kph"] for s in straights["straights"])
        <= get(client, sid, "stats")["max_speed_kph"]
    )


def test_incidents_echo_thresholds_and_respond_to_them(imported: tuple[Client, str]) -> None:
    client, sid = imported
    default = get(client, sid, "incidents")
    assert default["thresholds"] == {
        "spin_dps": 90.0,
        "half_width_m": 7.5,
        "lockup_g": 2.0,
        "stop_kph": 5.0,
        "stop_min_s": 3.0,
    }
    assert default["count"] == len(default["incidents"])
    assert all(i["lap"] == 2 and i["severity"] in {"low", "medium", "high"} for i in default["incidents"])
    strict = get(client, sid, "incidents", lockup_g=1.0, half_width_m=3.0)
    assert strict["count"] > default["count"]
    assert not [
        i
        for i in get(client, sid, "incidents", half_width_m=50, lockup_g=10)["incidents"]
        if i["kind"] in ("off_track", "lock_up")
    ]
    assert client.get(f"/session/{sid}/incidents", params={"spin_dps": 0}).status_code == 400


def test_map_sync_and_clips_from_the_vbo_video_columns(imported: tuple[Client, str]) -> None:
    client, sid = imported
    m = get(client, sid, "map", max_points=200)
    assert [(lap["lap"], lap["kind"]) for lap in m["laps"]] == [(1, "out"), (2, "flying"), (3, "in")]
    assert all(len(lap["lat_deg"]) <= 201 and len(lap["t_s"]) == len(lap["lon_deg"]) for lap in m["laps"])
    assert len(m["reference_line"]) <= 201 and m["track_id"] == "road-america"
    sync = get(client, sid, "sync")
    assert sync["available"] and sync["source"] == "telemetry" and sync["in_sync"] is True
    (video,) = sync["files"]
    assert video["video_file"] == "25IR05_RdAm_FP1_Run04_KO_0001.mp4" and video["n_pairs"] == 10_401
    assert video["max_abs_error_ms"] <= 50.0
    tight = get(client, sid, "sync", tolerance_ms=5)
    assert tight["in_sync"] is False and tight["matched_frac"] < 1.0
    cuts = get(client, sid, "clips", kind="laps")["clips"]
    assert [c["lap"] for c in cuts] == [1, 2, 3] and {c["kind"] for c in cuts} == {"lap"}
    lap2 = next(c for c in cuts if c["lap"] == 2)
    assert lap2["duration_ms"] == pytest.approx(114_960, abs=80)
    everything = get(client, sid, "clips")["clips"]
    assert len(everything) == 3 + get(client, sid, "incidents")["count"]


def test_throttle_box_per_corner(imported: tuple[Client, str]) -> None:
    client, sid = imported
    boxes = get(client, sid, "throttle_corner_box")["corners"]
    assert len(boxes) == 12
    for box in boxes:
        assert 0 <= box["min"] <= box["q1"] <= box["median"] <= box["q3"] <= box["max"] <= 100
        assert box["iqr"] == pytest.approx(box["q3"] - box["q1"])


# -- error paths ------------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def plain_client(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Client]:
    with TestClient(
        create_app(make_settings(tmp_path_factory.mktemp("analysis-errors"), "duckdb"))
    ) as client:
        yield client


@pytest.fixture(scope="module")
def error_sessions(plain_client: Client) -> tuple[str, str]:
    """(a session without telemetry, Road America Run05: an out-lap only)."""
    empty = plain_client.post("/session/start", json={"driver": "x"}).json()["session_id"]
    response = plain_client.post("/session/import", json={"vbo_path": str(RUN05)})
    assert response.status_code == 200, response.text
    return str(empty), str(response.json()["session_id"])


@pytest.mark.parametrize("route", ROUTES)
def test_unknown_empty_and_lapless_sessions(
    plain_client: Client, error_sessions: tuple[str, str], route: str
) -> None:
    empty, out_lap_only = error_sessions
    unknown = plain_client.get(f"/session/nope/{route}")
    assert unknown.status_code == 404 and unknown.json()["error"] == "unknown session"
    no_rows = plain_client.get(f"/session/{empty}/{route}")
    assert no_rows.status_code == 404 and no_rows.json()["error"] == "no telemetry"
    no_lap = plain_client.get(f"/session/{out_lap_only}/{route}")
    assert no_lap.status_code == 400 and no_lap.json()["error"] == "no complete lap"
    assert "no complete lap" in no_lap.json()["detail"]


# -- a simulated Sonoma session: the physics lap itself, graded against the model lap -----------------------


@pytest.fixture(scope="module")
def sonoma_session(plain_client: Client) -> str:
    """Four laps of the simulator's physics lap (exact positions) posted as frames to a Sonoma session."""
    frames = profile_session(lap_profile(SONOMA, car=E46, lap_seconds=None), SONOMA, laps=4)
    sid = plain_client.post("/session/start", json={"driver": "sim", "track": "Sonoma Raceway"}).json()[
        "session_id"
    ]
    response = plain_client.post(
        f"/session/{sid}/frames", json={"frames": frames.select(PROFILE_CHANNELS).to_dicts()}
    )
    assert response.status_code == 200, response.text
    return str(sid)


def test_physics_lap_grades_a_against_its_own_model_lap(plain_client: Client, sonoma_session: str) -> None:
    body = get(plain_client, sonoma_session, "corners")
    assert body["track_id"] == "sonoma" and body["reference_file"] == "data/reference/sonoma_model.json"
    model = {
        c["corner"]: c
        for c in json.loads((DATA_DIR / "reference" / "sonoma_model.json").read_text())["corners"]
    }
    assert len(body["corners"]) == 14
    for corner in body["corners"]:
        assert corner["reference_source"] == "model_lap" and corner["n_passes"] >= 2
        assert corner["ref_time_s"] == pytest.approx(model[corner["corner"]]["time_s"])
        assert abs(corner["pct_slower"]) < 1.0 and corner["grade"] == "A"
        assert corner["best_min_speed_kph"] == pytest.approx(
            model[corner["corner"]]["min_speed_kph"], abs=0.2
        )
    card = get(plain_client, sonoma_session, "scorecard")
    assert card["overall"]["grade"] == "A" and card["overall"]["reference_source"] == "model_lap"
    own = get(plain_client, sonoma_session, "scorecard", reference="session_best")
    assert own["reference_file"] is None and own["overall"]["reference_source"] == "session_best"


def test_sync_and_clips_without_video_then_with_video_frames(
    plain_client: Client, sonoma_session: str
) -> None:
    assert get(plain_client, sonoma_session, "sync")["available"] is False
    clips = get(plain_client, sonoma_session, "clips")
    assert clips["available"] is False and clips["clips"] == [] and "video" in clips["reason"]
    # a camera whose frames land 10 ms after every third telemetry sample of the first 1,800
    samples = notebook_view(plain_client, sonoma_session).telemetry.collect()["t_s"].to_list()[:1800:3]
    frames = [
        {"t_s": t + 0.010, "video_file": "cam.mp4", "video_t_ms": k * 100, "frame_no": k}
        for k, t in enumerate(samples)
    ]
    posted = plain_client.post(f"/session/{sonoma_session}/video_frames", json={"frames": frames})
    assert posted.status_code == 200, posted.text
    sync = get(plain_client, sonoma_session, "sync")
    assert sync["available"] and sync["source"] == "video_frames"
    (cam,) = sync["files"]
    assert (cam["video_file"], cam["n_pairs"]) == ("cam.mp4", 600) and cam["in_sync"] is True
    assert cam["max_abs_error_ms"] == pytest.approx(10.0) and cam["video_end_ms"] == 59_900
    assert get(plain_client, sonoma_session, "sync", tolerance_ms=5)["files"][0]["n_matched"] == 0
    cuts = get(plain_client, sonoma_session, "clips", kind="laps")["clips"]
    assert [(c["lap"], c["video_file"], c["start_ms"]) for c in cuts] == [
        (1, "cam.mp4", 0)
    ]  # only lap 1 is filmed


def test_model_lap_is_reproducible_from_the_physics_lap() -> None:
    committed = json.loads((DATA_DIR / "reference" / "sonoma_model.json").read_text(encoding="utf-8"))
    assert build_reference(SONOMA, E46) == committed
