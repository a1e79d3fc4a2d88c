from __future__ import annotations

from dataclasses import replace

import polars as pl
import pytest
from polars.testing import assert_frame_equal

from pitwall.analysis.speed import STRAIGHT_PASS_COLUMNS, straight_speeds, straight_summary, straight_windows
from pitwall.track import Straight
from tests.analysis import circle_track

TRACK = replace(circle_track(), straights=(Straight("Back", 400.0, 600.0), Straight("Main", 850.0, 100.0)))
L = TRACK.length_m


def samples() -> pl.LazyFrame:
    rows = []
    t = 0.0
    for lap in (1, 2, 3):
        for s in range(0, 941, 20):
            speed = 100.0 + s / 10.0 + lap  # rises along the lap: top at the end of each straight
            rows.append((t, float(s), lap, speed))
            t += 1.0
    return pl.LazyFrame(
        rows,
        schema={"t_s": pl.Float64, "s_m": pl.Float64, "lap": pl.Int32, "speed_kph": pl.Float64},
        orient="row",
    )


def test_straight_windows_continue_past_the_line() -> None:
    w = straight_windows(TRACK)
    assert w["straight"].to_list() == ["Back", "Main"]
    assert w["win_end_m"].to_list() == pytest.approx([600.0, 100.0 + L])


def test_top_speed_per_straight_and_lap() -> None:
    out = straight_speeds(samples(), TRACK).collect()
    assert out.schema == pl.Schema(STRAIGHT_PASS_COLUMNS)
    # "Main" crosses the line: counted in the lap it starts (its top speed is at 940 m, before the line)
    expected = pl.DataFrame(
        {
            "lap": [1, 1, 2, 2, 3],
            "straight": ["Back", "Main", "Back", "Main", "Back"],
            "straight_idx": [0, 1, 0, 1, 0],
            "top_speed_kph": [161.0, 195.0, 162.0, 196.0, 163.0],
            "top_speed_s_m": [600.0, 940.0, 600.0, 940.0, 600.0],
            "top_speed_t_s": [30.0, 47.0, 78.0, 95.0, 126.0],
            "entry_speed_kph": [141.0, 187.0, 142.0, 188.0, 143.0],
        },
        schema=STRAIGHT_PASS_COLUMNS,
    )
    assert_frame_equal(out, expected)
    summary = straight_summary(out.lazy()).collect()
    assert summary["best_top_speed_kph"].to_list() == [163.0, 196.0]
    assert summary["best_lap"].to_list() == [3, 2]
    assert summary["n_laps"].to_list() == [3, 2]
    assert summary["mean_top_speed_kph"].to_list() == pytest.approx([162.0, 195.5])
