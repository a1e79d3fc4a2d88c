from __future__ import annotations

import numpy as np
import polars as pl
import pytest
from polars.testing import assert_frame_equal

from pitwall import schema
from pitwall.analysis.delta import (
    braking_delta,
    braking_points,
    corner_table,
    delta_t,
    lap_traces,
    s_grid,
    stitch_traces,
)
from pitwall.analysis.laps import add_lap_column, slice_laps
from pitwall.analysis.sectors import ideal_lap
from pitwall.track import Corner
from tests.analysis import circle_drive, circle_track

L = 300.0
TRACK = circle_track(
    L / (2 * np.pi),
    sector_ends_m=(101.0, 200.0, L),
    corners=(Corner("1", "left", 140.0, 160.0, 180.0), Corner("2", "right", 250.0, 262.0, 275.0)),
)


def laps_table(rows: list[tuple[int, float, float]]) -> pl.LazyFrame:
    """Flying laps from (lap, t_start, t_end)."""
    return pl.LazyFrame(
        {
            "lap": [r[0] for r in rows],
            "t_start_s": [r[1] for r in rows],
            "t_end_s": [r[2] for r in rows],
            "duration_s": [r[2] - r[1] for r in rows],
            "kind": ["flying"] * len(rows),
            "valid": [True] * len(rows),
        },
        schema_overrides={"lap": pl.Int32},
    )


def constant_lap(lap: int, t0: float, v: float, **extra: float) -> pl.DataFrame:
    """One lap at constant speed ``v`` (m/s), a fix every metre-ish with a pre-wrap fix at s = L − 0.5."""
    s = np.concatenate([[L - 0.5], np.arange(0.7, L, 3.0)])
    t = t0 + np.where(s > L - 1, 0.02, s / v)
    return pl.DataFrame(
        {"lap": lap, "t_s": t, "s_m": s, "speed_kph": v * 3.6, **extra},
        schema_overrides={"lap": pl.Int32},
    )


def test_s_grid_holds_steps_sector_ends_and_the_lap_end() -> None:
    grid = s_grid(TRACK, step_m=50.0).collect()
    assert grid["s_m"].to_list() == [0.0, 50.0, 100.0, 101.0, 150.0, 200.0, 250.0, L]
    assert grid["i"].to_list() == list(range(8))
    assert grid.schema == pl.Schema({"i": pl.Int32, "s_m": pl.Float64})
    with pytest.raises(ValueError, match="step_m"):
        s_grid(TRACK, step_m=0.0)


def test_traces_are_time_along_position_anchored_at_the_lap_ends() -> None:
    tel = pl.concat([constant_lap(2, 100.0, 10.0), constant_lap(3, 130.0, 12.0)]).lazy()
    laps = laps_table([(2, 100.0, 130.0), (3, 130.0, 155.0)])
    traces = lap_traces(tel, laps, TRACK, step_m=2.0).collect()
    assert traces.columns == ["lap", "i", "s_m", "t_s", "speed_kph"]
    for lap, v, duration in ((2, 10.0, 30.0), (3, 12.0, 25.0)):
        trace = traces.filter(pl.col("lap") == lap)
        assert trace["s_m"].is_sorted() and trace.height == 152
        np.testing.assert_allclose(trace["t_s"].to_numpy(), trace["s_m"].to_numpy() / v, atol=1e-9)
        assert trace["t_s"][-1] == pytest.approx(duration)
        np.testing.assert_allclose(trace["speed_kph"].to_numpy(), v * 3.6)
    only_three = lap_traces(tel, laps, TRACK, laps=[3]).collect()
    assert only_three["lap"].unique().to_list() == [3]


def test_delta_t_is_lap_minus_reference_positive_when_slower() -> None:
    tel = pl.concat([constant_lap(2, 100.0, 10.0), constant_lap(3, 130.0, 12.0)]).lazy()
    traces = lap_traces(tel, laps_table([(2, 100.0, 130.0), (3, 130.0, 155.0)]), TRACK, step_m=10.0)
    delta = delta_t(traces.filter(pl.col("lap") == 2), traces.filter(pl.col("lap") == 3)).collect()
    s = delta["s_m"].to_numpy()
    expected = pl.DataFrame(
        {
            "i": pl.Series(range(s.size), dtype=pl.Int32),
            "s_m": s,
            "t_s": s / 10.0,
            "ref_t_s": s / 12.0,
            "delta_s": s / 10.0 - s / 12.0,
            "speed_kph": 36.0,
            "ref_speed_kph": 12.0 * 3.6,
        }
    )
    assert_frame_equal(delta, expected, abs_tol=1e-9)
    assert delta["delta_s"][-1] == pytest.approx(5.0)  # the lap-time difference at the line


def test_position_noise_never_makes_time_run_backwards() -> None:
    lap = constant_lap(2, 0.0, 10.0)
    jitter = lap.with_columns(
        pl.when(pl.col("s_m") == 150.7).then(140.0).otherwise(pl.col("s_m")).alias("s_m")
    )
    trace = lap_traces(jitter.lazy(), laps_table([(2, 0.0, 30.0)]), TRACK).collect()
    assert float(np.diff(trace["t_s"].to_numpy()).min()) >= 0.0


def test_heading_is_interpolated_as_a_direction() -> None:
    tel = pl.LazyFrame(
        {
            "lap": [1, 1, 1],
            "t_s": [0.1, 10.0, 20.0],
            "s_m": [1.0, 100.0, 200.0],
            "heading_deg": [350.0, 350.0, 10.0],
        },
        schema_overrides={"lap": pl.Int32},
    )
    trace = lap_traces(tel, laps_table([(1, 0.0, 30.0)]), TRACK, step_m=50.0).collect()
    assert trace.filter(pl.col("s_m") == 150.0)["heading_deg"][0] == pytest.approx(0.0, abs=1e-9)


def test_stitched_ideal_trace_ends_at_the_ideal_lap_time() -> None:
    v = 20.0
    t = np.arange(0.0, 80.0, 0.05)
    speed = np.where((t // (L / v)) % 2 == 0, v, v * 1.1)  # alternate laps 10 % faster
    tel = circle_drive(
        t, 5.0 + np.concatenate([[0.0], np.cumsum(speed[1:] * 0.05)]), radius_m=L / (2 * np.pi)
    )
    laps = slice_laps(tel.lazy(), TRACK)
    tel_lap = add_lap_column(tel.lazy(), laps)
    ideal = ideal_lap(tel_lap, laps, TRACK).collect()
    traces = lap_traces(tel_lap, laps, TRACK, step_m=1.0)
    stitched = stitch_traces(traces, ideal.lazy().select("lap", "s_start_m", "s_end_m")).collect()
    assert stitched["t_s"][-1] == pytest.approx(ideal["ideal_lap_s"][0], abs=1e-9)
    assert float(np.diff(stitched["t_s"].to_numpy()).min()) > 0.0
    at_seams = stitched.filter(pl.col("s_m").is_in([101.0, 200.0]))
    assert at_seams["lap"].to_list() == ideal["lap"][1:].to_list()
    assert at_seams["t_s"].to_list() == pytest.approx(ideal["best_s"].cum_sum()[:2].to_list(), abs=1e-9)


def braking_lap(lap: int, brake_from_m: float, *, with_brake: bool) -> pl.DataFrame:
    """A lap at 30 m/s that brakes at 0.6 g from ``brake_from_m`` to the T1 apex (160 m), brake line pressure
    rising 2 bar/m from the onset (5 bar at ``brake_from_m + 2.5``) and released at the apex."""
    s = np.arange(0.5, L, 1.0)
    v = np.sqrt(900.0 - 2 * 0.6 * schema.G0 * np.clip(s - brake_from_m, 0, 160.0 - brake_from_m))
    t = lap * 100.0 + 0.01 + np.concatenate([[0.0], np.cumsum(np.diff(s) / ((v[1:] + v[:-1]) / 2))])
    cols: dict[str, object] = {"lap": lap, "t_s": t, "s_m": s, "speed_kph": v * 3.6}
    if with_brake:
        cols["brake_bar"] = np.where(s < 160.0, np.clip((s - brake_from_m) * 2.0, 0.0, 40.0), 0.0)
    return pl.DataFrame(cols, schema_overrides={"lap": pl.Int32})


def laps_of(tel: pl.DataFrame) -> pl.LazyFrame:
    ends = tel.group_by("lap").agg(pl.col("t_s").max() + 0.01).sort("lap")
    return laps_table([(lap, lap * 100.0, end) for lap, end in ends.iter_rows()])


def test_braking_points_use_brake_pressure_and_compare_in_metres() -> None:
    tel = pl.concat([braking_lap(1, 100.0, with_brake=True), braking_lap(2, 112.0, with_brake=True)])
    points = braking_points(lap_traces(tel.lazy(), laps_of(tel), TRACK, step_m=1.0), TRACK).collect()
    assert points["lap"].to_list() == [1, 2]  # no new onset before T2: the brake is released at T1
    assert points["corner"].to_list() == ["1", "1"]
    np.testing.assert_allclose(points["s_brake_m"].to_numpy(), [102.5, 114.5], atol=1e-9)
    assert points["speed_kph"][0] == pytest.approx(3.6 * np.sqrt(900 - 1.2 * schema.G0 * 2.5), abs=0.05)
    delta = braking_delta(points.filter(pl.col("lap") == 2).lazy(), points.filter(pl.col("lap") == 1).lazy())
    expected = pl.DataFrame(
        {"corner": ["1"], "s_brake_m": [114.5], "ref_s_brake_m": [102.5], "delta_m": [12.0]}
    )
    assert_frame_equal(delta.collect(), expected, abs_tol=1e-9)


def test_braking_points_fall_back_to_deceleration_from_speed() -> None:
    tel = braking_lap(1, 100.0, with_brake=False)
    points = braking_points(lap_traces(tel.lazy(), laps_of(tel), TRACK, step_m=1.0), TRACK).collect()
    assert points["corner"].to_list() == ["1"]
    assert points["s_brake_m"][0] == pytest.approx(100.0, abs=2.0)  # 5-point smoothing blurs ±2 m


def test_corner_windows_stop_at_the_previous_apex() -> None:
    windows = corner_table(TRACK, lookback_m=300.0).collect()
    assert windows.to_dict(as_series=False) == {
        "corner": ["1", "2"],
        "s_apex_m": [160.0, 262.0],
        "s_from_m": [0.0, 160.0],
    }
