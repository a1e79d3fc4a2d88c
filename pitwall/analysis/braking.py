"""Braking summaries over corner passes: end of braking and its spread, peak deceleration, exit acceleration.

Inputs are the passes of :func:`pitwall.analysis.corners.corner_passes` (``PASS_COLUMNS``). Positions along
the lap are compared with the corner's apex on a signed, wrap-safe distance (metres; positive = after the
apex), so corners near the start/finish line average correctly.
"""

from __future__ import annotations

import polars as pl

from pitwall.analysis.corners import corner_windows
from pitwall.track import Track


def _from_apex(column: str, length_m: float) -> pl.Expr:
    """Signed distance (m) from the apex to ``column``'s position, in (−length/2, length/2]."""
    half = length_m / 2.0
    return (pl.col(column) - pl.col("s_apex_m") + half) % length_m - half


def eob_summary(passes: pl.LazyFrame, track: Track) -> pl.LazyFrame:
    """End of braking (the brake release before the corner exit) per corner.

    Output per corner with at least one braked pass, in lap order: ``corner``, ``corner_idx``, ``n_passes``
    (passes with a release), ``mean_eob_s_m``, ``min_eob_s_m``, ``max_eob_s_m`` (m of ``s_m``; min/max are the
    earliest/latest release relative to the apex), ``spread_m`` (latest − earliest, m), ``std_m`` (m),
    ``eob_to_apex_m`` (mean signed distance from the apex; negative = released before the apex).
    Requires ``corner``, ``corner_idx``, ``brake_release_s_m`` (from ``corner_passes``).
    """
    length = track.length_m
    apex = corner_windows(track).lazy().select("corner", "s_apex_m")
    d = pl.col("_d")
    return (
        passes.filter(pl.col("brake_release_s_m").is_not_null())
        .join(apex, on="corner", how="inner")
        .with_columns(_from_apex("brake_release_s_m", length).alias("_d"))
        .group_by("corner")
        .agg(
            pl.col("corner_idx").first(),
            pl.len().cast(pl.Int32).alias("n_passes"),
            pl.col("s_apex_m").first(),
            d.mean().alias("eob_to_apex_m"),
            d.min().alias("_dmin"),
            d.max().alias("_dmax"),
            d.std().alias("std_m"),
        )
        .select(
            "corner",
            "corner_idx",
            "n_passes",
            ((pl.col("s_apex_m") + pl.col("eob_to_apex_m")) % length).alias("mean_eob_s_m"),
            ((pl.col("s_apex_m") + pl.col("_dmin")) % length).alias("min_eob_s_m"),
            ((pl.col("s_apex_m") + pl.col("_dmax")) % length).alias("max_eob_s_m"),
            (pl.col("_dmax") - pl.col("_dmin")).alias("spread_m"),
            "std_m",
            "eob_to_apex_m",
        )
        .sort("corner_idx")
    )


def brake_accel_summary(passes: pl.LazyFrame) -> pl.LazyFrame:
    """Peak deceleration and exit acceleration per corner over its passes.

    Output per corner, in lap order: ``corner``, ``corner_idx``, ``n_passes``, ``peak_decel_g`` (largest of the
    passes, g, positive), ``peak_decel_lap``, ``mean_peak_decel_g``, ``mean_exit_accel_g`` (mean of the passes'
    mean ``g_long`` from the minimum-speed point to the end of the window, g), ``best_exit_accel_g``,
    ``best_exit_accel_lap``. Requires ``corner``, ``corner_idx``, ``lap``, ``max_decel_g``, ``exit_accel_g``.
    """
    return (
        passes.group_by("corner")
        .agg(
            pl.col("corner_idx").first(),
            pl.len().cast(pl.Int32).alias("n_passes"),
            pl.col("max_decel_g").max().alias("peak_decel_g"),
            pl.col("lap")
            .sort_by("max_decel_g", descending=True, nulls_last=True)
            .first()
            .alias("peak_decel_lap"),
            pl.col("max_decel_g").mean().alias("mean_peak_decel_g"),
            pl.col("exit_accel_g").mean().alias("mean_exit_accel_g"),
            pl.col("exit_accel_g").max().alias("best_exit_accel_g"),
            pl.col("lap")
            .sort_by("exit_accel_g", descending=True, nulls_last=True)
            .first()
            .alias("best_exit_accel_lap"),
        )
        .sort("corner_idx")
    )
