"""Highlights: the session's top moments, each with where, when and its number (pure Polars).

Candidates, in priority order (one each; a candidate that does not exist — e.g. no gain with one lap — is
skipped): ``best_lap``, ``best_sector`` (the sector best furthest under that sector's median), ``max_speed``,
``biggest_gain`` (the corner pass furthest under that corner's median time), ``latest_braking`` (the brake
point furthest past that corner's median brake point), ``best_min_speed`` and ``best_exit_speed`` (furthest
above the corner's median), ``max_lateral_g``, ``max_braking_g``. The first ``limit`` (8) are returned.
"""

from __future__ import annotations

from typing import Final

import polars as pl

HIGHLIGHT_COLUMNS: Final[dict[str, pl.DataType]] = {
    "rank": pl.Int32(),
    "kind": pl.String(),
    "title": pl.String(),
    "lap": pl.Int32(),
    "t_s": pl.Float64(),
    "s_m": pl.Float64(),
    "value": pl.Float64(),
    "unit": pl.String(),
    "margin": pl.Float64(),
    "detail": pl.String(),
}
"""Output columns of :func:`pick_highlights`: ``value`` in ``unit``; ``margin`` (same unit) is how far the
moment beats the usual (the median of the other laps), null where that does not apply."""


def _moment(
    lf: pl.LazyFrame,
    *,
    kind: str,
    title: str,
    order_by: pl.Expr,
    lap: pl.Expr,
    t_s: pl.Expr,
    s_m: pl.Expr,
    value: pl.Expr,
    unit: str,
    margin: pl.Expr | None,
    detail: pl.Expr,
    priority: int,
) -> pl.LazyFrame:
    """The row of ``lf`` with the largest ``order_by`` as one highlight (none when ``lf`` is empty).
    ``order_by`` and ``margin`` see every row of ``lf`` (medians, maxima); the other expressions are evaluated
    on the chosen row only."""
    ranked = lf.with_columns(
        order_by.alias("_order"),
        (margin if margin is not None else pl.lit(None)).cast(pl.Float64).alias("_margin"),
    )
    return (
        ranked.filter(pl.col("_order").is_not_null())
        .top_k(1, by="_order")
        .select(
            pl.lit(kind).alias("kind"),
            pl.lit(title).alias("title"),
            lap.cast(pl.Int32).alias("lap"),
            t_s.cast(pl.Float64).alias("t_s"),
            s_m.cast(pl.Float64).alias("s_m"),
            value.cast(pl.Float64).alias("value"),
            pl.lit(unit).alias("unit"),
            pl.col("_margin").alias("margin"),
            detail.alias("detail"),
            pl.lit(priority).alias("_priority"),
        )
    )


def _above_median(column: str, by: str) -> pl.Expr:
    return pl.col(column) - pl.col(column).median().over(by)


def pick_highlights(
    *,
    laps: pl.LazyFrame,
    passes: pl.LazyFrame,
    telemetry: pl.LazyFrame,
    sectors: pl.LazyFrame,
    length_m: float,
    limit: int = 8,
) -> pl.LazyFrame:
    """The top ``limit`` moments (:data:`HIGHLIGHT_COLUMNS`, ``rank`` from 1).

    ``laps``: ``schema.LAPS`` columns (best lap among valid ``flying`` laps). ``passes``: corner passes
    (``corner_passes`` columns) of the laps to consider. ``telemetry``: samples of those laps with ``t_s``,
    ``s_m``, ``lap``, ``speed_kph``, ``g_lat``, ``g_long`` (g) and ``g_derived``. ``sectors``: the long sector
    table (``lap``, ``sector``, ``s_end_m``, ``t_end_s``, ``time_s``) of ``pitwall.analysis.sectors.sector_splits``.
    ``length_m`` (track length) makes brake-point differences wrap-safe at the start line.
    """
    half = length_m / 2.0
    valid = laps.filter((pl.col("kind") == "flying") & pl.col("valid"))
    timed_sectors = sectors.filter(pl.col("time_s").is_not_null()).join(
        valid.select("lap"), on="lap", how="semi"
    )
    gain_s = pl.col("corner_time_s").median().over("corner") - pl.col("corner_time_s")
    later_m = (
        pl.col("brake_point_s_m") - pl.col("brake_point_s_m").median().over("corner") + half
    ) % length_m - half
    derived_note = pl.when(pl.col("g_derived")).then(pl.lit(" (derived from GPS)")).otherwise(pl.lit(""))
    sector_gain = pl.col("time_s").median().over("sector") - pl.col("time_s")
    candidates = [
        _moment(
            valid,
            kind="best_lap",
            title="Best lap",
            order_by=-pl.col("duration_s"),
            lap=pl.col("lap"),
            t_s=pl.col("t_end_s"),
            s_m=pl.lit(0.0),
            value=pl.col("duration_s"),
            unit="s",
            margin=pl.col("duration_s").median() - pl.col("duration_s"),
            detail=pl.format("lap {} in {} s", pl.col("lap"), pl.col("duration_s").round(3)),
            priority=0,
        ),
        _moment(
            timed_sectors.with_columns(sector_gain.alias("_gain")),
            kind="best_sector",
            title="Best sector",
            order_by=pl.col("_gain"),
            lap=pl.col("lap"),
            t_s=pl.col("t_end_s"),
            s_m=pl.col("s_end_m"),
            value=pl.col("time_s"),
            unit="s",
            margin=pl.col("_gain"),
            detail=pl.format(
                "S{} in {} s on lap {}, {} s under its median",
                pl.col("sector"),
                pl.col("time_s").round(3),
                pl.col("lap"),
                pl.col("_gain").round(3),
            ),
            priority=1,
        ),
        _moment(
            telemetry,
            kind="max_speed",
            title="Top speed",
            order_by=pl.col("speed_kph"),
            lap=pl.col("lap"),
            t_s=pl.col("t_s"),
            s_m=pl.col("s_m"),
            value=pl.col("speed_kph"),
            unit="kph",
            margin=None,
            detail=pl.format("{} km/h on lap {}", pl.col("speed_kph").round(1), pl.col("lap")),
            priority=2,
        ),
        _moment(
            passes.with_columns(gain_s.alias("_gain")).filter(pl.col("_gain") > 0),
            kind="biggest_gain",
            title="Biggest gain in a corner",
            order_by=pl.col("_gain"),
            lap=pl.col("lap"),
            t_s=pl.col("t_entry_s"),
            s_m=pl.col("min_speed_s_m"),
            value=pl.col("corner_time_s"),
            unit="s",
            margin=pl.col("_gain"),
            detail=pl.format(
                "turn {} on lap {}: {} s under its median",
                pl.col("corner"),
                pl.col("lap"),
                pl.col("_gain").round(3),
            ),
            priority=3,
        ),
        _moment(
            passes.with_columns(later_m.alias("_later")).filter(pl.col("_later") > 0),
            kind="latest_braking",
            title="Latest braking",
            order_by=pl.col("_later"),
            lap=pl.col("lap"),
            t_s=pl.col("t_entry_s"),
            s_m=pl.col("brake_point_s_m"),
            value=pl.col("brake_point_s_m"),
            unit="m",
            margin=pl.col("_later"),
            detail=pl.format(
                "turn {} on lap {}: braked {} m later than usual",
                pl.col("corner"),
                pl.col("lap"),
                pl.col("_later").round(1),
            ),
            priority=4,
        ),
        _moment(
            passes.with_columns(_above_median("min_speed_kph", "corner").alias("_gain")).filter(
                pl.col("_gain") > 0
            ),
            kind="best_min_speed",
            title="Most speed carried through a corner",
            order_by=pl.col("_gain"),
            lap=pl.col("lap"),
            t_s=pl.col("min_speed_t_s"),
            s_m=pl.col("min_speed_s_m"),
            value=pl.col("min_speed_kph"),
            unit="kph",
            margin=pl.col("_gain"),
            detail=pl.format(
                "turn {} on lap {}: minimum {} km/h, {} above its median",
                pl.col("corner"),
                pl.col("lap"),
                pl.col("min_speed_kph").round(1),
                pl.col("_gain").round(1),
            ),
            priority=5,
        ),
        _moment(
            passes.with_columns(_above_median("exit_speed_kph", "corner").alias("_gain")).filter(
                pl.col("_gain") > 0
            ),
            kind="best_exit_speed",
            title="Best corner exit",
            order_by=pl.col("_gain"),
            lap=pl.col("lap"),
            t_s=pl.col("t_exit_s"),
            s_m=pl.col("min_speed_s_m"),
            value=pl.col("exit_speed_kph"),
            unit="kph",
            margin=pl.col("_gain"),
            detail=pl.format(
                "turn {} on lap {}: exit {} km/h, {} above its median",
                pl.col("corner"),
                pl.col("lap"),
                pl.col("exit_speed_kph").round(1),
                pl.col("_gain").round(1),
            ),
            priority=6,
        ),
        _moment(
            telemetry,
            kind="max_lateral_g",
            title="Peak cornering force",
            order_by=pl.col("g_lat").abs(),
            lap=pl.col("lap"),
            t_s=pl.col("t_s"),
            s_m=pl.col("s_m"),
            value=pl.col("g_lat").abs(),
            unit="g",
            margin=None,
            detail=pl.format("{} g on lap {}{}", pl.col("g_lat").abs().round(2), pl.col("lap"), derived_note),
            priority=7,
        ),
        _moment(
            telemetry,
            kind="max_braking_g",
            title="Hardest braking",
            order_by=-pl.col("g_long"),
            lap=pl.col("lap"),
            t_s=pl.col("t_s"),
            s_m=pl.col("s_m"),
            value=-pl.col("g_long"),
            unit="g",
            margin=None,
            detail=pl.format("{} g on lap {}{}", (-pl.col("g_long")).round(2), pl.col("lap"), derived_note),
            priority=8,
        ),
    ]
    return (
        pl.concat(candidates)
        .sort("_priority")
        .head(limit)
        .with_columns(pl.int_range(1, pl.len() + 1, dtype=pl.Int32).alias("rank"))
        .select(list(HIGHLIGHT_COLUMNS))
    )
