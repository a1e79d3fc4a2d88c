"""Hustle map: where on the lap the driver is flat out (pure Polars).

The lap is cut into ``bin_m`` segments of ``s_m``; per segment, the share of *time* (each sample weighted by
``dt_s``, see :func:`pitwall.analysis.pedals.add_sample_dt`) spent at full throttle (``throttle_pct ≥ full_th``).
"""

from __future__ import annotations

import polars as pl

from pitwall.analysis.pedals import add_sample_dt, throttle_logged_expr


def hustle_map(
    lf: pl.LazyFrame, *, length_m: float, bin_m: float = 50.0, full_th: float = 98.0
) -> pl.LazyFrame:
    """Full-throttle time fraction per ``bin_m``-metre segment of the lap.

    Requires ``t_s`` (s, ordered), ``s_m`` (m; rows without it are skipped), ``throttle_pct`` (%), ``lap``.
    Output per segment with samples, by position: ``segment`` (0-based), ``s_from_m``, ``s_to_m`` (m; the last
    segment ends at ``length_m``), ``time_s`` (seconds spent in the segment over all laps), ``full_throttle_s``,
    ``full_throttle_frac`` (0..1) — both null in a segment with no throttle value (not logged is not 0 %),
    ``n_laps`` (laps with samples in the segment).
    """
    dt = pl.col("dt_s")
    full = pl.col("throttle_pct").fill_null(0.0) >= full_th
    return (
        add_sample_dt(lf)
        .filter(pl.col("s_m").is_not_null())
        .with_columns((pl.col("s_m") // bin_m).cast(pl.Int32).alias("segment"))
        .group_by("segment")
        .agg(
            dt.sum().alias("time_s"),
            pl.when(throttle_logged_expr()).then(dt.filter(full).sum()).alias("full_throttle_s"),
            pl.col("lap").drop_nulls().n_unique().cast(pl.Int32).alias("n_laps"),
        )
        .select(
            "segment",
            (pl.col("segment") * bin_m).cast(pl.Float64).alias("s_from_m"),
            ((pl.col("segment") + 1) * bin_m).cast(pl.Float64).clip(upper_bound=length_m).alias("s_to_m"),
            "time_s",
            "full_throttle_s",
            pl.when(pl.col("time_s") > 0)
            .then(pl.col("full_throttle_s") / pl.col("time_s"))
            .otherwise(None)
            .alias("full_throttle_frac"),
            "n_laps",
        )
        .sort("segment")
    )
