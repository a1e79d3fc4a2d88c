"""Lap timing accuracy on real recordings (Road America, Video VBOX HD2 at 25 Hz with the car's ECU
``Lap_Number`` counter) and on simulated laps whose true crossing times are known."""

from __future__ import annotations

from functools import cache

import numpy as np
import polars as pl
import pytest

from pitwall import DATA_DIR
from pitwall.analysis.laps import add_lap_column, lap_crossings, slice_laps
from pitwall.analysis.position import add_track_position
from pitwall.analysis.sectors import lap_time_table
from pitwall.formats.car import load_car
from pitwall.formats.track import load_track
from pitwall.formats.vbo import VboRecording, read_vbo
from pitwall.live.physics import lap_profile, lap_time_s
from pitwall.track import Track
from tests.analysis import simulate_laps

SAMPLES = DATA_DIR / "samples"


@cache
def road_america() -> Track:
    return load_track(DATA_DIR / "tracks" / "road-america.json")


@cache
def run(name: str) -> VboRecording:
    return read_vbo(SAMPLES / f"25IR05_RdAm_FP1_{name}.vbo")


def ecu_lap_steps(recording: VboRecording) -> pl.DataFrame:
    """Times (s) where the ECU ``Lap_Number`` counter counts a lap (steps up by one to 2 or more; 0 → 1 is the
    counter's reset in the pits), with the new value."""
    counter = recording.signals.filter(pl.col("signal_name") == "Lap_Number").sort("t_s")
    return counter.filter((pl.col("value").diff() == 1) & (pl.col("value") >= 2)).select("t_s", "value")


def test_run04_flying_lap_agrees_with_the_ecu_lap_counter() -> None:
    rec = run("Run04_KO")
    laps = slice_laps(rec.telemetry.lazy(), road_america(), gates=rec.gates).collect()
    assert laps["method"].unique().to_list() == ["gps"]
    assert laps["kind"].to_list() == ["out", "flying", "in"]  # the third pass is through the pit lane
    flying = laps.row(1, named=True)
    steps = ecu_lap_steps(rec)
    assert steps["value"].to_list() == [2.0, 3.0]
    ecu_start, ecu_end = steps["t_s"].to_list()  # ≈ 135.24 and 250.24 s
    assert flying["duration_s"] == pytest.approx(ecu_end - ecu_start, abs=0.05)  # ≈ 115.0 s
    assert flying["valid"] and flying["distance_m"] == pytest.approx(road_america().length_m, rel=0.02)
    # The ECU counter flips a constant ≈ 0.24 s (≈ 16 m at 250 km/h) after the GPS line: its trigger lies past
    # the line. The offset is the same at both ends of the lap within 0.05 s (the counter's 25 Hz step).
    offsets = np.array([ecu_start - flying["t_start_s"], ecu_end - flying["t_end_s"]])
    assert np.all((offsets > 0.0) & (offsets < 0.3))
    assert abs(offsets[0] - offsets[1]) <= 0.05


def test_run04_vbo_gate_and_library_gate_agree() -> None:
    rec = run("Run04_KO")
    tel = rec.telemetry
    arrays = (
        tel["t_s"].to_numpy(),
        tel["lat_deg"].to_numpy(),
        tel["lon_deg"].to_numpy(),
        tel["heading_deg"].to_numpy(),
    )
    vbo = lap_crossings(*arrays, rec.gates[0])
    library = lap_crossings(*arrays, road_america().start_finish)
    assert vbo.size == library.size == 3
    np.testing.assert_allclose(vbo[:2], library[:2], atol=0.005)


def test_run04_sector_times_add_up_to_the_lap() -> None:
    rec = run("Run04_KO")
    laps = slice_laps(rec.telemetry.lazy(), road_america(), gates=rec.gates)
    tel = add_lap_column(add_track_position(rec.telemetry.lazy(), road_america()), laps)
    row = (
        lap_time_table(tel, laps, road_america())
        .collect()
        .filter(pl.col("kind") == "flying")
        .row(0, named=True)
    )
    sectors = [row["s1_s"], row["s2_s"], row["s3_s"]]
    assert all(30.0 < s < 50.0 for s in sectors)
    assert sum(sectors) == pytest.approx(row["duration_s"], abs=1e-9)
    assert row["is_best_lap"] and row["is_best_s1"] and row["is_best_s3"]


def test_run01_stale_homestead_gate_falls_back_to_the_library_gate() -> None:
    rec = run("Run01_KO")
    tel = rec.telemetry
    assert rec.gates and rec.gates[0].lat1_deg < 30.0  # the file's gate is at Homestead, Florida
    stale = lap_crossings(
        tel["t_s"].to_numpy(), tel["lat_deg"].to_numpy(), tel["lon_deg"].to_numpy(), None, rec.gates[0]
    )
    assert stale.size == 0
    laps = slice_laps(tel.lazy(), road_america(), gates=rec.gates).collect()
    assert laps.height >= 1
    assert laps["method"].unique().to_list() == ["gps"]
    assert laps["kind"].to_list() == ["out"]  # the one crossing is the pit-lane pass at the end
    end = laps["t_end_s"][0]
    assert end == pytest.approx(191.58, abs=0.01)
    at_pass = tel.filter((pl.col("t_s") - end).abs() < 0.04)
    assert float(at_pass["speed_kph"].to_numpy().max()) < 60.0  # pit-lane speed


def test_run05_yields_only_an_out_lap() -> None:
    rec = run("Run05_TL")
    laps = slice_laps(rec.telemetry.lazy(), road_america(), gates=rec.gates).collect()
    assert laps.select("lap", "kind", "method", "valid").rows() == [(1, "out", "gps", False)]


@pytest.mark.parametrize("track_id", ["road-america", "sonoma"])
def test_simulated_crossings_are_within_5_ms_of_the_truth(track_id: str) -> None:
    """Laps driven along the reference line with the physics speed profile (varying pace per lap), sampled at
    10 Hz with a random phase: the interpolated crossing times against the exactly known ones."""
    track = load_track(DATA_DIR / "tracks" / f"{track_id}.json")
    profile = lap_profile(track, car=load_car(DATA_DIR / "cars" / "bmw_e46_m3.yaml"), lap_seconds=None)
    rng = np.random.default_rng(2024)
    errors: list[float] = []
    for _ in range(20):
        pace = [float(p) for p in rng.uniform(0.9, 1.05, 3)]
        tel, truth = simulate_laps(
            profile, lap_time_s(profile), pace=pace, phase_s=float(rng.uniform(0, 0.1))
        )
        laps = slice_laps(tel.lazy(), track).collect()
        assert laps["kind"].to_list() == ["out", "flying", "flying", "flying", "incomplete"]
        errors += list(laps["t_start_s"][1:].to_numpy() - truth)
    assert np.median(np.abs(errors)) <= 0.005
    assert np.max(np.abs(errors)) <= 0.02
