from __future__ import annotations

import polars as pl
from polars.testing import assert_frame_equal

from pitwall.analysis.hustle import hustle_map


def test_full_throttle_time_fraction_per_segment() -> None:
    lf = pl.LazyFrame(
        {
            "t_s": [0.0, 0.2, 0.4, 0.6, 0.8, 1.0, 1.1, 1.2],
            "s_m": [10.0, 30.0, 60.0, 80.0, 120.0, None, 20.0, 40.0],
            "lap": [1, 1, 1, 1, 1, 1, 2, 2],
            "throttle_pct": [100.0, 97.0, 98.0, 100.0, 50.0, 100.0, 99.0, 0.0],
        },
        schema_overrides={"lap": pl.Int32},
    )
    out = hustle_map(lf, length_m=130.0, bin_m=50.0, full_th=98.0).collect()
    # dt: 0.2 × 5, then 0.1 × 3 (the row without s_m counts nowhere)
    expected = pl.DataFrame(
        {
            "segment": [0, 1, 2],
            "s_from_m": [0.0, 50.0, 100.0],
            "s_to_m": [50.0, 100.0, 130.0],
            "time_s": [0.6, 0.4, 0.2],
            "full_throttle_s": [0.3, 0.4, 0.0],
            "full_throttle_frac": [0.5, 1.0, 0.0],
            "n_laps": [2, 1, 1],
        },
        schema_overrides={"segment": pl.Int32, "n_laps": pl.Int32},
    )
    assert_frame_equal(out, expected, abs_tol=1e-12)
