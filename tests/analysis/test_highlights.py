from __future__ import annotations

from typing import TypedDict

import polars as pl
import pytest

from pitwall import schema
from pitwall.analysis.highlights import HIGHLIGHT_COLUMNS, pick_highlights

L = 1000.0


class Inputs(TypedDict):
    laps: pl.LazyFrame
    passes: pl.LazyFrame
    telemetry: pl.LazyFrame
    sectors: pl.LazyFrame


def inputs() -> Inputs:
    laps = pl.LazyFrame(
        {
            "lap": [1, 2, 3, 4],
            "t_start_s": [0.0, 60.0, 118.0, 177.0],
            "t_end_s": [60.0, 118.0, 177.0, 240.0],
            "duration_s": [60.0, 58.0, 59.0, 63.0],
            "kind": ["out", "flying", "flying", "flying"],
            "valid": [False, True, True, True],
        },
        schema_overrides={"lap": pl.Int32},
    ).with_columns(
        pl.lit(None, dtype=dtype).alias(name)
        for name, dtype in schema.LAPS.items()
        if name not in ("lap", "t_start_s", "t_end_s", "duration_s", "kind", "valid")
    )
    passes = pl.LazyFrame(
        {
            "lap": [2, 3, 4, 2, 3, 4],
            "corner": ["1", "1", "1", "2", "2", "2"],
            "t_entry_s": [70.0, 128.0, 187.0, 100.0, 158.0, 217.0],
            "t_exit_s": [74.0, 132.0, 191.0, 104.0, 162.0, 221.0],
            "corner_time_s": [4.0, 3.5, 4.1, 5.0, 5.0, 5.2],
            "min_speed_kph": [80.0, 84.0, 79.0, 60.0, 61.0, 60.0],
            "min_speed_s_m": [300.0, 301.0, 299.0, 700.0, 701.0, 702.0],
            "min_speed_t_s": [72.0, 130.0, 189.0, 102.0, 160.0, 219.0],
            "exit_speed_kph": [120.0, 121.0, 119.0, 100.0, 104.0, 100.0],
            # corner 2: lap 4 brakes 15 m later than the median; corner 1 brakes 5 m later on lap 2 (wraps at L)
            "brake_point_s_m": [995.0, 990.0, 990.0, 600.0, 600.0, 615.0],
        },
        schema_overrides={"lap": pl.Int32},
    )
    telemetry = pl.LazyFrame(
        {
            "t_s": [65.0, 66.0, 130.0, 200.0],
            "s_m": [100.0, 150.0, 310.0, 500.0],
            "lap": [2, 2, 3, 4],
            "speed_kph": [250.0, 251.5, 90.0, 200.0],
            "g_lat": [0.1, 0.0, -1.3, 0.2],
            "g_long": [0.2, 0.0, -0.1, -1.1],
            "g_derived": [True, True, True, True],
        },
        schema_overrides={"lap": pl.Int32},
    )
    sectors = pl.LazyFrame(
        {
            "lap": [2, 2, 3, 3, 4, 4],
            "sector": [1, 2, 1, 2, 1, 2],
            "s_end_m": [500.0, L, 500.0, L, 500.0, L],
            "t_end_s": [90.0, 118.0, 147.0, 177.0, 208.0, 240.0],
            "time_s": [30.0, 28.0, 29.0, 30.0, 31.0, 32.0],
        },
        schema_overrides={"lap": pl.Int32, "sector": pl.Int32},
    )
    return Inputs(laps=laps, passes=passes, telemetry=telemetry, sectors=sectors)


def test_top_moments_in_priority_order_with_numbers() -> None:
    out = pick_highlights(**inputs(), length_m=L).collect()
    assert out.schema == pl.Schema(HIGHLIGHT_COLUMNS)
    assert out["rank"].to_list() == list(range(1, 9))
    assert out["kind"].to_list() == [
        "best_lap",
        "best_sector",
        "max_speed",
        "biggest_gain",
        "latest_braking",
        "best_min_speed",
        "best_exit_speed",
        "max_lateral_g",
    ]
    rows = {r["kind"]: r for r in out.iter_rows(named=True)}
    assert (rows["best_lap"]["lap"], rows["best_lap"]["value"], rows["best_lap"]["margin"]) == (2, 58.0, 1.0)
    # sector 2: median 30, lap 2 did 28 → 2 s under; sector 1's best is only 1 s under its median
    assert (rows["best_sector"]["lap"], rows["best_sector"]["value"], rows["best_sector"]["margin"]) == (
        2,
        28.0,
        2.0,
    )
    assert rows["best_sector"]["s_m"] == L and rows["best_sector"]["t_s"] == 118.0
    assert (rows["max_speed"]["value"], rows["max_speed"]["t_s"], rows["max_speed"]["s_m"]) == (
        251.5,
        66.0,
        150.0,
    )
    assert rows["biggest_gain"]["lap"] == 3 and rows["biggest_gain"]["margin"] == pytest.approx(0.5)
    assert rows["latest_braking"]["lap"] == 4 and rows["latest_braking"]["margin"] == pytest.approx(15.0)
    assert rows["best_min_speed"]["margin"] == pytest.approx(4.0) and rows["best_min_speed"]["t_s"] == 130.0
    assert rows["best_exit_speed"]["lap"] == 3 and rows["best_exit_speed"]["margin"] == pytest.approx(4.0)
    assert rows["max_lateral_g"]["value"] == pytest.approx(1.3)
    assert rows["max_lateral_g"]["detail"] == "1.3 g on lap 3 (derived from GPS)"


def test_missing_candidates_are_skipped() -> None:
    data = inputs()
    data["passes"] = data["passes"].filter(pl.col("lap") == 2)  # one pass per corner: no gains vs the median
    out = pick_highlights(**data, length_m=L, limit=10).collect()
    assert out["kind"].to_list() == ["best_lap", "best_sector", "max_speed", "max_lateral_g", "max_braking_g"]
    assert out["rank"].to_list() == [1, 2, 3, 4, 5]
