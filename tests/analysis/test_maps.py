from __future__ import annotations

import numpy as np
import polars as pl
import pytest

from pitwall.analysis.maps import elevation_profile, lap_polylines, reference_polyline
from pitwall.track import Gate, ReferenceLine, Track


def line_track() -> Track:
    s = np.arange(0.0, 101.0, 1.0)
    alt = np.where(s <= 50, s * 0.1, 5.0 - (s - 50) * 0.02)  # climbs 10 %, then descends 2 %
    return Track(
        id="line",
        name="Line",
        length_m=100.0,
        start_finish=Gate("S/F", "start_finish", 0.0, 0.0, 0.0, 0.001),
        reference_line=ReferenceLine(s * 1e-5, s * 2e-5, alt, s),
    )


def test_reference_polyline_is_thinned_and_keeps_the_last_point() -> None:
    out = reference_polyline(line_track(), max_points=30).collect()
    assert out["s_m"].to_list() == [
        float(x) for x in range(0, 101, 4)
    ]  # step ceil(101/30) = 4, 100 is a multiple
    assert out["lat_deg"][-1] == pytest.approx(100e-5)


def test_lap_polylines_thin_each_lap() -> None:
    n = 25
    lf = pl.LazyFrame(
        {
            "lap": [1] * n + [2] * n + [None] * 3,
            "t_s": np.arange(2 * n + 3, dtype=float),
            "s_m": np.zeros(2 * n + 3),
            "lat_deg": np.ones(2 * n + 3),
            "lon_deg": np.ones(2 * n + 3),
            "speed_kph": np.ones(2 * n + 3),
        },
        schema_overrides={"lap": pl.Int32},
    )
    out = lap_polylines(lf, max_points_per_lap=10).collect()
    assert out["lap"].to_list() == [1] * 9 + [2] * 9  # every 3rd of 25 samples; the last (24) is one of them
    assert out.filter(pl.col("lap") == 1)["t_s"].to_list() == [float(x) for x in range(0, 25, 3)]
    coarse = lap_polylines(lf, max_points_per_lap=6).collect().filter(pl.col("lap") == 2)["t_s"].to_list()
    assert coarse == [25.0, 30.0, 35.0, 40.0, 45.0, 49.0]  # every 5th, plus the lap's last point


def test_elevation_profile_interpolates_and_grades() -> None:
    out = elevation_profile(line_track(), step_m=25.0).collect()
    assert out["s_m"].to_list() == [0.0, 25.0, 50.0, 75.0, 100.0]
    assert out["alt_m"].to_list() == pytest.approx([0.0, 2.5, 5.0, 4.5, 4.0])
    assert out["grade_pct"].to_list()[:4] == pytest.approx([10.0, 10.0, -2.0, -2.0])
    assert out["grade_pct"][-1] is None
