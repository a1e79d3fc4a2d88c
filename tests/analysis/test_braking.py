from __future__ import annotations

import polars as pl
import pytest
from polars.testing import assert_frame_equal

from pitwall.analysis.braking import brake_accel_summary, eob_summary
from pitwall.track import Corner
from tests.analysis import circle_track

TRACK = circle_track(
    corners=(Corner("1", "left", 300.0, 350.0, 400.0), Corner("2", "right", 920.0, 5.0, 40.0))
)
L = TRACK.length_m


def passes() -> pl.LazyFrame:
    return pl.LazyFrame(
        {
            "lap": [1, 1, 2, 2, 3, 3],
            "corner": ["1", "2", "1", "2", "1", "2"],
            "corner_idx": [0, 1, 0, 1, 0, 1],
            # corner 2's apex is 5 m past the line: releases at L-5 (10 m before) and 2 m (3 m before)
            "brake_release_s_m": [330.0, L - 5.0, 340.0, 2.0, None, None],
            "max_decel_g": [1.1, 0.6, 1.3, 0.7, 0.9, None],
            "exit_accel_g": [0.30, 0.40, 0.35, 0.20, 0.25, 0.10],
        },
        schema_overrides={"lap": pl.Int32, "corner_idx": pl.Int32},
    )


def test_eob_spread_is_wrap_safe() -> None:
    out = eob_summary(passes(), TRACK).collect()
    expected = pl.DataFrame(
        {
            "corner": ["1", "2"],
            "corner_idx": [0, 1],
            "n_passes": [2, 2],
            "mean_eob_s_m": [335.0, L - 1.5],
            "min_eob_s_m": [330.0, L - 5.0],
            "max_eob_s_m": [340.0, 2.0],
            "spread_m": [10.0, 7.0],
            "std_m": [50.0**0.5, 24.5**0.5],
            "eob_to_apex_m": [-15.0, -6.5],
        },
        schema_overrides={"corner_idx": pl.Int32, "n_passes": pl.Int32},
    )
    assert_frame_equal(out, expected, abs_tol=1e-9)


def test_peak_decel_and_exit_accel_per_corner() -> None:
    out = brake_accel_summary(passes()).collect()
    assert out["corner"].to_list() == ["1", "2"]
    assert out["peak_decel_g"].to_list() == [1.3, 0.7]
    assert out["peak_decel_lap"].to_list() == [2, 2]
    assert out["mean_peak_decel_g"].to_list() == pytest.approx([1.1, 0.65])
    assert out["mean_exit_accel_g"].to_list() == pytest.approx([0.3, 0.7 / 3])
    assert out["best_exit_accel_g"].to_list() == [0.35, 0.40]
    assert out["best_exit_accel_lap"].to_list() == [2, 1]
