from __future__ import annotations

import numpy as np
import polars as pl
from polars.testing import assert_frame_equal

from pitwall import schema
from pitwall.analysis.boxstats import tukey_box
from pitwall.analysis.laps import add_lap_column, slice_laps
from pitwall.analysis.sectors import (
    compare_sectors,
    ideal_lap,
    lap_time_distribution,
    lap_time_table,
    sector_splits,
    sector_times,
)
from tests.analysis import circle_drive, circle_track

TRACK = circle_track(300.0 / (2 * np.pi), sector_ends_m=(100.0, 200.0, 300.0))

LAPS = pl.LazyFrame(
    {
        "session_id": ["s"] * 5,
        "lap": [1, 2, 3, 4, 5],
        "t_start_s": [0.0, 10.0, 40.0, 69.5, 94.5],
        "t_end_s": [10.0, 40.0, 69.5, 94.5, 99.0],
        "duration_s": [10.0, 30.0, 29.5, 25.0, 4.5],
        "distance_m": [290.0, 300.0, 300.0, 380.0, 50.0],
        "method": ["gps"] * 5,
        "kind": ["out", "flying", "flying", "flying", "in"],
        "valid": [False, True, True, False, False],
        "reason": ["out-lap", None, None, "distance 380 m is 27% off the track length 300 m", "in-lap"],
        "clock_repairs": [0] * 5,
    },
    schema=schema.LAPS,
)

# (lap, t_s, s_m): linear between fixes, so every boundary crossing time is known exactly.
TELEMETRY = pl.LazyFrame(
    [
        (1, 1.0, 150.0), (1, 9.0, 290.0),
        (2, 10.5, 5.0), (2, 19.5, 95.0), (2, 20.5, 105.0), (2, 29.5, 195.0), (2, 30.5, 205.0), (2, 39.5, 295.0),
        (3, 40.2, 299.0), (3, 40.6, 3.0), (3, 47.0, 95.0), (3, 49.0, 105.0), (3, 55.0, 195.0), (3, 56.0, 200.0),
        (3, 69.0, 290.0),
        (4, 71.0, 10.0), (4, 75.0, 95.0), (4, 76.0, 105.0), (4, 80.0, 190.0), (4, 81.0, 210.0), (4, 94.0, 290.0),
        (5, 96.0, 50.0),
    ],
    schema={"lap": pl.Int32, "t_s": pl.Float64, "s_m": pl.Float64},
    orient="row",
)  # fmt: skip


def test_sector_times_interpolate_the_boundary_crossings() -> None:
    expected = pl.DataFrame(
        {"lap": [2, 3, 4], "s1_s": [10.0, 8.0, 6.0], "s2_s": [10.0, 8.0, 5.0], "s3_s": [10.0, 13.5, 14.0]},
        schema={"lap": pl.Int32, "s1_s": pl.Float64, "s2_s": pl.Float64, "s3_s": pl.Float64},
    )
    assert_frame_equal(sector_times(TELEMETRY, LAPS, TRACK).collect(), expected, abs_tol=1e-9)


def test_sector_splits_long_form_and_missing_position() -> None:
    without_s = TELEMETRY.with_columns(
        pl.when((pl.col("lap") == 2) & (pl.col("t_s") > 25)).then(None).otherwise(pl.col("s_m")).alias("s_m")
    )
    splits = sector_splits(without_s, LAPS, TRACK).collect().filter(pl.col("lap") == 2)
    assert splits["sector"].to_list() == [1, 2, 3]
    assert splits["s_start_m"].to_list() == [0.0, 100.0, 200.0]
    assert splits["t_start_s"].to_list() == [10.0, 20.0, None]
    assert splits["time_s"].to_list() == [10.0, None, None]


def test_compare_sectors_gains_are_b_minus_a_per_sector() -> None:
    splits = sector_splits(TELEMETRY, LAPS, TRACK)
    gains = compare_sectors(splits.filter(pl.col("lap") == 2), splits.filter(pl.col("lap") == 4)).collect()
    expected = pl.DataFrame(
        {
            "sector": [1, 2, 3],
            "s_start_m": [0.0, 100.0, 200.0],
            "s_end_m": [100.0, 200.0, 300.0],
            "a_s": [10.0, 10.0, 10.0],
            "b_s": [6.0, 5.0, 14.0],
            "gain_s": [-4.0, -5.0, 4.0],  # negative = lap B faster
        },
        schema_overrides={"sector": pl.Int32},
    )
    assert_frame_equal(gains, expected, abs_tol=1e-9)


def test_compare_sectors_leaves_out_a_sector_missing_from_either_lap() -> None:
    a = pl.LazyFrame(
        {"sector": [2, 1], "s_start_m": [100.0, 0.0], "s_end_m": [200.0, 100.0], "time_s": [11.0, 9.0]},
        schema_overrides={"sector": pl.Int32},
    )
    b = pl.LazyFrame(
        {"sector": [1, 3], "s_start_m": [0.0, 200.0], "s_end_m": [100.0, 300.0], "time_s": [9.5, 8.0]},
        schema_overrides={"sector": pl.Int32},
    )
    assert compare_sectors(a, b).collect().rows() == [(1, 0.0, 100.0, 9.0, 9.5, 0.5)]


def test_lap_time_table_flags_the_best_valid_laps_and_sectors() -> None:
    table = lap_time_table(TELEMETRY, LAPS, TRACK).collect()
    assert table.columns == [
        "lap", "kind", "method", "valid", "reason", "t_start_s", "t_end_s", "duration_s", "distance_m",
        "s1_s", "s2_s", "s3_s", "delta_to_best_s", "is_best_lap", "is_best_s1", "is_best_s2", "is_best_s3",
    ]  # fmt: skip
    picked = table.select("lap", "delta_to_best_s", "is_best_lap", "is_best_s1", "is_best_s2", "is_best_s3")
    expected = pl.DataFrame(
        {
            "lap": [1, 2, 3, 4, 5],
            "delta_to_best_s": [None, 0.5, 0.0, -4.5, None],
            "is_best_lap": [False, False, True, False, False],  # lap 4 is faster but invalid
            "is_best_s1": [False, False, True, False, False],
            "is_best_s2": [False, False, True, False, False],
            "is_best_s3": [False, True, False, False, False],
        },
        schema_overrides={"lap": pl.Int32},
    )
    assert_frame_equal(picked, expected, abs_tol=1e-9)


def test_ideal_lap_sums_the_best_valid_sectors() -> None:
    expected = pl.DataFrame(
        {
            "sector": [1, 2, 3],
            "s_start_m": [0.0, 100.0, 200.0],
            "s_end_m": [100.0, 200.0, 300.0],
            "best_s": [8.0, 8.0, 10.0],
            "lap": [3, 3, 2],
            "ideal_lap_s": [26.0, 26.0, 26.0],
        },
        schema_overrides={"sector": pl.Int32, "lap": pl.Int32},
    )
    assert_frame_equal(ideal_lap(TELEMETRY, LAPS, TRACK).collect(), expected, abs_tol=1e-9)


def test_ideal_lap_without_valid_laps_is_null_not_zero() -> None:
    only_invalid = LAPS.with_columns(pl.lit(False).alias("valid"))
    ideal = ideal_lap(TELEMETRY, only_invalid, TRACK).collect()
    assert ideal["best_s"].to_list() == [None, None, None]
    assert ideal["ideal_lap_s"].to_list() == [None, None, None]


def test_lap_time_distribution_is_the_tukey_box_of_valid_flying_laps() -> None:
    durations = [100.0, 101.0, 102.0, 103.0, 130.0]
    laps = pl.LazyFrame(
        {
            "lap": [1, 2, 3, 4, 5, 6, 7],
            "duration_s": [150.0, *durations, 90.0],
            "kind": ["out", "flying", "flying", "flying", "flying", "flying", "flying"],
            "valid": [False, True, True, True, True, True, False],
        },
        schema_overrides={"lap": pl.Int32},
    )
    row = lap_time_distribution(laps).collect().row(0, named=True)
    q1, median, q3 = np.percentile(durations, [25, 50, 75])
    iqr = q3 - q1
    assert row == {
        "n": 5,
        "min": 100.0,
        "q1": q1,
        "median": median,
        "q3": q3,
        "max": 130.0,
        "iqr": iqr,
        "lower_fence": q1 - 1.5 * iqr,
        "upper_fence": q3 + 1.5 * iqr,
        "whisker_low": 100.0,
        "whisker_high": 103.0,
        "n_outliers": 1,
        "outliers": [130.0],
        "outlier_laps": [6],
    }


def test_tukey_box_by_group_matches_numpy() -> None:
    rng = np.random.default_rng(3)
    values = rng.normal(50, 5, 40)
    lf = pl.LazyFrame({"g": ["a"] * 20 + ["b"] * 20, "v": values})
    box = tukey_box(lf, "v", by=["g"]).collect()
    for g, chunk in (("a", values[:20]), ("b", values[20:])):
        row = box.filter(pl.col("g") == g).row(0, named=True)
        assert [row["q1"], row["median"], row["q3"]] == list(np.percentile(chunk, [25, 50, 75]))
        assert row["n"] == 20


def test_sectors_from_sliced_laps_on_a_driven_circle() -> None:
    """End to end on exact geometry: sector times equal sector length / speed."""
    v = 20.0
    t = np.arange(0.0, 50.0, 0.1)
    tel = circle_drive(t, 7.0 + v * t, radius_m=300.0 / (2 * np.pi)).lazy()
    laps = slice_laps(tel, TRACK)
    times = sector_times(add_lap_column(tel, laps), laps, TRACK).collect()
    assert times.height == 2
    np.testing.assert_allclose(times.drop("lap").to_numpy(), 100.0 / v, atol=1e-3)
