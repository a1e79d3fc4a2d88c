"""Response shapes the original PWA reads, requested as it requests them, over real HTTP on both backends.

The keys come from the original bridge's public source (``mlnomadpy/pitwall``: ``src/pwa/src/shared/types/
bridge.ts``, the PWA pages that read each response, and the bridge's blueprints). Every alias is checked
against our own key it repeats (same value, same unit), and the derived figures against an independent
computation on the frames as sent. Two sessions on Sonoma, both driven by the physics model
(``pitwall.live.physics.lap_profile``): ``gps`` (GPS fixes, sent through ``POST /session/<id>/frames``) and
``blind`` (a frozen GPS fix and a distance channel wrapping to zero at each start/finish crossing, stored with
``Store.append_telemetry``), which must still get its laps, lap-time table, sectors and corners.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
import polars as pl
import pytest
from litestar import Litestar
from litestar.testing import TestClient

from pitwall import DATA_DIR
from pitwall.analysis.capabilities import COACH_REQUIREMENTS
from pitwall.api.app import create_app
from pitwall.formats.car import load_car
from pitwall.formats.track import load_track
from pitwall.live.physics import lap_profile, lap_time_s
from pitwall.store.base import Store
from tests.analysis import simulate_laps
from tests.api.conftest import BACKENDS, make_settings

SONOMA = load_track(DATA_DIR / "tracks" / "sonoma.json")
PACES = [1.0, 0.98, 1.01]  # three timed laps between an out-lap and an in-lap at the profile's pace


@dataclass
class World:
    client: TestClient[Litestar]
    frames: pl.DataFrame  # the "gps" session as sent
    blind: pl.DataFrame  # the "blind" session as stored
    truth: np.ndarray  # true start/finish crossing times (s), the same for both sessions


def blind_frames(frames: pl.DataFrame, truth: np.ndarray) -> pl.DataFrame:
    """The same drive with a frozen GPS fix, no heading and a lap-distance channel wrapping at the line."""
    lap_m = float(np.interp(truth[0], frames["t_s"].to_numpy(), frames["distance_m"].to_numpy()))
    centre_lat = (SONOMA.start_finish.lat1_deg + SONOMA.start_finish.lat2_deg) / 2
    centre_lon = (SONOMA.start_finish.lon1_deg + SONOMA.start_finish.lon2_deg) / 2
    return frames.with_columns(
        (pl.col("distance_m") % lap_m).alias("distance_m"),
        pl.lit(centre_lat).alias("lat_deg"),
        pl.lit(centre_lon).alias("lon_deg"),
        pl.lit(None, dtype=pl.Float64).alias("heading_deg"),
    )


@pytest.fixture(scope="module", params=BACKENDS)
def world(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    tmp = tmp_path_factory.mktemp(f"compat-{request.param}")
    settings = replace(make_settings(tmp, str(request.param)), simulate_speed=3.0, simulate_lap_seconds=75.0)
    profile = lap_profile(SONOMA, car=load_car(DATA_DIR / "cars" / "bmw_e46_m3.yaml"), lap_seconds=None)
    frames, truth = simulate_laps(profile, lap_time_s(profile), pace=PACES, phase_s=0.037)
    blind = blind_frames(frames, truth)
    app = create_app(settings)
    with TestClient(app) as client:
        for sid in ("gps", "blind"):
            response = client.post("/session/start", json={"session_id": sid, "track": SONOMA.name})
            assert response.status_code == 200, response.text
        response = client.post("/session/gps/frames", json={"frames": frames.to_dicts()})
        assert response.status_code == 200, response.text
        store: Store = app.state.store
        store.append_telemetry("blind", blind.with_columns(pl.lit("blind").alias("session_id")))
        yield World(client, frames, blind, truth)


def get(world: World, path: str, status: int = 200, **params: Any) -> Any:
    response = world.client.get(path, params=params)
    assert response.status_code == status, response.text
    return response.json()


# -- laps for every kind of data -------------------------------------------------------------------------


def test_a_frozen_gps_fix_with_a_wrapping_distance_has_its_laps(world: World) -> None:
    laps = get(world, "/session/blind/laps")["laps"][1:]
    assert {lap["method"] for lap in laps} == {"distance"}
    flying = [lap for lap in laps if lap["kind"] == "flying"]
    assert [lap["lap"] for lap in flying] == [2, 3, 4]
    np.testing.assert_allclose([lap["duration_s"] for lap in flying], np.diff(world.truth), atol=0.05)
    # The GPS session times the same laps from its crossings.
    gps = [lap for lap in get(world, "/session/gps/laps")["laps"][1:] if lap["kind"] == "flying"]
    np.testing.assert_allclose(
        [lap["duration_s"] for lap in flying], [lap["duration_s"] for lap in gps], atol=0.05
    )


def test_the_blind_session_has_lap_time_table_sectors_and_corners(world: World) -> None:
    table = get(world, "/session/blind/lap_time_table")
    gps_table = get(world, "/session/gps/lap_time_table")
    assert table["best_lap_number"] == gps_table["best_lap_number"] == 4  # the lap at 1.01 × the pace
    for blind_lap, gps_lap in zip(table["laps"], gps_table["laps"], strict=True):
        if blind_lap["kind"] != "flying":
            continue
        for blind_sector, gps_sector in zip(blind_lap["sectors"], gps_lap["sectors"], strict=True):
            assert blind_sector["time_s"] == pytest.approx(gps_sector["time_s"], abs=0.1)
    sectors = get(world, "/session/blind/sector_times")
    assert len(sectors["laps"]) == 3 and all(row["s1_s"] is not None for row in sectors["laps"])
    blind_corners = {c["corner"]: c for c in get(world, "/session/blind/corners")["corners"]}
    gps_corners = {c["corner"]: c for c in get(world, "/session/gps/corners")["corners"]}
    assert blind_corners.keys() == gps_corners.keys() == {c.number for c in SONOMA.corners}
    for name, corner in blind_corners.items():
        assert corner["n_passes"] == 3
        assert corner["mean_min_speed_kph"] == pytest.approx(gps_corners[name]["mean_min_speed_kph"], abs=2.0)


# -- /health ---------------------------------------------------------------------------------------------


def test_health_has_the_simulator_block(world: World) -> None:
    body = get(world, "/health")
    assert body["simulator"] == {
        "enabled": False,
        "running": False,
        "lap_seconds": 75.0,
        "speed_multiplier": 3.0,
    }


# -- lap time table --------------------------------------------------------------------------------------


def test_lap_time_table_carries_the_original_keys(world: World) -> None:
    body = get(world, "/session/gps/lap_time_table")
    assert body["session_id"] == "gps" and body["lap_count"] == len(body["laps"]) == 5
    assert body["best_lap_number"] == body["best_lap"]
    best = [lap for lap in body["laps"] if lap["is_best"]]
    assert len(best) == 1 and best[0]["lap_number"] == body["best_lap_number"]
    assert best[0]["lap_time_s"] == body["best_lap_s"]
    for lap in body["laps"]:
        assert lap["lap_number"] == lap["lap"]
        assert lap["lap_time_s"] == lap["duration_s"]
        assert lap["is_best"] == lap["is_best_lap"]
        assert [s["name"] for s in lap["sectors"]] == ["S1", "S2", "S3"]
        assert [s["time_s"] for s in lap["sectors"]] == [lap["s1_s"], lap["s2_s"], lap["s3_s"]]
        assert [s["is_best"] for s in lap["sectors"]] == [lap[f"is_best_s{k}"] for k in (1, 2, 3)]
    flying = [lap for lap in body["laps"] if lap["kind"] == "flying"]
    for lap in flying:
        assert sum(s["time_s"] for s in lap["sectors"]) == pytest.approx(lap["lap_time_s"], abs=1e-6)


# -- scorecard -------------------------------------------------------------------------------------------


def test_scorecard_wrapper_and_corner_keys(world: World) -> None:
    body = get(world, "/session/gps/scorecard")
    assert body["session_id"] == "gps"
    corners = get(world, "/session/gps/corners")
    summary = {c["corner"]: c for c in corners["corners"]}
    cards = body["scorecard"]["corners"]
    assert [c["corner"] for c in cards] == [f"Turn {c['corner']}" for c in body["corners"]]
    assert body["scorecard"]["overall"] == body["overall"]
    frames = world.frames
    for card in cards:
        ours = summary[card["number"]]
        assert card["name"] == card["corner"] == f"Turn {card['number']}"
        assert card["grade"] == ours["grade"]
        assert card["entry_speed_kmh"] == pytest.approx(
            ours["mean_entry_speed_kph"], rel=1e-12
        )  # two group-by means
        assert card["apex_speed_kmh"] == pytest.approx(
            ours["mean_min_speed_kph"], rel=1e-12
        )  # two group-by means
        assert card["exit_speed_kmh"] == pytest.approx(
            ours["mean_exit_speed_kph"], rel=1e-12
        )  # two group-by means
        assert card["time_s"] == pytest.approx(ours["mean_time_s"], rel=1e-12, abs=1e-9)  # two group-by means
        assert card["delta_s"] == pytest.approx(
            ours["delta_to_reference_s"], rel=1e-12, abs=1e-9
        )  # two group-by means
        # Peak brake pressure: per pass the max over the frames inside the corner, then the mean.
        passes = [p for p in corners["passes"] if p["corner"] == card["number"]]
        peaks = [
            float(
                frames.filter(pl.col("t_s").is_between(p["t_entry_s"], p["t_exit_s"]))["brake_bar"]
                .to_numpy()
                .max()
            )
            for p in passes
        ]
        assert card["peak_brake_bar"] == pytest.approx(float(np.mean(peaks)), rel=1e-9)
        assert 0.0 < card["peak_g_lat"] < 2.5  # |g_lat| in g, derived from the course (a road car's range)


# -- pedal behaviour -------------------------------------------------------------------------------------


def test_pedal_behavior_states_in_percent(world: World) -> None:
    body = get(world, "/session/gps/pedal_behavior")
    states = body["states"]
    assert set(states) == {"throttle_only", "brake_only", "trail_brake", "coast"}
    for name, state in states.items():
        assert state["time_s"] == body["session"][f"{name}_s"]
        assert state["pct"] == pytest.approx(100.0 * body["session"][f"{name}_frac"], rel=1e-12)
    assert sum(state["pct"] for state in states.values()) == pytest.approx(100.0)
    assert body["thresholds"] == {"throttle_pct": 5.0, "brake_bar": 2.0}
    assert body["frame_dt_s"] == pytest.approx(0.1)  # the frames are sent at 10 Hz
    complete = get(world, "/session/gps/lap_time_table")["laps"]
    laps = [lap for lap in complete if lap["kind"] == "flying"]
    sent = world.frames.filter(
        pl.any_horizontal(pl.col("t_s").is_between(lap["t_start_s"], lap["t_end_s"]) for lap in laps)
    )
    assert abs(body["frame_count"] - sent.height) <= len(laps)  # a frame on a boundary counts once


# -- signals ---------------------------------------------------------------------------------------------


def test_registry_carries_the_original_key_names_and_can_state(world: World) -> None:
    body = get(world, "/signals/registry")
    assert body["count"] == len(body["signals"]) > 0 and body["can_state"] is None
    for entry in body["signals"]:
        assert entry["name"] == entry["signal_name"] and entry["units"] == entry["unit"]
        assert entry["group"] == entry["source"] and entry["semantics"] == entry["description"]
        assert entry["obd2_pid"] == entry["pid"] and entry["min_useful_hz"] == 1.0
    can = get(world, "/signals/registry", include_can_state="true")["can_state"]
    assert can is not None and {"link_state", "can_state", "bitrate"} <= can.keys()
    assert can["link_state"] is None  # no CAN reader runs in this app


def test_capabilities_signals_duration_and_coach_gating(world: World) -> None:
    response = world.client.post("/session/gps/capabilities/recompute")
    assert response.status_code == 200, response.text
    body = get(world, "/session/gps/capabilities")
    assert [s["name"] for s in body["signals"]] == [c["signal_name"] for c in body["capabilities"]]
    assert {"speed_kph", "throttle_pct", "brake_bar"} <= {s["name"] for s in body["signals"] if s["useful"]}
    t = world.frames["t_s"].to_numpy()
    assert body["duration_s"] == pytest.approx(float(t.max() - t.min()))
    available, disabled = set(body["coaches_available"]), set(body["coaches_disabled"])
    assert available | disabled == set(COACH_REQUIREMENTS) and not available & disabled
    assert {"laps", "corners", "pedal_behavior"} <= available and "shift_points" in disabled  # no rpm sent


def test_signals_accept_the_original_interp_and_axes(world: World) -> None:
    window: dict[str, Any] = {"names": "speed_kph,throttle_pct", "t_from": 30.0, "t_to": 40.0}
    hold = get(world, "/session/gps/signals", interp="hold", **window)
    previous = get(world, "/session/gps/signals", interp="previous", **window)
    lerp = get(world, "/session/gps/signals", interp="lerp", **window)
    linear = get(world, "/session/gps/signals", **window)
    assert hold["signals"] == previous["signals"] and lerp["signals"] == linear["signals"]
    assert (hold["interp"], hold["interp_original"], lerp["interp"], lerp["interp_original"]) == (
        "previous",
        "hold",
        "linear",
        "lerp",
    )
    assert lerp["names"] == ["speed_kph", "throttle_pct"] and lerp["count"] == lerp["n"] == 101
    assert (lerp["rate_hz"], lerp["t_from"], lerp["t_to"]) == (10.0, 30.0, 40.0)
    for k, row in enumerate(lerp["rows"]):
        assert row["t"] == lerp["x"][k]
        assert row["speed_kph"] == lerp["signals"]["speed_kph"]["values"][k]
    assert get(world, "/session/gps/signals", axis="gps", **window)["rows"] == lerp["rows"]
    along = get(world, "/session/gps/signals", axis="lap_distance", **window)
    expected = np.interp(along["x"], world.frames["t_s"].to_numpy(), world.frames["distance_m"].to_numpy())
    np.testing.assert_allclose([row["distance_m"] for row in along["rows"]], expected, atol=1e-6)
    per_signal = get(
        world, "/session/gps/signals", axis="brake_bar", names="speed_kph", t_from=30.0, t_to=40.0
    )
    assert per_signal["rate_hz"] == pytest.approx(10.0)  # brake_bar is sampled at 10 Hz
    bad = world.client.get("/session/gps/signals", params={"names": "speed_kph", "interp": "cubic"})
    assert bad.status_code == 400 and "error" in bad.json()


# -- track -----------------------------------------------------------------------------------------------


def test_elevation_has_the_original_keys(world: World) -> None:
    body = get(world, "/track/sonoma/elevation", step_m=50)
    assert body["min_elevation_m"] == body["min_alt_m"] and body["max_elevation_m"] == body["max_alt_m"]
    assert body["name"] == SONOMA.name and body["track_length_m"] == SONOMA.length_m
    assert body["elevation_source"] == "reference_line"
    assert [(s["distance_m"], s["elevation_m"]) for s in body["samples"]] == [
        (p["s_m"], p["alt_m"]) for p in body["points"]
    ]
    assert min(s["elevation_m"] for s in body["samples"]) >= body["min_elevation_m"]


def test_markers_filters_ids_and_turn_names(world: World) -> None:
    every = get(world, "/track/markers")
    assert len({m["id"] for m in every["markers"]}) == every["count"] > 0
    for marker in every["markers"]:
        assert marker["label"] == marker["text"] and marker["distance"] == marker["s_m"]
        assert marker["corner_name"] == (None if marker["corner"] is None else f"Turn {marker['corner']}")
        fix = np.argmin(np.abs(SONOMA.reference_line.s_m - marker["s_m"]))
        assert abs(marker["lat"] - SONOMA.reference_line.lat_deg[fix]) < 1e-4
    by_label = get(world, "/markers", corner="Turn 2")
    by_number = get(world, "/markers", corner="2")
    assert by_label["filters"] == {"corner": "Turn 2", "kind": None} and by_label["track"] == SONOMA.name
    assert by_label["markers"] == by_number["markers"] and by_label["count"] > 0
    ids = {m["id"]: m for m in every["markers"]}
    assert all(ids[m["id"]] == m for m in by_label["markers"])  # ids are stable under filtering


def test_danger_zones_have_ids(world: World) -> None:
    zones = get(world, "/track/danger_zones")["danger_zones"]
    assert len({z["id"] for z in zones}) == len(zones) > 0
    for zone in zones:
        assert (zone["start_m"], zone["end_m"], zone["description"]) == (
            zone["s_start_m"],
            zone["s_end_m"],
            zone["text"],
        )


def test_weather_phase_is_the_original_string(world: World) -> None:
    body = get(world, "/track/weather", hour_local=12)
    assert isinstance(body["phase"], str) and body["phase"] == body["phase_detail"]["label"]
    assert body["coaching_note"] == body["phase_detail"]["note"]


# -- POST /lap -------------------------------------------------------------------------------------------


def test_post_lap_with_lap_number(world: World) -> None:
    body = {"session_id": "gps", "lap_number": 42, "t_start_s": 500.0, "t_end_s": 590.5}
    response = world.client.post("/lap", json=body)
    assert response.status_code == 200, response.text
    stored = response.json()
    assert stored["lap"] == stored["lap_number"] == 42 and stored["duration_s"] == pytest.approx(90.5)
    rows = get(world, "/laps", session_id="gps", limit=100)["rows"]
    assert any(row["lap"] == 42 and row["method"] == "manual" for row in rows)
    clash = world.client.post("/lap", json={**body, "lap": 41})
    assert clash.status_code == 400 and clash.json()["error"] == "invalid lap"
