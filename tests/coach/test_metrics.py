"""Named metrics from tiny literal frames, and the confidence of a measurement."""

from __future__ import annotations

import polars as pl
import pytest

from pitwall.coach.metrics import (
    ConfidenceLimits,
    confidence,
    corner_metrics,
    driving_metrics,
    lap_metrics,
    row_metrics,
    sampling,
)


def test_confidence_from_rate_and_satellites() -> None:
    assert confidence(25.0, 12.0) == 1.0
    assert confidence(5.0, 12.0) == 0.5  # half the full rate
    assert confidence(25.0, 4.0) == 0.4  # poor GPS
    assert confidence(25.0, 6.0) == 0.7  # halfway between poor and good
    assert confidence(25.0, None) == 0.7  # sats not logged
    assert confidence(None, None) == 0.49
    assert confidence(0.0, 12.0) == 0.0
    assert confidence(10.0, 12.0, ConfidenceLimits(full_rate_hz=20.0)) == 0.5


def _frame() -> pl.DataFrame:
    return pl.DataFrame(
        {
            "t_s": [i / 10 for i in range(10)],
            "throttle_pct": [0.0, 0.0, 0.0, 0.0, 50.0, 50.0, 50.0, 100.0, 100.0, 100.0],
            "brake_bar": [20.0, 20.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0],
            "brake_pct": [None] * 10,
            "g_lat": [0.0, 0.5, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0],
            "g_long": [-0.8, -0.6, 0.0, 0.0, 0.2, 0.2, 0.2, 0.3, 0.3, 0.3],
            "offset_m": [-3.0, -2.0, -1.0, 0.0, 1.0, 2.0, 3.0, 4.0, 5.0, 6.0],
            "sats": [9, 9, 9, 9, 9, 9, 11, 11, 11, 11],
        },
        schema_overrides={"brake_pct": pl.Float64, "sats": pl.Int32},
    )


def test_driving_metrics_of_a_literal_frame() -> None:
    m = row_metrics(driving_metrics(_frame().lazy()).collect().row(0, named=True))
    # states: brake_only, trail_brake, coast, coast, then throttle: 0.1 s each of 1.0 s
    assert m["coast_pct"] == pytest.approx(20.0)
    assert m["trail_brake_pct"] == pytest.approx(10.0)
    assert m["max_brake_bar"] == 20.0
    assert m["avg_throttle_pct"] == pytest.approx(45.0)
    assert m["throttle_rate_p95_pct_s"] == pytest.approx(500.0)  # two steps of 50 % in 0.1 s
    assert m["max_combo_g"] == pytest.approx(0.8)
    assert m["track_use_m"] == pytest.approx(9.0)  # 95th − 5th percentile of the offset
    rate = sampling(_frame().lazy()).collect().row(0, named=True)
    assert rate["sample_hz"] == pytest.approx(10.0) and rate["median_sats"] == 9.0


def test_driving_metrics_without_brake_pressure_is_null_not_zero() -> None:
    frame = _frame().with_columns(pl.lit(None, dtype=pl.Float64).alias("brake_bar"))
    m = row_metrics(driving_metrics(frame.lazy()).collect().row(0, named=True))
    assert m["max_brake_bar"] is None


def test_corner_metrics_wrap_at_the_line_and_need_two_passes() -> None:
    passes = pl.LazyFrame(
        {
            "lap": [2, 3, 2],
            "corner": ["1", "1", "2"],
            "entry_speed_kph": [150.0, 140.0, 100.0],
            "exit_speed_kph": [120.0, 130.0, 110.0],
            "min_speed_s_m": [3990.0, 10.0, 500.0],
            "brake_point_s_m": [3900.0, 3920.0, 450.0],
            "throttle_pickup_s_m": [20.0, 30.0, 490.0],
        }
    )
    summary = pl.LazyFrame(
        {
            "corner": ["1", "2"],
            "corner_idx": [0, 1],
            "ref_min_speed_kph": [100.0, 80.0],
            "mean_min_speed_kph": [95.0, 82.0],
        }
    )
    out = corner_metrics(passes, summary, length_m=4000.0).collect()
    one, two = out.row(0, named=True), out.row(1, named=True)
    assert one["corner"] == "1" and one["exit_minus_entry_kph"] == pytest.approx(-20.0)
    assert one["pickup_after_apex_m"] == pytest.approx(25.0)  # 30 m and 20 m past the apex, across the line
    assert one["brake_point_spread_m"] == pytest.approx(pl.Series([3900.0, 3920.0]).std())
    assert one["min_speed_deficit_kph"] == pytest.approx(5.0)
    assert two["pickup_after_apex_m"] == pytest.approx(-10.0)  # throttle before the minimum-speed point
    assert two["apex_spread_m"] is None and two["min_speed_deficit_kph"] == pytest.approx(-2.0)


def test_lap_metrics_use_complete_valid_laps_only() -> None:
    laps = pl.LazyFrame(
        {
            "lap": [1, 2, 3, 4],
            "kind": ["out", "flying", "flying", "flying"],
            "valid": [False, True, True, False],
            "duration_s": [130.0, 100.0, 102.0, 90.0],
        }
    )
    row = lap_metrics(laps).collect().row(0, named=True)
    assert row["n_laps"] == 2 and row["best_lap_s"] == 100.0 and row["mean_lap_s"] == 101.0
    assert row["lap_time_cv_pct"] == pytest.approx(100 * pl.Series([100.0, 102.0]).std() / 101.0)
    one = lap_metrics(laps.filter(pl.col("lap") <= 2)).collect().row(0, named=True)
    assert one["lap_time_cv_pct"] is None
