from __future__ import annotations

from dataclasses import replace

import numpy as np
import polars as pl
import pytest
from polars.testing import assert_frame_equal

from pitwall import schema
from pitwall.analysis.geo import from_local_xy
from pitwall.analysis.laps import (
    add_lap_column,
    add_lap_distance,
    default_min_lap_s,
    drop_close_crossings,
    gps_usable,
    lap_crossings,
    slice_laps,
)
from tests.analysis import LAT0, LON0, RADIUS_M, circle_drive, circle_track, gate_at

TRACK = circle_track()
L = TRACK.length_m


def laps_frame(rows: list[tuple[int, float, float, float, str, str, bool, str | None]]) -> pl.DataFrame:
    """Expected lap table from (lap, t_start, t_end, distance, method, kind, valid, reason)."""
    return pl.DataFrame(
        {
            "session_id": [None] * len(rows),
            "lap": [r[0] for r in rows],
            "t_start_s": [r[1] for r in rows],
            "t_end_s": [r[2] for r in rows],
            "duration_s": [r[2] - r[1] for r in rows],
            "distance_m": [r[3] for r in rows],
            "method": [r[4] for r in rows],
            "kind": [r[5] for r in rows],
            "valid": [r[6] for r in rows],
            "reason": [r[7] for r in rows],
            "clock_repairs": [0] * len(rows),
        },
        schema=schema.LAPS,
    )


def test_constant_speed_crossings_are_interpolated_exactly() -> None:
    v, phase_m = 30.0, 100.0
    t = np.arange(0.0, 120.0, 0.1)
    df = circle_drive(t, phase_m + v * t)
    laps = slice_laps(df.lazy(), TRACK)
    assert isinstance(laps, pl.LazyFrame)
    c = [(k * L - phase_m) / v for k in (1, 2, 3)]  # true crossing times
    expected = laps_frame(
        [
            (1, 0.0, c[0], v * c[0], "gps", "out", False, "out-lap"),
            (2, c[0], c[1], L, "gps", "flying", True, None),
            (3, c[1], c[2], L, "gps", "flying", True, None),
            (4, c[2], t[-1], v * (t[-1] - c[2]), "gps", "incomplete", False, "incomplete lap"),
        ]
    )
    assert_frame_equal(laps.collect(), expected, abs_tol=1e-4, rel_tol=0)


def test_random_phase_crossing_error_is_microseconds() -> None:
    rng = np.random.default_rng(7)
    for _ in range(20):
        v, phase_m, dt = rng.uniform(15, 60), rng.uniform(0, L), rng.choice([0.04, 0.1, 0.2])
        t = np.arange(0.0, 3.2 * L / v, dt) + rng.uniform(0, dt)
        laps = slice_laps(circle_drive(t, phase_m + v * t).lazy(), TRACK).collect()
        truth = (np.arange(1, laps.height) * L - phase_m) / v
        np.testing.assert_allclose(laps["t_start_s"][1:].to_numpy(), truth, atol=2e-4)


def test_session_id_is_carried_over() -> None:
    t = np.arange(0.0, 70.0, 0.1)
    df = circle_drive(t, 30.0 * t).with_columns(pl.lit("s1").alias("session_id"))
    assert slice_laps(df.lazy(), TRACK).collect()["session_id"].unique().to_list() == ["s1"]


def test_wrong_direction_crossings_are_ignored_and_distance_slicing_takes_over() -> None:
    v = 25.0
    t = np.arange(0.0, 140.0, 0.1)
    df = circle_drive(t, 50.0 + v * t, clockwise=True)
    assert lap_crossings(*_arrays(df), TRACK.start_finish).size == 0
    laps = slice_laps(df.lazy(), TRACK).collect()
    assert set(laps["method"]) == {"distance"}
    flying = laps.filter(pl.col("kind") == "flying")
    assert flying.height >= 2
    np.testing.assert_allclose(flying["duration_s"].to_numpy(), L / v, atol=1e-6)
    np.testing.assert_allclose(flying["distance_m"].to_numpy(), L, atol=1e-6)
    # the distance laps are anchored where the car passes nearest to the start/finish line
    first_pass = (L - 50.0) / v
    assert min(abs(laps["t_start_s"].to_numpy() - first_pass)) < 0.1
    assert slice_laps(df.lazy(), TRACK, strategy="gps").collect().height == 0


def _arrays(df: pl.DataFrame) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    return (
        df["t_s"].to_numpy(),
        df["lat_deg"].to_numpy(),
        df["lon_deg"].to_numpy(),
        df["heading_deg"].to_numpy(),
    )


def _zigzag() -> pl.DataFrame:
    """Across the line eastwards (t=0.5), back westwards (t=1.5), eastwards again (t=2.5) then 4 s on."""
    t = np.arange(0.0, 7.01, 0.1)
    x = np.interp(t, [0, 1, 2, 3, 7], [-5, 5, -5, 5, 45])
    lat, lon = from_local_xy(x, np.full_like(x, -RADIUS_M), LAT0, LON0)
    return pl.DataFrame({"t_s": t, "lat_deg": lat, "lon_deg": lon, "speed_kph": np.full_like(t, 36.0)})


def test_backward_and_too_close_crossings_are_dropped() -> None:
    df = _zigzag()
    times = lap_crossings(
        df["t_s"].to_numpy(), df["lat_deg"].to_numpy(), df["lon_deg"].to_numpy(), None, TRACK.start_finish
    )
    np.testing.assert_allclose(times, [0.5, 2.5], atol=1e-9)  # the westward crossing is the wrong way
    np.testing.assert_allclose(drop_close_crossings(times, default_min_lap_s(TRACK)), [0.5])
    assert default_min_lap_s(TRACK) == pytest.approx(0.5 * L / 70.0)
    laps = slice_laps(df.lazy(), TRACK).collect()
    assert laps["kind"].to_list() == ["out", "incomplete"]
    assert laps["t_end_s"][0] == pytest.approx(0.5)
    short = slice_laps(df.lazy(), TRACK, min_lap_s=1.0).collect()
    assert short["kind"].to_list() == ["out", "flying", "incomplete"]
    assert short["valid"].to_list() == [False, False, False]
    assert short["reason"][1] == f"distance 20 m is 98% off the track length {L:.0f} m"


def test_gate_without_heading_keeps_the_majority_direction() -> None:
    t = np.arange(0.0, 100.0, 0.1)
    df = _zigzag()
    both_ways = gate_at(0.0, heading=False)
    times = lap_crossings(
        df["t_s"].to_numpy(), df["lat_deg"].to_numpy(), df["lon_deg"].to_numpy(), None, both_ways
    )
    np.testing.assert_allclose(times, [0.5, 2.5], atol=1e-9)
    laps_df = circle_drive(t, 10.0 + 30.0 * t)
    times = lap_crossings(*_arrays(laps_df), both_ways)
    np.testing.assert_allclose(times, (np.arange(1, 4) * L - 10.0) / 30.0, atol=1e-4)


def test_a_crossing_vbo_gate_wins_and_a_stale_one_falls_back_to_the_track() -> None:
    v = 30.0
    t = np.arange(0.0, 100.0, 0.1)
    df = circle_drive(t, v * t)
    vbo = slice_laps(df.lazy(), TRACK, gates=[gate_at(200.0)]).collect()
    np.testing.assert_allclose(vbo["t_start_s"][1:].to_numpy(), (200.0 + L * np.arange(3)) / v, atol=1e-4)
    stale = replace(
        gate_at(200.0), name="Homestead", lat1_deg=25.45, lon1_deg=-80.41, lat2_deg=25.4502, lon2_deg=-80.4102
    )
    fallback = slice_laps(df.lazy(), TRACK, gates=[stale]).collect()
    assert set(fallback["method"]) == {"gps"}
    track_times = L * np.arange(1, 4) / v
    np.testing.assert_allclose(fallback["t_start_s"][1:].to_numpy(), track_times, atol=1e-4)
    split = slice_laps(df.lazy(), TRACK, gates=[replace(gate_at(200.0), kind="split")]).collect()
    np.testing.assert_allclose(split["t_start_s"][1:].to_numpy(), track_times, atol=1e-4)


def test_in_lap_when_the_car_stops_after_the_last_crossing() -> None:
    t = np.arange(0.0, 80.0, 0.1)
    d = 10.0 + np.where(
        t < 60.0, 30.0 * t, 1800.0 + 30.0 * (t - 60.0) - 0.75 * (t - 60.0) ** 2
    )  # stops at t=80
    laps = slice_laps(circle_drive(t, d).lazy(), TRACK).collect()
    assert laps["kind"].to_list() == ["out", "flying", "in"]
    assert laps["reason"].to_list() == ["out-lap", None, "in-lap"]


def pit_drive(after_pit_m: float) -> pl.DataFrame:
    """Two laps at 30 m/s, then into a pit lane 12 m right of the line at 16 m/s across the timing line
    (a 30 m line: the pit lane is inside it), then ``after_pit_m`` more metres."""
    d = np.arange(10.0, 3 * L + after_pit_m, 0.5)
    pit = 3 * L
    speed = np.interp(d, [pit - 300, pit - 100, pit + 50, pit + 150, pit + 300], [30, 16, 16, 2, 30])
    if after_pit_m < 200:
        speed = np.interp(d, [pit - 300, pit - 100, pit + 50, d[-1]], [30, 16, 16, 1])
    offset = np.interp(d, [pit - 300, pit - 100, pit + 150, pit + 300], [0.0, -12.0, -12.0, 0.0])
    t = np.concatenate([[0.0], np.cumsum(np.diff(d) / ((speed[1:] + speed[:-1]) / 2))])
    t_10hz = np.arange(0.0, t[-1], 0.1)
    return circle_drive(t_10hz, np.interp(t_10hz, t, d), offset_m=np.interp(t_10hz, t, offset))


def test_a_pit_lane_pass_ends_an_in_lap_and_parking_is_no_lap() -> None:
    laps = slice_laps(pit_drive(150.0).lazy(), TRACK).collect()
    assert laps["kind"].to_list() == ["out", "flying", "in"]
    assert laps["reason"].to_list() == ["out-lap", None, "in-lap: ends in the pit lane"]
    assert laps["distance_m"][2] == pytest.approx(L, abs=0.01)


def test_leaving_the_pits_after_a_pit_lane_pass_is_an_out_lap() -> None:
    laps = slice_laps(pit_drive(0.7 * L).lazy(), TRACK).collect()
    assert laps["kind"].to_list() == ["out", "flying", "in", "out"]


def test_a_lap_with_a_detour_is_invalid() -> None:
    t = np.arange(0.0, 100.0, 0.1)
    d = 10.0 + 30.0 * t
    df = circle_drive(t, d).with_columns(
        pl.col("distance_m") + pl.when(pl.col("t_s") > 45.0).then(200.0).otherwise(0.0)
    )
    laps = slice_laps(df.lazy(), TRACK).collect().filter(pl.col("kind") == "flying")
    assert laps["valid"].to_list() == [False, True]
    assert laps["reason"][0] == f"distance {L + 200:.0f} m is {200 / L:.0%} off the track length {L:.0f} m"


def test_off_track_sessions_fall_back_to_moving_stints() -> None:
    t = np.arange(0.0, 200.0, 0.5)
    speed = np.where(
        (t < 60) | ((t >= 80) & (t < 150)) | (t >= 180), 20.0, 0.0
    )  # the last stint is too short
    x = np.concatenate([[0.0], np.cumsum(speed[1:] * 0.5)])
    lat, lon = from_local_xy(x, np.zeros_like(x), LAT0 + 0.1, LON0)
    df = pl.DataFrame({"t_s": t, "lat_deg": lat, "lon_deg": lon})  # speed derived from the fixes
    laps = slice_laps(df.lazy(), TRACK).collect()
    expected = laps_frame(
        [
            (1, 0.5, 59.5, 1180.0, "stint", "incomplete", False, "moving stint: no lap timing"),
            (2, 80.0, 149.5, 1390.0, "stint", "incomplete", False, "moving stint: no lap timing"),
        ]
    )
    assert_frame_equal(laps, expected, abs_tol=0.05, rel_tol=0)


def test_empty_and_tiny_inputs_give_an_empty_typed_table() -> None:
    empty = pl.DataFrame(schema={"t_s": pl.Float64, "lat_deg": pl.Float64, "lon_deg": pl.Float64})
    assert_frame_equal(slice_laps(empty.lazy(), TRACK).collect(), pl.DataFrame(schema=schema.LAPS))
    one = circle_drive([0.0], [0.0])
    assert slice_laps(one.lazy(), TRACK).collect().height == 0
    with pytest.raises(ValueError, match="lat_deg, lon_deg or distance_m"):
        slice_laps(pl.LazyFrame({"t_s": [0.0]}), TRACK)


def test_add_lap_column_tags_rows_and_boundaries_belong_to_the_next_lap() -> None:
    tel = pl.LazyFrame(
        {"t_s": [0.0, 1.0, 2.0, 3.0, 4.0, 5.0, 6.0], "lap": [None] * 7},
        schema={"t_s": pl.Float64, "lap": pl.Int32},
    )
    laps = pl.LazyFrame(
        {"lap": [1, 2], "t_start_s": [0.5, 2.0], "t_end_s": [2.0, 4.5]},
        schema={"lap": pl.Int32, "t_start_s": pl.Float64, "t_end_s": pl.Float64},
    )
    expected = pl.DataFrame(
        {"t_s": [0.0, 1.0, 2.0, 3.0, 4.0, 5.0, 6.0], "lap": [None, 1, 2, 2, 2, None, None]},
        schema={"t_s": pl.Float64, "lap": pl.Int32},
    )
    assert_frame_equal(add_lap_column(tel, laps).collect(), expected)


def wrapping(v: float, phase_m: float, t: np.ndarray) -> pl.DataFrame:
    """The circle driven at ``v`` m/s from ``phase_m`` with a frozen GPS fix and a lap-distance channel that
    wraps to zero at the start/finish line (as loggers and the original clients send ``distance``)."""
    drive = circle_drive(t, phase_m + v * t)
    return drive.with_columns(
        (pl.col("distance_m") % L).alias("distance_m"),
        pl.lit(LAT0).alias("lat_deg"),
        pl.lit(LON0).alias("lon_deg"),
        pl.lit(None, dtype=pl.Float64).alias("heading_deg"),
    )


def test_wrapping_distance_slices_laps_without_gps() -> None:
    v, phase_m = 30.0, 100.0
    t = np.arange(0.0, 120.0, 0.1)
    c = [(k * L - phase_m) / v for k in (1, 2, 3)]  # the true line crossings
    expected = laps_frame(
        [
            (1, 0.0, c[0], v * c[0], "distance", "out", False, "out-lap"),
            (2, c[0], c[1], L, "distance", "flying", True, None),
            (3, c[1], c[2], L, "distance", "flying", True, None),
            (4, c[2], t[-1], v * (t[-1] - c[2]), "distance", "incomplete", False, "incomplete lap"),
        ]
    )
    frozen = wrapping(v, phase_m, t)
    assert_frame_equal(slice_laps(frozen.lazy(), TRACK).collect(), expected, abs_tol=1e-3, rel_tol=0)
    # No position columns at all (a distance-only logger): the same laps.
    blind = frozen.drop("lat_deg", "lon_deg", "heading_deg")
    assert_frame_equal(slice_laps(blind.lazy(), TRACK).collect(), expected, abs_tol=1e-3, rel_tol=0)
    # Absent fixes (nulls) behave as no GPS, not as "no data".
    nulls = frozen.with_columns(pl.lit(None, dtype=pl.Float64).alias("lat_deg"))
    assert_frame_equal(slice_laps(nulls.lazy(), TRACK).collect(), expected, abs_tol=1e-3, rel_tol=0)


def test_gps_crossings_come_before_the_distance_wraps() -> None:
    v, phase_m = 30.0, 100.0
    t = np.arange(0.0, 120.0, 0.1)
    drive = circle_drive(t, phase_m + v * t).with_columns((pl.col("distance_m") % L).alias("distance_m"))
    laps = slice_laps(drive.lazy(), TRACK).collect()
    assert laps["method"].to_list() == ["gps"] * 4
    assert laps["duration_s"][1] == pytest.approx(L / v, abs=1e-3)


def test_frozen_gps_without_wraps_falls_back_to_stints() -> None:
    t = np.arange(0.0, 120.0, 0.1)
    cumulative = circle_drive(t, 30.0 * t).with_columns(
        pl.lit(LAT0).alias("lat_deg"), pl.lit(LON0).alias("lon_deg")
    )
    laps = slice_laps(cumulative.lazy(), TRACK).collect()
    assert laps["method"].to_list() == ["stint"]
    assert laps["distance_m"][0] == pytest.approx(30.0 * t[-1], abs=1e-6)


def test_gps_usable_needs_two_fixes_spread_over_the_threshold() -> None:
    lat, lon = from_local_xy(np.array([0.0, 10.0, 20.0]), np.zeros(3), LAT0, LON0)
    assert not gps_usable(lat, lon)  # 20 m: a jittering frozen fix
    lat, lon = from_local_xy(np.array([0.0, 10.0, 40.0]), np.zeros(3), LAT0, LON0)
    assert gps_usable(lat, lon)
    assert not gps_usable(np.array([LAT0, np.nan]), np.array([LON0, np.nan]))


def test_lap_distance_is_the_track_position_without_gps() -> None:
    v, phase_m = 30.0, 100.0
    t = np.arange(0.0, 120.0, 0.1)
    frozen = wrapping(v, phase_m, t)
    laps = slice_laps(frozen.lazy(), TRACK).collect()
    out = add_lap_distance(frozen.drop("s_m", "offset_m").lazy(), laps, L).collect()
    truth = (phase_m + v * t) % L
    got = out["s_m"].to_numpy()
    # Equal to the true position, except within one sample step of the line where 0 and L meet.
    near_line = np.minimum(truth, L - truth) < v * 0.1
    np.testing.assert_allclose(got[~near_line], truth[~near_line], atol=1e-3)
    assert ((got >= 0) & (got < L)).all()
    assert out["offset_m"].null_count() == out.height
    assert out["t_s"].is_sorted()


def test_a_closed_lap_is_stretched_onto_the_track_length() -> None:
    v, phase_m, long_lap = 30.0, 100.0, 1.02 * L  # the car's distance channel reads 2 % long
    t = np.arange(0.0, 120.0, 0.1)
    travelled = (phase_m + v * t) * 1.02
    frozen = wrapping(v, phase_m, t).with_columns(
        pl.Series("distance_m", travelled % long_lap), pl.Series("speed_kph", np.full(t.size, v * 1.02 * 3.6))
    )
    laps = slice_laps(frozen.lazy(), TRACK).collect()
    assert laps.filter(pl.col("kind") == "flying")["distance_m"].to_list() == pytest.approx([long_lap] * 2)
    out = add_lap_distance(frozen.drop("s_m", "offset_m").lazy(), laps, L).collect()
    closed = out.filter(pl.col("t_s").is_between(laps["t_start_s"][1] + 0.2, laps["t_end_s"][2] - 0.2))
    truth = (phase_m + v * closed["t_s"].to_numpy()) % L
    np.testing.assert_allclose(closed["s_m"].to_numpy(), truth, atol=0.05)
