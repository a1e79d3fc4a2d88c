"""Straight-line speed: top speed per named straight per lap (pure Polars).

A straight is ``[s_start_m, s_end_m]`` of the track (it may cross the start/finish line: then it is counted
in the lap in which it starts, see :func:`pitwall.analysis.corners.slice_track_windows`).
"""

from __future__ import annotations

from typing import Final

import polars as pl

from pitwall.analysis.corners import slice_track_windows
from pitwall.track import Track

STRAIGHT_PASS_COLUMNS: Final[dict[str, pl.DataType]] = {
    "lap": pl.Int32(),
    "straight": pl.String(),
    "straight_idx": pl.Int32(),
    "top_speed_kph": pl.Float64(),
    "top_speed_s_m": pl.Float64(),
    "top_speed_t_s": pl.Float64(),
    "entry_speed_kph": pl.Float64(),
}
"""Output columns of :func:`straight_speeds`."""


def straight_windows(track: Track) -> pl.DataFrame:
    """The track's straights: ``straight`` (name), ``straight_idx`` (order along the lap), ``win_start_m``,
    ``win_end_m`` (metres; the end is continued by ``length_m`` when the straight crosses the line)."""
    ordered = sorted(track.straights, key=lambda st: st.s_start_m)
    return pl.DataFrame(
        {
            "straight": [st.name for st in ordered],
            "straight_idx": list(range(len(ordered))),
            "win_start_m": [st.s_start_m for st in ordered],
            "win_end_m": [
                st.s_end_m + (track.length_m if st.s_end_m < st.s_start_m else 0.0) for st in ordered
            ],
        },
        schema={
            "straight": pl.String,
            "straight_idx": pl.Int32,
            "win_start_m": pl.Float64,
            "win_end_m": pl.Float64,
        },
    )


def straight_speeds(lf: pl.LazyFrame, track: Track, *, gap_m: float = 25.0) -> pl.LazyFrame:
    """Top speed on each named straight per lap (:data:`STRAIGHT_PASS_COLUMNS`).

    ``top_speed_kph`` is the highest ``speed_kph`` sample on the straight, ``top_speed_s_m``/``top_speed_t_s``
    where and when (metres of ``s_m``, seconds), ``entry_speed_kph`` the speed of the sample nearest the start. A pass counts only
    when samples reach within ``gap_m`` metres of both ends. Requires ``t_s``, ``s_m``, ``lap``, ``speed_kph``.
    Output sorted by lap, straight order.
    """
    length = track.length_m
    windows = straight_windows(track)
    rows = slice_track_windows(lf, windows, length_m=length)
    u = pl.col("u_m")
    at_top = pl.col("speed_kph").arg_max()
    covered = (u.min() <= pl.col("win_start_m").first() + gap_m) & (
        u.max() >= pl.col("win_end_m").first() - gap_m
    )
    return (
        rows.group_by("pass_lap", "straight")
        .agg(
            pl.col("straight_idx").first(),
            covered.alias("_covered"),
            pl.col("speed_kph").max().alias("top_speed_kph"),
            u.get(at_top).alias("_top_u"),
            pl.col("t_s").get(at_top).alias("top_speed_t_s"),
            pl.col("speed_kph").get(u.arg_min()).alias("entry_speed_kph"),
        )
        .filter(pl.col("_covered"))
        .select(
            pl.col("pass_lap").alias("lap"),
            "straight",
            "straight_idx",
            "top_speed_kph",
            (pl.col("_top_u") % length).alias("top_speed_s_m"),
            "top_speed_t_s",
            "entry_speed_kph",
        )
        .cast(STRAIGHT_PASS_COLUMNS)  # type: ignore[arg-type]
        .sort("lap", "straight_idx")
    )


def straight_summary(passes: pl.LazyFrame) -> pl.LazyFrame:
    """Per straight over laps: ``straight``, ``straight_idx``, ``n_laps``, ``best_top_speed_kph``, ``best_lap``,
    ``mean_top_speed_kph``, ``std_top_speed_kph`` (km/h). Requires :data:`STRAIGHT_PASS_COLUMNS`."""
    return (
        passes.group_by("straight")
        .agg(
            pl.col("straight_idx").first(),
            pl.len().cast(pl.Int32).alias("n_laps"),
            pl.col("top_speed_kph").max().alias("best_top_speed_kph"),
            pl.col("lap").sort_by("top_speed_kph", descending=True).first().alias("best_lap"),
            pl.col("top_speed_kph").mean().alias("mean_top_speed_kph"),
            pl.col("top_speed_kph").std().alias("std_top_speed_kph"),
        )
        .sort("straight_idx")
    )
