from __future__ import annotations

import numpy as np
import polars as pl
import pytest
from polars.testing import assert_frame_equal

from pitwall.analysis.friction import (
    add_combined_g,
    add_derived_g,
    friction_envelope,
    max_combined_g_expr,
    pick_friction_points,
)
from pitwall.schema import G0
from tests.analysis import RADIUS_M, circle_drive

G_COLUMNS = {"g_lat": pl.Float64, "g_long": pl.Float64, "yaw_rate_dps": pl.Float64}


def with_null_g(df: pl.DataFrame) -> pl.LazyFrame:
    return df.lazy().with_columns(pl.lit(None, dtype=dtype).alias(name) for name, dtype in G_COLUMNS.items())


def test_derived_g_on_a_circle_matches_v2_over_r() -> None:
    v = 30.0
    t = np.arange(0.0, 30.0, 0.04)
    out = add_derived_g(with_null_g(circle_drive(t, v * t))).collect()
    middle = out.filter((pl.col("t_s") > 2) & (pl.col("t_s") < 28))  # away from the smoothing edges
    # counter-clockwise = turning left: positive g_lat, positive (counter-clockwise) yaw rate
    assert middle["g_lat"].mean() == pytest.approx(v**2 / RADIUS_M / G0, rel=1e-3)
    assert middle["g_long"].abs().max() == pytest.approx(0.0, abs=1e-3)
    assert middle["yaw_rate_dps"].mean() == pytest.approx(np.degrees(v / RADIUS_M), rel=1e-3)
    assert out["g_derived"].all()


def test_derived_g_long_is_dv_dt_and_measured_values_are_kept() -> None:
    t = np.arange(0.0, 10.0, 0.05)
    a = 3.0  # m/s²
    df = circle_drive(t, 10.0 * t + 0.5 * a * t**2)
    measured = df.lazy().with_columns(
        pl.when(pl.col("t_s") < 5).then(pl.lit(0.123)).otherwise(None).alias("g_lat"),
        pl.when(pl.col("t_s") < 5).then(pl.lit(-0.456)).otherwise(None).alias("g_long"),
        pl.lit(None, dtype=pl.Float64).alias("yaw_rate_dps"),
    )
    out = add_derived_g(measured).collect()
    early, late = out.filter(pl.col("t_s") < 5), out.filter((pl.col("t_s") > 6) & (pl.col("t_s") < 9))
    assert early["g_lat"].unique().to_list() == [0.123] and early["g_long"].unique().to_list() == [-0.456]
    assert not early["g_derived"].any() and late["g_derived"].all()
    assert late["g_long"].mean() == pytest.approx(a / G0, rel=1e-3)


def test_combined_g_and_direction_angles() -> None:
    lf = pl.LazyFrame({"g_lat": [0.0, 1.0, 0.0, -0.6], "g_long": [0.5, 0.0, -1.2, -0.8]})
    out = add_combined_g(lf).collect()
    assert out["g_combined"].to_list() == pytest.approx([0.5, 1.0, 1.2, 1.0])
    assert out["g_angle_deg"].to_list() == pytest.approx(
        [0.0, 90.0, 180.0, 180.0 + np.degrees(np.arctan2(0.6, 0.8))]
    )
    assert lf.select(max_combined_g_expr()).collect().item() == pytest.approx(1.2)


def test_thinned_points_keep_every_sector_extreme() -> None:
    rng = np.random.default_rng(7)
    n = 5000
    g_lat, g_long = rng.normal(0, 0.5, n), rng.normal(0, 0.5, n)
    lf = pl.LazyFrame(
        {
            "t_s": np.arange(n) * 0.04,
            "lap": np.ones(n, dtype=np.int32),
            "s_m": np.zeros(n),
            "g_lat": g_lat,
            "g_long": g_long,
            "g_derived": np.zeros(n, dtype=bool),
        }
    )
    thin = pick_friction_points(lf, max_points=500, sector_deg=10.0).collect()
    assert 500 <= thin.height <= 500 + 36
    assert thin.columns == ["t_s", "lap", "s_m", "g_lat", "g_long", "g_combined", "g_derived"]
    full_env = friction_envelope(lf, sector_deg=10.0, min_g=0.0).collect().select("sector_from_deg", "max_g")
    thin_env = (
        friction_envelope(thin.lazy(), sector_deg=10.0, min_g=0.0)
        .collect()
        .select("sector_from_deg", "max_g")
    )
    assert_frame_equal(thin_env, full_env)


def test_envelope_values_per_sector() -> None:
    lf = pl.LazyFrame(
        {
            "g_lat": [0.0, 0.0, 0.0, 0.0, 1.0, 0.9, 0.05],
            "g_long": [-1.0, -0.5, -0.95, -0.1, 0.0, 0.0, 0.05],
        }
    )
    out = friction_envelope(lf, sector_deg=90.0, min_g=0.2).collect()
    # sector 90..180 holds the left turn (angle exactly 90); 180..270 the braking points; 0.1 g and 0.07 g dropped
    expected = pl.DataFrame(
        {
            "sector_from_deg": [90.0, 180.0],
            "sector_to_deg": [180.0, 270.0],
            "n_samples": [2, 3],
            "max_g": [1.0, 1.0],
            "p90_g": [0.99, 0.99],
            "near_limit_frac": [1.0, 2 / 3],
        }
    )
    assert_frame_equal(out, expected)
