"""Session aggregates: laps, pace, distance, speed, pedal and grip figures in one row (pure Polars)."""

from __future__ import annotations

from typing import Final

import polars as pl

from pitwall.analysis.capabilities import not_logged_expr
from pitwall.analysis.friction import max_combined_g_expr
from pitwall.analysis.pedals import (
    add_sample_dt,
    brake_logged_expr,
    brake_on_expr,
    logged_frac_expr,
    throttle_logged_expr,
    throttle_on_expr,
)

REPORTED_CHANNELS: Final = (
    "throttle_pct",
    "brake_bar",
    "brake_pct",
    "g_lat",
    "g_long",
    "rpm",
    "gear",
    "steering_deg",
)
"""Channels whose absence :func:`session_stats` reports in ``not_logged``."""


def session_stats(
    telemetry: pl.LazyFrame,
    laps: pl.LazyFrame,
    *,
    throttle_th: float = 5.0,
    full_th: float = 98.0,
    brake_th: float | None = None,
    moving_kph: float = 10.0,
) -> pl.LazyFrame:
    """One row of session aggregates.

    From ``laps`` (``schema.LAPS`` columns): ``n_laps`` (every lap row), ``n_complete_laps`` (kind ``flying``),
    ``n_valid_laps`` (complete and valid), ``best_lap``, ``best_lap_s``, ``mean_lap_s``, ``median_lap_s``,
    ``std_lap_s`` (s, over complete valid laps).
    From all of ``telemetry``: ``duration_s``, ``distance_m`` (span of the cumulative ``distance_m``),
    ``max_speed_kph``, ``mean_moving_speed_kph`` (samples above ``moving_kph``).
    From the complete laps' samples, as fractions of time (0..1): ``on_throttle_frac`` (``throttle_pct ≥
    throttle_th``), ``full_throttle_frac`` (``≥ full_th``), ``braking_frac`` — null when the channel is not
    logged (a session without throttle is not "0 % throttle"); and grip: ``max_lateral_g`` (|g_lat|),
    ``max_braking_g`` (−g_long, positive), ``max_combined_g`` (g), ``g_derived`` (true when any of those samples
    has derived rather than measured g). ``not_logged``: the names of :data:`REPORTED_CHANNELS` with no value in
    ``telemetry`` (a list of strings).

    Requires in ``telemetry``: ``t_s``, ``lap``, ``distance_m``, ``speed_kph``, ``throttle_pct``,
    ``brake_bar``/``brake_pct``, ``g_lat``, ``g_long``, ``g_derived``.
    """
    complete = laps.filter(pl.col("kind") == "flying")
    timed = complete.filter(pl.col("valid"))
    duration = pl.col("duration_s")
    lap_part = (
        laps.select(pl.len().cast(pl.Int32).alias("n_laps"))
        .join(complete.select(pl.len().cast(pl.Int32).alias("n_complete_laps")), how="cross")
        .join(
            timed.select(
                pl.len().cast(pl.Int32).alias("n_valid_laps"),
                pl.col("lap").sort_by("duration_s").first().alias("best_lap"),
                duration.min().alias("best_lap_s"),
                duration.mean().alias("mean_lap_s"),
                duration.median().alias("median_lap_s"),
                duration.std().alias("std_lap_s"),
            ),
            how="cross",
        )
    )
    speed = pl.col("speed_kph")
    session_part = telemetry.select(
        (pl.col("t_s").max() - pl.col("t_s").min()).alias("duration_s"),
        (pl.col("distance_m").max() - pl.col("distance_m").min()).alias("distance_m"),
        speed.max().alias("max_speed_kph"),
        speed.filter(speed > moving_kph).mean().alias("mean_moving_speed_kph"),
    )
    dt = pl.col("dt_s")
    total = dt.sum()
    throttled, braked = throttle_logged_expr(), brake_logged_expr()
    driving = add_sample_dt(telemetry.join(complete.select("lap"), on="lap", how="semi"))
    driving_part = driving.select(
        logged_frac_expr(dt.filter(throttle_on_expr(throttle_th=throttle_th)).sum(), total, throttled).alias(
            "on_throttle_frac"
        ),
        logged_frac_expr(dt.filter(throttle_on_expr(throttle_th=full_th)).sum(), total, throttled).alias(
            "full_throttle_frac"
        ),
        logged_frac_expr(dt.filter(brake_on_expr(brake_th=brake_th)).sum(), total, braked).alias(
            "braking_frac"
        ),
        pl.col("g_lat").abs().max().alias("max_lateral_g"),
        (-pl.col("g_long")).max().alias("max_braking_g"),
        max_combined_g_expr(),
        pl.col("g_derived").any().alias("g_derived"),
    )
    not_logged = telemetry.select(not_logged_expr(REPORTED_CHANNELS, telemetry.collect_schema().names()))
    return pl.concat([lap_part, session_part, driving_part, not_logged], how="horizontal")
