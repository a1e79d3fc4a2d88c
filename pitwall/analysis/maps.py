"""Map and profile data for display: the track line, per-lap GPS traces, the elevation profile (pure).

Thinning keeps every k-th point (k chosen per line so at most ``max_points`` remain) plus each line's last
point, so a trace still closes where the lap ended.
"""

from __future__ import annotations

import math

import numpy as np
import polars as pl

from pitwall.track import Track


def reference_polyline(track: Track, *, max_points: int = 1000) -> pl.LazyFrame:
    """The track's reference line, thinned: ``s_m``, ``lat_deg``, ``lon_deg``, ``alt_m``."""
    line = track.reference_line
    step = max(1, math.ceil(len(line) / max_points))
    idx = np.unique(np.r_[np.arange(0, len(line), step), len(line) - 1]) if len(line) else np.arange(0)
    return pl.LazyFrame(
        {
            "s_m": line.s_m[idx],
            "lat_deg": line.lat_deg[idx],
            "lon_deg": line.lon_deg[idx],
            "alt_m": line.alt_m[idx],
        },
        schema={"s_m": pl.Float64, "lat_deg": pl.Float64, "lon_deg": pl.Float64, "alt_m": pl.Float64},
    )


def lap_polylines(lf: pl.LazyFrame, *, max_points_per_lap: int = 500) -> pl.LazyFrame:
    """Each lap's GPS trace, thinned: ``lap``, ``t_s``, ``s_m``, ``lat_deg``, ``lon_deg``, ``speed_kph``, in lap
    then time order. Rows without a lap or a fix are dropped. Requires ``lap``, ``t_s``, ``lat_deg``, ``lon_deg``,
    ``s_m``, ``speed_kph``."""
    fixes = lf.filter(
        pl.col("lap").is_not_null() & pl.col("lat_deg").is_not_null() & pl.col("lon_deg").is_not_null()
    )
    n = pl.len().over("lap")
    i = pl.int_range(pl.len(), dtype=pl.UInt32).over("lap")
    step = (n / max_points_per_lap).ceil().cast(pl.UInt32).clip(lower_bound=1)
    return (
        fixes.sort("t_s")
        .filter((i % step == 0) | (i == n - 1))
        .select("lap", "t_s", "s_m", "lat_deg", "lon_deg", "speed_kph")
        .sort("lap", "t_s")
    )


def elevation_profile(track: Track, *, step_m: float = 10.0) -> pl.LazyFrame:
    """Altitude along the reference line every ``step_m`` metres from the start line: ``s_m``, ``alt_m`` (linear
    interpolation between line points) and ``grade_pct`` (slope to the next point, %; null on the last)."""
    line = track.reference_line
    s = np.arange(0.0, track.length_m + 1e-9, step_m)
    alt = np.interp(s, line.s_m, line.alt_m) if len(line) else np.full(s.shape, np.nan)
    return pl.LazyFrame(
        {"s_m": s, "alt_m": alt}, schema={"s_m": pl.Float64, "alt_m": pl.Float64}
    ).with_columns(
        (
            100.0 * (pl.col("alt_m").shift(-1) - pl.col("alt_m")) / (pl.col("s_m").shift(-1) - pl.col("s_m"))
        ).alias("grade_pct")
    )
