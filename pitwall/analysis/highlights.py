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
    t_s: pl.Expr,
    s_m: pl.Expr,
    value: pl.Expr,
    unit: str,
    margin: pl.Expr | None,
    detail: pl.Expr,
) -> pl.LazyFrame:
    """The row of ``lf`` (with a ``lap`` column) with the largest ``order_by`` as one highlight (none when
    ``lf`` is empty). ``order_by`` and ``margin`` see every row of ``lf`` (medians, maxima); the other
    expressions are evaluated on the chosen row only."""
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
            pl.col("lap").cast(pl.Int32).alias("lap"),
            t_s.cast(pl.Float64).alias("t_s"),
            s_m.cast(pl.Float64).alias("s_m"),
            value.cast(pl.Float64).alias("value"),
            pl.lit(unit).alias("unit"),
            pl.col("_margin").alias("margin"),
            detail.alias("detail"),
        )
    )


def _peak_sample(
    telemetry: pl.LazyFrame,
    *,
    kind: str,
    title: str,
    value: pl.Expr,
    unit: str,
    shown: str,
    decimals: int,
    note: pl.Expr,
) -> pl.LazyFrame:
    """The telemetry sample with the largest ``value`` (in ``unit``; shown as ``shown`` with ``decimals``
    in the detail, followed by ``note``); no margin."""
    return _moment(
        telemetry,
        kind=kind,
        title=title,
        order_by=value,
        t_s=pl.col("t_s"),
        s_m=pl.col("s_m"),
        value=value,
        unit=unit,
        margin=None,
        detail=pl.format("{} " + shown + " on lap {}{}", value.round(decimals), pl.col("lap"), note),
    )


def _best_corner_pass(
    passes: pl.LazyFrame,
    *,
    kind: str,
    title: str,
    gain: pl.Expr,
    t_s: str,
    s_m: str,
    value: str,
    unit: str,
    detail: str,
    detail_values: tuple[pl.Expr, ...],
) -> pl.LazyFrame:
    """The corner pass with the largest positive ``gain`` (how far it beats that corner's usual, in
    ``unit``, also the margin); ``t_s``/``s_m``/``value`` name columns of ``passes``. The detail reads
    ``"turn {corner} on lap {lap}: " + detail`` with ``detail_values`` (which may use ``_gain``) filled in."""
    return _moment(
        passes.with_columns(gain.alias("_gain")).filter(pl.col("_gain") > 0),
        kind=kind,
        title=title,
        order_by=pl.col("_gain"),
        t_s=pl.col(t_s),
        s_m=pl.col(s_m),
        value=pl.col(value),
        unit=unit,
        margin=pl.col("_gain"),
        detail=pl.format("turn {} on lap {}: " + detail, pl.col("corner"), pl.col("lap"), *detail_values),
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
    later_m = (
        pl.col("brake_point_s_m") - pl.col("brake_point_s_m").median().over("corner") + half
    ) % length_m - half
    derived_note = pl.when(pl.col("g_derived")).then(pl.lit(" (derived from GPS)")).otherwise(pl.lit(""))
    sector_gain = pl.col("time_s").median().over("sector") - pl.col("time_s")
    gain = pl.col("_gain")
    candidates = [
        _moment(
            valid,
            kind="best_lap",
            title="Best lap",
            order_by=-pl.col("duration_s"),
            t_s=pl.col("t_end_s"),
            s_m=pl.lit(0.0),
            value=pl.col("duration_s"),
            unit="s",
            margin=pl.col("duration_s").median() - pl.col("duration_s"),
            detail=pl.format("lap {} in {} s", pl.col("lap"), pl.col("duration_s").round(3)),
        ),
        _moment(
            timed_sectors.with_columns(sector_gain.alias("_gain")),
            kind="best_sector",
            title="Best sector",
            order_by=gain,
            t_s=pl.col("t_end_s"),
            s_m=pl.col("s_end_m"),
            value=pl.col("time_s"),
            unit="s",
            margin=gain,
            detail=pl.format(
                "S{} in {} s on lap {}, {} s under its median",
                pl.col("sector"),
                pl.col("time_s").round(3),
                pl.col("lap"),
                gain.round(3),
            ),
        ),
        _peak_sample(
            telemetry,
            kind="max_speed",
            title="Top speed",
            value=pl.col("speed_kph"),
            unit="kph",
            shown="km/h",
            decimals=1,
            note=pl.lit(""),
        ),
        _best_corner_pass(
            passes,
            kind="biggest_gain",
            title="Biggest gain in a corner",
            gain=-_above_median("corner_time_s", "corner"),
            t_s="t_entry_s",
            s_m="min_speed_s_m",
            value="corner_time_s",
            unit="s",
            detail="{} s under its median",
            detail_values=(gain.round(3),),
        ),
        _best_corner_pass(
            passes,
            kind="latest_braking",
            title="Latest braking",
            gain=later_m,
            t_s="t_entry_s",
            s_m="brake_point_s_m",
            value="brake_point_s_m",
            unit="m",
            detail="braked {} m later than usual",
            detail_values=(gain.round(1),),
        ),
        _best_corner_pass(
            passes,
            kind="best_min_speed",
            title="Most speed carried through a corner",
            gain=_above_median("min_speed_kph", "corner"),
            t_s="min_speed_t_s",
            s_m="min_speed_s_m",
            value="min_speed_kph",
            unit="kph",
            detail="minimum {} km/h, {} above its median",
            detail_values=(pl.col("min_speed_kph").round(1), gain.round(1)),
        ),
        _best_corner_pass(
            passes,
            kind="best_exit_speed",
            title="Best corner exit",
            gain=_above_median("exit_speed_kph", "corner"),
            t_s="t_exit_s",
            s_m="min_speed_s_m",
            value="exit_speed_kph",
            unit="kph",
            detail="exit {} km/h, {} above its median",
            detail_values=(pl.col("exit_speed_kph").round(1), gain.round(1)),
        ),
        _peak_sample(
            telemetry,
            kind="max_lateral_g",
            title="Peak cornering force",
            value=pl.col("g_lat").abs(),
            unit="g",
            shown="g",
            decimals=2,
            note=derived_note,
        ),
        _peak_sample(
            telemetry,
            kind="max_braking_g",
            title="Hardest braking",
            value=-pl.col("g_long"),
            unit="g",
            shown="g",
            decimals=2,
            note=derived_note,
        ),
    ]
    return (
        pl.concat(
            [
                moment.with_columns(pl.lit(priority).alias("_priority"))
                for priority, moment in enumerate(candidates)
            ]
        )
        .sort("_priority")
        .head(limit)
        .with_columns(pl.int_range(1, pl.len() + 1, dtype=pl.Int32).alias("rank"))
        .select(list(HIGHLIGHT_COLUMNS))
    )
