"""Accelerations: derived g where no accelerometer was logged, and the friction circle (pure Polars).

Sign conventions are :mod:`pitwall.schema`'s: ``g_lat`` positive to the left, ``g_long`` positive forward.
Direction angles on the friction circle are ``atan2(g_lat, g_long)`` in degrees on [0, 360):
0° = pure acceleration, 90° = pure left, 180° = pure braking, 270° = pure right.
"""

from __future__ import annotations

from typing import Final

import numpy as np
import polars as pl
from scipy.ndimage import gaussian_filter1d

from pitwall.schema import G0

_DERIVED: Final = pl.Struct({"g_lat": pl.Float64, "g_long": pl.Float64, "yaw_rate_dps": pl.Float64})


def _central_rate(x: np.ndarray, t: np.ndarray) -> np.ndarray:
    """d x / d t by central differences (one-sided at the ends); NaN where time does not advance."""
    out = np.full(x.shape, np.nan)
    if x.size < 2:
        return out
    num = np.empty_like(x)
    den = np.empty_like(t)
    num[1:-1], den[1:-1] = x[2:] - x[:-2], t[2:] - t[:-2]
    num[0], den[0] = x[1] - x[0], t[1] - t[0]
    num[-1], den[-1] = x[-1] - x[-2], t[-1] - t[-2]
    with np.errstate(divide="ignore", invalid="ignore"):
        np.divide(num, den, out=out, where=den > 0)
    return out


def _derive_from_gps(batch: pl.Series, smooth_s: float) -> pl.Series:
    """numpy step of :func:`add_derived_g` (needs the whole, time-ordered column: called via map_batches)."""
    frame = batch.struct.unnest()
    t = frame["t_s"].to_numpy().astype(np.float64)
    speed = frame["speed_kph"].cast(pl.Float64).fill_null(strategy="forward").fill_null(strategy="backward")
    heading = (
        frame["heading_deg"].cast(pl.Float64).fill_null(strategy="forward").fill_null(strategy="backward")
    )
    v = speed.fill_null(0.0).to_numpy() / 3.6
    psi = np.unwrap(np.radians(heading.fill_null(0.0).to_numpy()))
    steps = np.diff(t)
    steps = steps[steps > 0]
    sigma = smooth_s / float(np.median(steps)) if steps.size else 0.0
    if sigma > 0:
        v = gaussian_filter1d(v, sigma, mode="nearest")
        psi = gaussian_filter1d(psi, sigma, mode="nearest")
    dv_dt = _central_rate(v, t)
    dpsi_dt = _central_rate(psi, t)  # rad/s, clockwise positive (heading convention)
    g_long = dv_dt / G0
    g_lat = -v * dpsi_dt / G0  # a left turn decreases the heading; g_lat is positive left
    yaw = -np.degrees(dpsi_dt)  # yaw_rate_dps is positive counter-clockwise
    return pl.DataFrame({"g_lat": g_lat, "g_long": g_long, "yaw_rate_dps": yaw}, nan_to_null=True).to_struct(
        batch.name
    )


def add_derived_g(lf: pl.LazyFrame, *, smooth_s: float = 0.2) -> pl.LazyFrame:
    """Fill ``g_lat``, ``g_long`` (g) and ``yaw_rate_dps`` (deg/s) where they were not measured.

    Derived from GPS speed and course: ``g_long = dv/dt / g0``, ``g_lat = v · ψ̇ / g0`` (centripetal, with
    ``ψ̇`` the course rate), ``yaw_rate_dps`` = course rate (the path's rotation, not the body's: in a slide
    they differ). Speed and unwrapped course are smoothed with a Gaussian of ``smooth_s`` seconds (σ) before
    differentiating. Measured values are kept; adds ``g_derived`` (Boolean): true on rows where ``g_lat`` or
    ``g_long`` was derived, so plots never pass derived values off as measured.

    Requires ``t_s`` (s, strictly increasing within the frame — one session per frame), ``speed_kph``,
    ``heading_deg`` (deg, clockwise from north), and the nullable ``g_lat``, ``g_long``, ``yaw_rate_dps``.
    The derivation needs the whole time series, so it runs as one numpy step inside ``map_batches``.
    """
    derived = (
        pl.struct("t_s", "speed_kph", "heading_deg")
        .map_batches(lambda s: _derive_from_gps(s, smooth_s), return_dtype=_DERIVED)
        .alias("_derived")
    )
    return (
        lf.with_columns(derived)
        .with_columns(
            (pl.col("g_lat").is_null() | pl.col("g_long").is_null()).alias("g_derived"),
            pl.col("g_lat").fill_null(pl.col("_derived").struct.field("g_lat")),
            pl.col("g_long").fill_null(pl.col("_derived").struct.field("g_long")),
            pl.col("yaw_rate_dps").fill_null(pl.col("_derived").struct.field("yaw_rate_dps")),
        )
        .drop("_derived")
    )


def add_combined_g(lf: pl.LazyFrame) -> pl.LazyFrame:
    """Add ``g_combined`` (g, √(g_lat² + g_long²)) and ``g_angle_deg`` (direction on the circle, see module
    doc). Requires ``g_lat``, ``g_long`` (g)."""
    return lf.with_columns(
        (pl.col("g_lat") ** 2 + pl.col("g_long") ** 2).sqrt().alias("g_combined"),
        (pl.arctan2(pl.col("g_lat"), pl.col("g_long")).degrees() % 360.0).alias("g_angle_deg"),
    )


def _sector_expr(sector_deg: float) -> pl.Expr:
    return (pl.col("g_angle_deg") // sector_deg).cast(pl.Int32)


def pick_friction_points(
    lf: pl.LazyFrame, *, max_points: int = 2000, sector_deg: float = 10.0, min_g: float = 0.05
) -> pl.LazyFrame:
    """The g_lat × g_long scatter, thinned for display while keeping the extremes.

    Keeps every k-th row (k chosen so about ``max_points`` remain) plus, in each ``sector_deg`` direction
    sector, the row with the largest combined g (so the envelope of the thinned cloud equals the full one).
    Rows with null g are dropped. Requires ``t_s``, ``g_lat``, ``g_long`` (g); ``lap``, ``s_m`` and
    ``g_derived`` are carried when present. Output columns: ``t_s``, ``lap``, ``s_m``, ``g_lat``, ``g_long``,
    ``g_combined``, ``g_derived``, ordered by ``t_s``.
    """
    points = add_combined_g(lf.filter(pl.col("g_lat").is_not_null() & pl.col("g_long").is_not_null()))
    step = (pl.len() / max_points).ceil().cast(pl.UInt32).clip(lower_bound=1)
    sector = _sector_expr(sector_deg)
    extreme = (pl.col("g_combined") == pl.col("g_combined").max().over(sector)) & (
        pl.col("g_combined") >= min_g
    )
    keep = (pl.int_range(pl.len(), dtype=pl.UInt32) % step == 0) | extreme
    return (
        points.filter(keep)
        .select("t_s", "lap", "s_m", "g_lat", "g_long", "g_combined", "g_derived")
        .sort("t_s")
    )


def friction_envelope(
    lf: pl.LazyFrame, *, sector_deg: float = 30.0, min_g: float = 0.2, near_limit: float = 0.9
) -> pl.LazyFrame:
    """The grip used per direction sector: how far and how often the driver goes toward the limit.

    Only samples with combined g ≥ ``min_g`` count (below that the direction is noise). Output, one row per
    sector that has samples, by angle: ``sector_from_deg``, ``sector_to_deg``, ``n_samples``, ``max_g``
    (the envelope, g), ``p90_g`` (g), ``near_limit_frac`` (share of the sector's samples at ≥ ``near_limit`` ×
    ``max_g``). Requires ``g_lat``, ``g_long`` (g).
    """
    points = add_combined_g(lf).filter(pl.col("g_combined") >= min_g)
    envelope = pl.col("g_combined").max()
    return (
        points.group_by(_sector_expr(sector_deg).alias("sector"))
        .agg(
            pl.len().cast(pl.Int64).alias("n_samples"),
            envelope.alias("max_g"),
            pl.col("g_combined").quantile(0.9, interpolation="linear").alias("p90_g"),
            (pl.col("g_combined") >= near_limit * envelope).mean().alias("near_limit_frac"),
        )
        .sort("sector")
        .select(
            (pl.col("sector") * sector_deg).cast(pl.Float64).alias("sector_from_deg"),
            ((pl.col("sector") + 1) * sector_deg).cast(pl.Float64).alias("sector_to_deg"),
            "n_samples",
            "max_g",
            "p90_g",
            "near_limit_frac",
        )
    )


def max_combined_g_expr() -> pl.Expr:
    """Scalar: the largest combined g (g) of the frame. Requires ``g_lat``, ``g_long``."""
    return (pl.col("g_lat") ** 2 + pl.col("g_long") ** 2).sqrt().max().alias("max_combined_g")
