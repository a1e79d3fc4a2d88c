"""The named metrics the coach's rules read (pure Polars; no I/O), and the confidence of a measurement.

Every metric name carries its unit; a metric that could not be measured is ``None``. The same names are
produced for a whole session (:func:`session_metrics`, from the analysis pipelines' results), for one corner
(:func:`corner_metrics`) and for a short burst of live telemetry (:mod:`pitwall.coach.cues`), so one rule in
``data/coach/concepts.yaml`` serves all three:

=========================== =============================================================================
``coast_pct``               time with neither pedal on (``pitwall.analysis.pedals`` states), % of the time
``trail_brake_pct``         time braking while turning (``trail_brake`` state), %
``max_brake_bar``           highest brake pressure, bar (``None`` without a ``brake_bar`` channel)
``avg_throttle_pct``        mean throttle position, %
``throttle_rate_p95_pct_s`` 95th percentile of the throttle's rate of change, %/s
``max_combo_g``             largest combined acceleration √(g_lat² + g_long²), g
``track_use_m``             5th–95th percentile spread of the lateral offset from the reference line, m
``exit_minus_entry_kph``    mean over corner passes of exit − entry speed, km/h
``apex_spread_m``           mean over corners of the standard deviation of the minimum-speed position, m
``brake_point_spread_m``    mean over corners of the standard deviation of the brake point, m
``pickup_after_apex_m``     mean distance from the minimum-speed point to the throttle pick-up, m (negative:
                            before it)
``min_speed_deficit_kph``   mean over corners of reference − mean minimum speed, km/h
``lap_time_cv_pct``         coefficient of variation of the complete valid laps' times, %
=========================== =============================================================================
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Final

import polars as pl

from pitwall.analysis.pedals import add_sample_dt, pedal_time_session

Metrics = dict[str, float | None]

PERCENTILE_LOW: Final = 0.05
PERCENTILE_HIGH: Final = 0.95


@dataclass(frozen=True)
class ConfidenceLimits:
    """How sample rate and GPS quality turn into a confidence in [0, 1] (the product of two factors).

    Rate factor: ``sample_hz / full_rate_hz`` capped at 1. GPS factor: 1 from ``good_sats`` satellites (median),
    ``poor_factor`` at or below ``poor_sats``, linear in between; ``unknown_sats_factor`` when ``sats`` is not
    logged, ``unknown_rate_factor`` when the sample rate is not known.
    """

    full_rate_hz: float = 10.0
    good_sats: float = 8.0
    poor_sats: float = 4.0
    poor_factor: float = 0.4
    unknown_sats_factor: float = 0.7
    unknown_rate_factor: float = 0.7


CONFIDENCE_LIMITS: Final = ConfidenceLimits()


def confidence(
    sample_hz: float | None, median_sats: float | None, limits: ConfidenceLimits = CONFIDENCE_LIMITS
) -> float:
    """Confidence in [0, 1] (2 decimals) of findings measured at ``sample_hz`` (Hz) with ``median_sats``
    satellites in use (either ``None`` when not known)."""
    if sample_hz is None:
        rate = limits.unknown_rate_factor
    else:
        rate = 0.0 if sample_hz <= 0 else min(1.0, sample_hz / limits.full_rate_hz)
    if median_sats is None:
        gps = limits.unknown_sats_factor
    elif median_sats >= limits.good_sats:
        gps = 1.0
    elif median_sats <= limits.poor_sats:
        gps = limits.poor_factor
    else:
        span = (median_sats - limits.poor_sats) / (limits.good_sats - limits.poor_sats)
        gps = limits.poor_factor + span * (1.0 - limits.poor_factor)
    return round(rate * gps, 2)


def sampling(telemetry: pl.LazyFrame) -> pl.LazyFrame:
    """One row: ``sample_hz`` (median sample rate, Hz) and ``median_sats`` (null when ``sats`` is not logged).
    Requires ``t_s`` (s, ordered) and ``sats``."""
    dt = pl.col("t_s").diff()
    return telemetry.select(
        (1.0 / dt.filter(dt > 0).median()).alias("sample_hz"),
        pl.col("sats").cast(pl.Float64).median().alias("median_sats"),
    )


def driving_metrics(driving: pl.LazyFrame) -> pl.LazyFrame:
    """One row of the sample-level metrics (``coast_pct``, ``trail_brake_pct``, ``max_brake_bar``,
    ``avg_throttle_pct``, ``throttle_rate_p95_pct_s``, ``max_combo_g``, ``track_use_m``) over ``driving``.

    Requires ``t_s`` (s, ordered), ``throttle_pct`` (%), ``brake_bar``/``brake_pct``, ``g_lat``, ``g_long`` (g),
    ``offset_m`` (m).
    """
    pedals = pedal_time_session(driving).select(
        (100.0 * pl.col("coast_frac")).alias("coast_pct"),
        (100.0 * pl.col("trail_brake_frac")).alias("trail_brake_pct"),
    )
    rate = (pl.col("throttle_pct").diff() / pl.col("dt_s")).abs()
    offset = pl.col("offset_m")
    samples = add_sample_dt(driving).select(
        pl.col("brake_bar").max().alias("max_brake_bar"),
        pl.col("throttle_pct").mean().alias("avg_throttle_pct"),
        rate.filter(pl.col("dt_s") > 0).quantile(PERCENTILE_HIGH).alias("throttle_rate_p95_pct_s"),
        (pl.col("g_lat") ** 2 + pl.col("g_long") ** 2).sqrt().max().alias("max_combo_g"),
        (offset.quantile(PERCENTILE_HIGH) - offset.quantile(PERCENTILE_LOW)).alias("track_use_m"),
    )
    return pl.concat([pedals, samples], how="horizontal")


def _wrapped(delta: pl.Expr, length_m: float) -> pl.Expr:
    """A signed distance along a closed lap (m), in [−length/2, length/2) (positions wrap at the line)."""
    return (delta + length_m / 2) % length_m - length_m / 2


def corner_metrics(passes: pl.LazyFrame, summary: pl.LazyFrame, *, length_m: float) -> pl.LazyFrame:
    """Per corner: ``corner``, ``exit_minus_entry_kph``, ``apex_spread_m``, ``brake_point_spread_m``,
    ``pickup_after_apex_m`` (from :func:`pitwall.analysis.corners.corner_passes` rows) and
    ``min_speed_deficit_kph`` (from :func:`pitwall.analysis.corners.corner_summary`). Spreads need ≥ 2 passes
    (else null). ``length_m`` is the track length (positions wrap at the line)."""
    per_corner = passes.group_by("corner").agg(
        (pl.col("exit_speed_kph") - pl.col("entry_speed_kph")).mean().alias("exit_minus_entry_kph"),
        pl.col("min_speed_s_m").std().alias("apex_spread_m"),
        pl.col("brake_point_s_m").std().alias("brake_point_spread_m"),
        _wrapped(pl.col("throttle_pickup_s_m") - pl.col("min_speed_s_m"), length_m)
        .mean()
        .alias("pickup_after_apex_m"),
    )
    deficit = summary.select(
        "corner",
        "corner_idx",
        (pl.col("ref_min_speed_kph") - pl.col("mean_min_speed_kph")).alias("min_speed_deficit_kph"),
    )
    return deficit.join(per_corner, on="corner", how="left").sort("corner_idx")


CORNER_METRICS: Final = (
    "exit_minus_entry_kph",
    "apex_spread_m",
    "brake_point_spread_m",
    "pickup_after_apex_m",
    "min_speed_deficit_kph",
)


def lap_metrics(laps: pl.LazyFrame) -> pl.LazyFrame:
    """One row: ``lap_time_cv_pct`` (%) over complete (``flying``) valid laps (null with fewer than 2),
    ``best_lap_s``, ``mean_lap_s`` (s) and ``n_laps``. Requires ``schema.LAPS`` columns."""
    d = pl.col("duration_s")
    ok = laps.filter((pl.col("kind") == "flying") & pl.col("valid"))
    return ok.select(
        (100.0 * d.std() / d.mean()).alias("lap_time_cv_pct"),
        d.min().alias("best_lap_s"),
        d.mean().alias("mean_lap_s"),
        pl.len().cast(pl.Int64).alias("n_laps"),
    )


def session_metrics(
    driving: pl.LazyFrame, passes: pl.LazyFrame, summary: pl.LazyFrame, laps: pl.LazyFrame, *, length_m: float
) -> pl.LazyFrame:
    """One row of every metric of the module table for a session: :func:`driving_metrics` of ``driving``,
    corner metrics averaged over corners (:func:`corner_metrics`) and ``lap_time_cv_pct``."""
    corners = corner_metrics(passes, summary, length_m=length_m).select(pl.col(CORNER_METRICS).mean())
    return pl.concat(
        [driving_metrics(driving), corners, lap_metrics(laps).select("lap_time_cv_pct")], how="horizontal"
    )


def row_metrics(row: Mapping[str, object]) -> Metrics:
    """A collected metrics row as ``{name: float | None}`` (non-numeric and NaN values become ``None``)."""
    out: Metrics = {}
    for key, value in row.items():
        if isinstance(value, int | float) and not isinstance(value, bool) and value == value:
            out[key] = float(value)
        elif value is None:
            out[key] = None
    return out
