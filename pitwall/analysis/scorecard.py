"""The session scorecard: an A–F grade per corner and overall (pure Polars).

Corner grades come from :func:`pitwall.analysis.corners.corner_summary` (mean pass time vs the physics-model
reference, else vs the session's best pass). The overall grade is the mean of the corners' grade points
(A = 4 … F = 0, :data:`pitwall.analysis.corners.GRADE_POINTS`) rounded to the nearest letter.
"""

from __future__ import annotations

import polars as pl

from pitwall.analysis.corners import GRADE_POINTS


def _points_expr() -> pl.Expr:
    return pl.col("grade").replace_strict(GRADE_POINTS, default=None, return_dtype=pl.Float64)


def _letter_expr(points: pl.Expr) -> pl.Expr:
    letter: pl.Expr = pl.lit("F")
    for grade, value in sorted(GRADE_POINTS.items(), key=lambda kv: kv[1]):
        if value > 0:
            letter = pl.when(points >= value - 0.5).then(pl.lit(grade)).otherwise(letter)
    return pl.when(points.is_null()).then(pl.lit(None, dtype=pl.String)).otherwise(letter)


def corner_scorecard(summary: pl.LazyFrame) -> pl.LazyFrame:
    """One row per graded corner, in lap order: ``corner``, ``corner_name``, ``corner_idx``, ``grade``,
    ``grade_points`` (0..4), ``pct_slower`` (%), ``delta_to_reference_s`` (s), ``mean_time_s``, ``ref_time_s``
    (s), ``reference_source``, ``n_passes``. Requires the columns of ``corner_summary``."""
    return summary.filter(pl.col("grade").is_not_null()).select(
        "corner",
        "corner_name",
        "corner_idx",
        "grade",
        _points_expr().alias("grade_points"),
        "pct_slower",
        "delta_to_reference_s",
        "mean_time_s",
        "ref_time_s",
        "reference_source",
        "n_passes",
    )


def overall_grade(summary: pl.LazyFrame) -> pl.LazyFrame:
    """One row: ``grade`` (A–F), ``grade_points`` (mean, 0..4), ``n_corners``, ``time_lost_s`` (sum over corners
    of mean pass time − reference, s), ``reference_source`` ("model_lap", "reference_lap", "session_best", "none" or "mixed").
    Requires ``grade``, ``delta_to_reference_s``, ``reference_source``."""
    graded = summary.filter(pl.col("grade").is_not_null())
    points = _points_expr().mean()
    sources = pl.col("reference_source").unique()
    return graded.select(
        _letter_expr(points).alias("grade"),
        points.alias("grade_points"),
        pl.len().cast(pl.Int32).alias("n_corners"),
        pl.col("delta_to_reference_s").sum().alias("time_lost_s"),
        pl.when(sources.len() > 1).then(pl.lit("mixed")).otherwise(sources.first()).alias("reference_source"),
    )


def corner_peaks(telemetry: pl.LazyFrame, passes: pl.LazyFrame) -> pl.LazyFrame:
    """Per corner, the mean over its passes of each pass's peak brake pressure and peak lateral g.

    Requires ``lap``, ``t_s`` (s), ``brake_bar`` (bar) and ``g_lat`` (g) in ``telemetry`` and ``lap``,
    ``corner_idx``, ``t_entry_s``, ``t_exit_s`` (s) in ``passes`` (``pitwall.analysis.corners.corner_passes``).
    Returns ``corner_idx``, ``peak_brake_bar`` (bar) and ``peak_g_lat`` (g, of ``|g_lat|``); a figure is null
    when the channel was not logged in any pass of that corner.
    """
    samples = telemetry.select("lap", "t_s", "brake_bar", "g_lat")
    per_pass = (
        passes.select("lap", "corner_idx", "t_entry_s", "t_exit_s")
        .join(samples, on="lap", how="inner")
        .filter(pl.col("t_s").is_between(pl.col("t_entry_s"), pl.col("t_exit_s")))
        .group_by("lap", "corner_idx")
        .agg(
            pl.col("brake_bar").max().alias("peak_brake_bar"),
            pl.col("g_lat").abs().max().alias("peak_g_lat"),
        )
    )
    return (
        per_pass.group_by("corner_idx")
        .agg(pl.col("peak_brake_bar").mean(), pl.col("peak_g_lat").mean())
        .sort("corner_idx")
    )
