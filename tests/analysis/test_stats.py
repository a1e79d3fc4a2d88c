from __future__ import annotations

import polars as pl
import pytest

from pitwall import schema
from pitwall.analysis.stats import session_stats


def laps() -> pl.LazyFrame:
    return pl.LazyFrame(
        {
            "session_id": ["s"] * 4,
            "lap": [1, 2, 3, 4],
            "t_start_s": [0.0, 0.4, 0.8, 1.1],
            "t_end_s": [0.4, 0.8, 1.1, 1.3],
            "duration_s": [0.4, 0.4, 0.3, 0.2],
            "distance_m": [10.0, 10.0, 10.0, 5.0],
            "method": ["gps"] * 4,
            "kind": ["out", "flying", "flying", "in"],
            "valid": [False, True, False, False],
            "reason": ["out-lap", None, "short", "in-lap"],
            "clock_repairs": [0] * 4,
        },
        schema=schema.LAPS,
    )


def telemetry() -> pl.LazyFrame:
    return pl.LazyFrame(
        {
            "t_s": [0.0, 0.2, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0, 1.1, 1.2],
            "lap": [1, 1, 2, 2, 2, 2, 3, 3, 3, 4, 4],
            "distance_m": [100.0, 104.0, 108.0, 110.0, 112.0, 114.0, 116.0, 118.0, 120.0, 122.0, 130.0],
            "speed_kph": [5.0, 50.0, 100.0, 200.0, 150.0, 100.0, 80.0, 60.0, 90.0, 250.0, 0.0],
            "throttle_pct": [0.0, 0.0, 100.0, 99.0, 50.0, 0.0, 0.0, 3.0, 100.0, 100.0, 0.0],
            "brake_bar": [0.0, 0.0, 0.0, 0.0, 0.0, 30.0, 10.0, 0.0, 0.0, 0.0, 0.0],
            "brake_pct": [None] * 11,
            "g_lat": [0.0, 0.0, 0.1, 0.2, -1.4, 0.3, 0.9, 0.0, 0.0, 2.0, 0.0],
            "g_long": [0.0, 0.0, 0.5, 0.3, 0.0, -1.2, -0.6, 0.0, 0.4, -3.0, 0.0],
            "g_derived": [True] * 11,
        },
        schema_overrides={"lap": pl.Int32, "brake_pct": pl.Float64},
    )


def test_session_aggregates() -> None:
    row = session_stats(telemetry(), laps()).collect().row(0, named=True)
    assert (row["n_laps"], row["n_complete_laps"], row["n_valid_laps"]) == (4, 2, 1)
    assert (row["best_lap"], row["best_lap_s"], row["mean_lap_s"]) == (2, 0.4, 0.4)
    assert row["std_lap_s"] is None  # one valid lap
    assert row["duration_s"] == pytest.approx(1.2) and row["distance_m"] == pytest.approx(30.0)
    assert row["max_speed_kph"] == 250.0
    assert row["mean_moving_speed_kph"] == pytest.approx(sum([50, 100, 200, 150, 100, 80, 60, 90, 250]) / 9)
    # complete laps 2 and 3: samples 0.4..1.0, each 0.1 s (0.4→0.5 … 1.0→1.1)
    assert row["on_throttle_frac"] == pytest.approx(4 / 7)  # 100, 99, 50, 100 (3 % is off)
    assert row["full_throttle_frac"] == pytest.approx(3 / 7)
    assert row["braking_frac"] == pytest.approx(2 / 7)
    assert row["max_lateral_g"] == pytest.approx(1.4)  # lap 4's 2.0 g is not in a complete lap
    assert row["max_braking_g"] == pytest.approx(1.2)
    assert row["max_combined_g"] == pytest.approx(1.4)
    assert row["g_derived"] is True
