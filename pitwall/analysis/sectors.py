"""Sector splits, the lap-time table, the lap-time distribution and the ideal lap (pure).

Sector ``k`` runs from ``track.sector_ends_m[k-1]`` (0 for the first) to ``track.sector_ends_m[k]`` along the
reference line (the last end is the start/finish line; a track without sectors has one sector, the lap).
Inner boundaries are timed where ``s_m`` passes them, interpolated between the two fixes either side:
``t = t1 + (b − s1)/(s2 − s1)·(t2 − t1)``; the outer boundaries are the lap's own start/finish crossing times.
Only ``flying`` laps get sector times. "Best" and "ideal" consider valid flying laps only.

Telemetry inputs need ``t_s`` (s), ``s_m`` (m, from ``add_track_position``) and ``lap`` (from
``add_lap_column``); lap inputs are lap tables (``schema.LAPS`` columns) from ``slice_laps``.
"""

from __future__ import annotations

import polars as pl

from pitwall.analysis.boxstats import tukey_box_exprs, tukey_fences
from pitwall.track import Track

FLYING = pl.col("kind") == "flying"
VALID_FLYING = FLYING & pl.col("valid")


def sector_ends_m(track: Track) -> tuple[float, ...]:
    """Where each sector ends along the lap (m); ``(track.length_m,)`` when the track defines none."""
    return tuple(track.sector_ends_m) or (float(track.length_m),)


def sector_table(track: Track) -> pl.LazyFrame:
    """The track's sectors: ``sector`` (Int32, from 1), ``s_start_m``, ``s_end_m`` (m)."""
    ends = sector_ends_m(track)
    return pl.LazyFrame(
        {
            "sector": pl.Series(range(1, len(ends) + 1), dtype=pl.Int32),
            "s_start_m": pl.Series((0.0, *ends[:-1]), dtype=pl.Float64),
            "s_end_m": pl.Series(ends, dtype=pl.Float64),
        }
    )


def sector_columns(track: Track) -> list[str]:
    """The wide sector-time column names of a track: ``s1_s``, ``s2_s``, …"""
    return [f"s{k}_s" for k in range(1, len(sector_ends_m(track)) + 1)]


def boundary_crossings(telemetry_lf: pl.LazyFrame, track: Track) -> pl.LazyFrame:
    """Per lap, the time (s) at which ``s_m`` first passes each inner sector boundary: ``lap``, ``b1_s``, …

    A fix pair counts only when both fixes are in the same lap, have ``s_m``, and ``s_m`` moves less than half
    a lap between them (which excludes the wrap at the start/finish line).
    """
    inner = sector_ends_m(track)[:-1]
    s, t = pl.col("s_m"), pl.col("t_s")
    s2, t2 = pl.col("__s2"), pl.col("__t2")
    pairs = (
        telemetry_lf.select("lap", "t_s", "s_m")
        .filter(pl.col("lap").is_not_null())
        .sort("t_s")
        .with_columns(s.shift(-1).over("lap").alias("__s2"), t.shift(-1).over("lap").alias("__t2"))
        .filter(s.is_not_null() & s2.is_not_null() & ((s2 - s).abs() < track.length_m / 2))
    )
    crossings = [
        pl.when((s < b) & (s2 >= b)).then(t + (b - s) / (s2 - s) * (t2 - t)).min().alias(f"b{k}_s")
        for k, b in enumerate(inner, start=1)
    ]
    return pairs.group_by("lap").agg(crossings).with_columns(pl.col("lap").cast(pl.Int32))


def sector_splits(telemetry_lf: pl.LazyFrame, laps_lf: pl.LazyFrame, track: Track) -> pl.LazyFrame:
    """Long sector table of flying laps: ``lap`` (Int32), ``sector`` (Int32, from 1), ``s_start_m``,
    ``s_end_m`` (m), ``t_start_s``, ``t_end_s`` (session time, s) and ``time_s`` (s; null when a boundary
    was not passed with a valid ``s_m``), ordered by lap and sector."""
    ends = sector_ends_m(track)
    flying = laps_lf.filter(FLYING).select(pl.col("lap").cast(pl.Int32), "t_start_s", "t_end_s")
    marks = flying.join(boundary_crossings(telemetry_lf, track), on="lap", how="left")
    edge = ["t_start_s", *[f"b{k}_s" for k in range(1, len(ends))], "t_end_s"]
    starts = (0.0, *ends[:-1])
    parts = [
        marks.select(
            "lap",
            pl.lit(k + 1, dtype=pl.Int32).alias("sector"),
            pl.lit(starts[k], dtype=pl.Float64).alias("s_start_m"),
            pl.lit(ends[k], dtype=pl.Float64).alias("s_end_m"),
            pl.col(edge[k]).alias("t_start_s"),
            pl.col(edge[k + 1]).alias("t_end_s"),
        )
        for k in range(len(ends))
    ]
    return (
        pl.concat(parts)
        .with_columns((pl.col("t_end_s") - pl.col("t_start_s")).alias("time_s"))
        .sort("lap", "sector")
    )


def sector_times(telemetry_lf: pl.LazyFrame, laps_lf: pl.LazyFrame, track: Track) -> pl.LazyFrame:
    """Wide sector times of flying laps: ``lap`` (Int32) and ``s1_s``, ``s2_s``, … (s), ordered by lap."""
    columns = sector_columns(track)
    return (
        sector_splits(telemetry_lf, laps_lf, track)
        .group_by("lap")
        .agg(
            pl.col("time_s").filter(pl.col("sector") == k).first().alias(c) for k, c in enumerate(columns, 1)
        )
        .sort("lap")
    )


def compare_sectors(splits_a: pl.LazyFrame, splits_b: pl.LazyFrame) -> pl.LazyFrame:
    """Lap B against lap A, sector by sector: ``sector``, ``s_start_m``, ``s_end_m`` (m, from A), ``a_s``,
    ``b_s`` (sector times, s) and ``gain_s`` = B − A (s; negative = B faster), ordered by sector.

    ``splits_a``, ``splits_b``: the :func:`sector_splits` rows (``sector``, ``s_start_m``, ``s_end_m``,
    ``time_s``) of one lap each; sectors missing from either lap are left out.
    """
    a = splits_a.select("sector", "s_start_m", "s_end_m", pl.col("time_s").alias("a_s"))
    b = splits_b.select("sector", pl.col("time_s").alias("b_s"))
    return a.join(b, on="sector").sort("sector").with_columns((pl.col("b_s") - pl.col("a_s")).alias("gain_s"))


def _is_best(value: str, eligible: pl.Expr) -> pl.Expr:
    """True on the eligible row with the smallest ``value`` (ties: the lowest lap number)."""
    mask = eligible & pl.col(value).is_not_null()
    best_lap = (
        pl.col("lap").filter(mask).sort_by(pl.col(value).filter(mask), pl.col("lap").filter(mask)).first()
    )
    return (pl.col("lap") == best_lap).fill_null(False)


def lap_time_table(telemetry_lf: pl.LazyFrame, laps_lf: pl.LazyFrame, track: Track) -> pl.LazyFrame:
    """Every lap with its sector times and best flags, in lap order.

    Columns: ``lap``, ``kind``, ``method``, ``valid``, ``reason``, ``t_start_s``, ``t_end_s``, ``duration_s``
    (s), ``distance_m`` (m), ``s1_s``… (s; null except on flying laps), ``delta_to_best_s`` (flying laps: duration
    minus the best valid flying lap, s), ``is_best_lap``, ``is_best_s1``… (Boolean; over valid flying laps).
    """
    columns = sector_columns(track)
    laps = laps_lf.select(
        pl.col("lap").cast(pl.Int32),
        "kind",
        "method",
        "valid",
        "reason",
        "t_start_s",
        "t_end_s",
        "duration_s",
        "distance_m",
    )
    best_time = pl.col("duration_s").filter(VALID_FLYING).min()
    return (
        laps.join(sector_times(telemetry_lf, laps_lf, track), on="lap", how="left")
        .sort("lap")
        .with_columns(
            pl.when(FLYING).then(pl.col("duration_s") - best_time).alias("delta_to_best_s"),
            _is_best("duration_s", VALID_FLYING).alias("is_best_lap"),
            *[_is_best(c, VALID_FLYING).alias(f"is_best_{c.removesuffix('_s')}") for c in columns],
        )
    )


def lap_time_distribution(laps_lf: pl.LazyFrame) -> pl.LazyFrame:
    """Tukey box of the valid flying lap times (one row): ``boxstats.BOX_COLUMNS`` (s) + ``outlier_laps``."""
    lower, upper = tukey_fences("duration_s")
    d = pl.col("duration_s")
    return laps_lf.filter(VALID_FLYING).select(
        *tukey_box_exprs("duration_s"),
        pl.col("lap").cast(pl.Int32).filter((d < lower) | (d > upper)).sort().implode().alias("outlier_laps"),
    )


def ideal_lap(telemetry_lf: pl.LazyFrame, laps_lf: pl.LazyFrame, track: Track) -> pl.LazyFrame:
    """Σ best sectors over valid flying laps: one row per sector with ``sector`` (Int32), ``s_start_m``,
    ``s_end_m`` (m), ``best_s`` (s), ``lap`` (Int32, where it came from; ties → lowest lap) and the sum
    ``ideal_lap_s`` (s, repeated on every row; null if a sector has no time)."""
    valid = laps_lf.filter(VALID_FLYING).select(pl.col("lap").cast(pl.Int32))
    best = (
        sector_splits(telemetry_lf, laps_lf, track)
        .join(valid, on="lap", how="semi")
        .filter(pl.col("time_s").is_not_null())
        .sort("sector", "time_s", "lap")
        .group_by("sector")
        .agg(pl.col("time_s").first().alias("best_s"), pl.col("lap").first())
    )
    return (
        sector_table(track)
        .join(best, on="sector", how="left")
        .sort("sector")
        .with_columns(
            pl.when(pl.col("best_s").null_count() == 0).then(pl.col("best_s").sum()).alias("ideal_lap_s")
        )
    )
