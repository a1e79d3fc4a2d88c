from __future__ import annotations

import numpy as np
import polars as pl
import pytest
from polars.testing import assert_frame_equal

from pitwall.analysis.optimal import (
    SeamTolerance,
    mini_sector_times,
    optimal_pieces,
    optimal_summary,
    optimal_trace,
)

S = np.arange(0.0, 1001.0, 10.0)


def trace(lap: int, speed_mps: np.ndarray, *, offset_m: float = 0.0) -> pl.DataFrame:
    """A lap trace on a 10 m grid from a speed profile (m/s at each grid point)."""
    mean_v = (speed_mps[1:] + speed_mps[:-1]) / 2
    t = np.concatenate([[0.0], np.cumsum(np.diff(S) / mean_v)])
    return pl.DataFrame(
        {
            "lap": lap,
            "i": np.arange(S.size),
            "s_m": S,
            "t_s": t,
            "speed_kph": speed_mps * 3.6,
            "offset_m": offset_m,
            "heading_deg": 90.0,
        },
        schema_overrides={"lap": pl.Int32, "i": pl.Int32},
    )


def profile(first: float, middle: float, last: float) -> np.ndarray:
    """``first`` m/s below 400 m, ``middle`` from 400 to 600 m, ``last`` beyond."""
    return np.where(S < 400, first, np.where(S <= 600, middle, last))


def test_mini_sectors_time_each_segment() -> None:
    mini = mini_sector_times(trace(1, np.full(S.size, 20.0)).lazy(), segment_m=250.0).collect()
    expected = pl.DataFrame(
        {
            "lap": [1, 1, 1, 1],
            "seg": [1, 2, 3, 4],
            "s_start_m": [0.0, 250.0, 500.0, 750.0],
            "s_end_m": [250.0, 500.0, 750.0, 1000.0],
            "time_s": [12.5, 12.5, 12.5, 12.5],
            "offset_m": 0.0,
            "speed_kph": 72.0,
            "heading_deg": 90.0,
        },
        schema_overrides={"lap": pl.Int32, "seg": pl.Int32},
    )
    assert_frame_equal(mini, expected, abs_tol=1e-9)
    with pytest.raises(ValueError, match="segment_m"):
        mini_sector_times(trace(1, np.full(S.size, 20.0)).lazy(), segment_m=0)


def test_laps_that_agree_at_a_seam_are_joined_there() -> None:
    traces = pl.concat([trace(1, profile(40, 35, 30)), trace(2, profile(30, 35, 41))]).lazy()
    pieces = optimal_pieces(mini_sector_times(traces)).collect()
    assert pieces["lap"].to_list() == [1, 1, 1, 1, 1, 2, 2, 2, 2, 2]  # switch at 500 m where both do 35 m/s
    summary = optimal_summary(pieces.lazy()).collect().row(0, named=True)
    assert summary["optimal_lap_s"] == pytest.approx(summary["sum_best_mini_sectors_s"])
    assert summary["n_switches"] == 1 and summary["laps_used"] == [1, 2]
    stitched = optimal_trace(traces, pieces.lazy()).collect()
    assert stitched["t_s"][-1] == pytest.approx(summary["optimal_lap_s"])
    assert stitched.filter(pl.col("s_m") == 500.0)["lap"].to_list() == [2]


def test_laps_that_disagree_at_every_seam_are_not_stitched() -> None:
    traces = pl.concat([trace(1, profile(40, 40, 30)), trace(2, profile(30, 30, 41))]).lazy()
    pieces = optimal_pieces(mini_sector_times(traces)).collect()
    summary = optimal_summary(pieces.lazy()).collect().row(0, named=True)
    lap_times = traces.group_by("lap").agg(pl.col("t_s").max()).collect()
    assert summary["optimal_lap_s"] == pytest.approx(lap_times["t_s"].min())  # the best real lap
    assert summary["sum_best_mini_sectors_s"] < summary["optimal_lap_s"] - 1.0
    assert summary["n_switches"] == 0 and summary["laps_used"] == [1]
    assert pieces["best_lap"].to_list() == [1] * 6 + [2] * 4
    loose = optimal_pieces(mini_sector_times(traces), tolerance=SeamTolerance(speed_frac=0.5)).collect()
    assert loose["time_s"].sum() == pytest.approx(summary["sum_best_mini_sectors_s"])


def test_a_different_line_at_the_seam_forbids_the_switch() -> None:
    traces = pl.concat([trace(1, profile(40, 35, 30)), trace(2, profile(30, 35, 41), offset_m=2.0)]).lazy()
    pieces = optimal_pieces(mini_sector_times(traces)).collect()
    assert pieces["lap"].unique().to_list() in ([1], [2])
    wide = optimal_pieces(mini_sector_times(traces), tolerance=SeamTolerance(offset_m=2.5)).collect()
    assert wide["lap"].n_unique() == 2


def test_missing_channels_are_not_checked_and_null_times_are_skipped() -> None:
    lap2 = trace(2, profile(30, 35, 41)).with_columns(
        pl.when(pl.col("s_m") == 100.0).then(None).otherwise(pl.col("t_s")).alias("t_s")
    )
    traces = pl.concat([trace(1, profile(40, 40, 30)), lap2]).drop("offset_m", "heading_deg").lazy()
    mini = mini_sector_times(traces)
    assert mini.collect_schema().names() == ["lap", "seg", "s_start_m", "s_end_m", "time_s", "speed_kph"]
    pieces = optimal_pieces(mini).collect()
    assert pieces["time_s"].null_count() == 0
    assert pieces["best_lap"][0] == 1 and pieces["best_lap"][1] == 1  # lap 2 has no time there
