"""The achievable optimal lap: best mini-sectors stitched only where the laps agree at the seams (pure).

Σ best sectors (``sectors.ideal_lap``) glues pieces of laps that may not fit together: a car that left one
corner wide and fast cannot start the next piece tight and slow. Here every lap trace (``delta.lap_traces``)
is cut into mini-sectors of ``segment_m`` metres; a switch from lap *a* to lap *b* at a seam is allowed only
when the two laps agree there in lateral position (``|Δ offset_m| ≤ 1.5 m``), speed (within 3 % of the faster)
and heading (within 5°). The fastest chain of mini-sectors under that rule (dynamic programming over laps ×
mini-sectors; staying on one lap is always allowed, so the result is never slower than the best lap) is the
*achievable optimal lap*. The unconstrained Σ of best mini-sectors is reported next to it.

A criterion whose channel the traces lack entirely (no ``offset_m`` without a track position, no
``heading_deg`` …) is not checked; a null value at a seam forbids switching there.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import partial
from typing import Final

import numpy as np
import polars as pl

from pitwall.analysis.delta import stitch_traces

DEFAULT_SEGMENT_M: Final = 100.0
SEAM_CHANNELS: Final = ("offset_m", "speed_kph", "heading_deg")


@dataclass(frozen=True)
class SeamTolerance:
    """How closely two laps must agree at a seam to be joined there."""

    offset_m: float = 1.5
    speed_frac: float = 0.03
    heading_deg: float = 5.0


def mini_sector_times(traces_lf: pl.LazyFrame, *, segment_m: float = DEFAULT_SEGMENT_M) -> pl.LazyFrame:
    """Mini-sector times of lap traces: ``lap``, ``seg`` (Int32 from 1), ``s_start_m``, ``s_end_m`` (m),
    ``time_s`` (s) and the seam channels (``offset_m``, ``speed_kph``, ``heading_deg`` when the traces have them)
    at ``s_start_m``. Boundaries are the grid points at multiples of ``segment_m`` plus the lap end."""
    if segment_m <= 0:
        raise ValueError(f"segment_m must be positive, got {segment_m}")
    seam = [c for c in SEAM_CHANNELS if c in traces_lf.collect_schema().names()]
    s = pl.col("s_m")
    on_boundary = ((s / segment_m).round() * segment_m - s).abs() < 1e-6
    return (
        traces_lf.filter(on_boundary | (s == s.max()))
        .sort("lap", "s_m")
        .with_columns(
            s.shift(-1).over("lap").alias("s_end_m"),
            (pl.col("t_s").shift(-1).over("lap") - pl.col("t_s")).alias("time_s"),
        )
        .filter(pl.col("s_end_m").is_not_null())
        .select(
            pl.col("lap").cast(pl.Int32),
            pl.int_range(1, pl.len() + 1, dtype=pl.Int32).over("lap").alias("seg"),
            pl.col("s_m").alias("s_start_m"),
            "s_end_m",
            "time_s",
            *seam,
        )
    )


def _choose(df: pl.DataFrame, *, tol: SeamTolerance, seam: tuple[str, ...]) -> pl.DataFrame:
    """Dynamic programme over (mini-sector, lap) on the materialised mini-sector table (small: laps × segs)."""
    laps = np.sort(df["lap"].unique().to_numpy())
    segs = df.select("seg", "s_start_m", "s_end_m").unique("seg").sort("seg")
    n_seg, n_lap = segs.height, laps.size
    wide = {
        name: df.pivot(on="lap", index="seg", values=name, sort_columns=True)
        .sort("seg")
        .select([str(lap) for lap in laps])
        .to_numpy()
        .astype(np.float64)
        for name in ("time_s", *seam)
        if n_lap
    }
    times = np.where(np.isfinite(wide["time_s"]), wide["time_s"], np.inf) if n_lap else np.zeros((0, 0))
    cost = np.full((n_seg, n_lap), np.inf)
    back = np.zeros((n_seg, n_lap), dtype=np.int64)
    if n_seg and n_lap:
        cost[0] = times[0]
        back[0] = np.arange(n_lap)
    for j in range(1, n_seg):
        ok = np.ones((n_lap, n_lap), dtype=bool)  # ok[a, b]: from lap a into lap b at seam j
        if "offset_m" in seam:
            o = wide["offset_m"][j]
            ok &= np.abs(o[:, None] - o[None, :]) <= tol.offset_m
        if "speed_kph" in seam:
            v = wide["speed_kph"][j]
            ok &= np.abs(v[:, None] - v[None, :]) <= tol.speed_frac * np.maximum(v[:, None], v[None, :])
        if "heading_deg" in seam:
            h = wide["heading_deg"][j]
            ok &= np.abs((h[:, None] - h[None, :] + 180.0) % 360.0 - 180.0) <= tol.heading_deg
        np.fill_diagonal(ok, True)
        prev = np.where(ok, cost[j - 1][:, None], np.inf)  # [a, b]
        prev[np.arange(n_lap), np.arange(n_lap)] -= 1e-9  # ties: stay on the same lap
        back[j] = np.argmin(prev, axis=0)
        cost[j] = prev[back[j], np.arange(n_lap)] + times[j]
        cost[j][~np.isfinite(cost[j])] = np.inf
    chosen = np.zeros(n_seg, dtype=np.int64)
    if n_seg and n_lap and np.isfinite(cost[-1]).any():
        chosen[-1] = int(np.argmin(cost[-1]))
        for j in range(n_seg - 1, 0, -1):
            chosen[j - 1] = back[j][chosen[j]]
        feasible = True
    else:
        feasible = False
    best_idx = np.argmin(times, axis=1) if n_lap else np.zeros(n_seg, dtype=np.int64)
    rows = np.arange(n_seg)
    return pl.DataFrame(
        {
            "seg": segs["seg"],
            "s_start_m": segs["s_start_m"],
            "s_end_m": segs["s_end_m"],
            "lap": pl.Series(laps[chosen] if feasible else [None] * n_seg, dtype=pl.Int32),
            "time_s": pl.Series(times[rows, chosen] if feasible else [None] * n_seg, dtype=pl.Float64),
            "best_time_s": pl.Series(
                np.where(np.isfinite(times[rows, best_idx]), times[rows, best_idx], np.nan) if n_lap else [],
                dtype=pl.Float64,
            ).fill_nan(None),
            "best_lap": pl.Series(laps[best_idx] if n_lap else [], dtype=pl.Int32),
        }
    )


def optimal_pieces(mini_lf: pl.LazyFrame, *, tolerance: SeamTolerance = SeamTolerance()) -> pl.LazyFrame:
    """The achievable optimal chain from :func:`mini_sector_times`: one row per mini-sector with ``seg``,
    ``s_start_m``, ``s_end_m`` (m), ``lap`` (Int32, the lap it is taken from), ``time_s`` (s), and the
    unconstrained ``best_time_s`` (s) / ``best_lap`` of that mini-sector. Σ ``time_s`` is the achievable optimal
    lap, Σ ``best_time_s`` the plain Σ best mini-sectors. The programme runs in one ``map_batches`` node."""
    seam = tuple(c for c in SEAM_CHANNELS if c in mini_lf.collect_schema().names())
    out_schema = pl.Schema(
        {
            "seg": pl.Int32(),
            "s_start_m": pl.Float64(),
            "s_end_m": pl.Float64(),
            "lap": pl.Int32(),
            "time_s": pl.Float64(),
            "best_time_s": pl.Float64(),
            "best_lap": pl.Int32(),
        }
    )
    return mini_lf.map_batches(partial(_choose, tol=tolerance, seam=seam), schema=out_schema)


def optimal_summary(pieces_lf: pl.LazyFrame) -> pl.LazyFrame:
    """One row: ``optimal_lap_s`` (achievable, s), ``sum_best_mini_sectors_s`` (s), ``n_segments``,
    ``n_switches`` (how many seams change lap) and ``laps_used`` (sorted lap numbers)."""
    return pieces_lf.sort("seg").select(
        pl.when(pl.col("time_s").null_count() == 0).then(pl.col("time_s").sum()).alias("optimal_lap_s"),
        pl.when(pl.col("best_time_s").null_count() == 0)
        .then(pl.col("best_time_s").sum())
        .alias("sum_best_mini_sectors_s"),
        pl.len().cast(pl.Int32).alias("n_segments"),
        (pl.col("lap") != pl.col("lap").shift(1)).sum().cast(pl.Int32).alias("n_switches"),
        pl.col("lap").drop_nulls().unique().sort().implode().alias("laps_used"),
    )


def optimal_trace(traces_lf: pl.LazyFrame, pieces_lf: pl.LazyFrame) -> pl.LazyFrame:
    """The achievable optimal lap as one stitched trace (see ``delta.stitch_traces``)."""
    return stitch_traces(traces_lf, pieces_lf.select("lap", "s_start_m", "s_end_m"))
