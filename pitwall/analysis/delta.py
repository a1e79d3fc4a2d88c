"""Lap traces on a common distance grid, delta-T, stitched reference laps and braking points (pure).

A *trace* is one lap resampled on the track-position grid of :func:`s_grid` (every ``step_m`` metres of
``s_m`` plus the sector ends and the lap length): columns ``lap`` (Int32), ``i`` (Int32 grid index), ``s_m``
(m), ``t_s`` (s since the lap's start crossing, linearly interpolated in ``s_m`` between fixes) and the
channels of :data:`TRACE_CHANNELS` present in the telemetry (interpolated the same way), plus ``heading_deg``
(interpolated as a unit vector). Every trace value is interpolated, none is a raw measurement.

Lap position is ``s_m`` unwrapped within the lap; the lap's timing crossings are anchored at ``s = 0``
(``t = 0``) and ``s = track.length_m`` (``t = duration_s``), so a trace's time at the line is the lap time and
the delta at the line is exactly the lap-time difference. (With a VBO gate away from the track's ``s = 0`` the
first and last metres are stretched equally on every lap using that gate.) Fixes where ``s_m`` does not
advance are skipped so time stays a function of position.

``delta_s = t_lap(s) − t_ref(s)``: positive means the lap is slower than the reference at that point.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Final

import numpy as np
import polars as pl

from pitwall.schema import G0
from pitwall.track import Track

DEFAULT_STEP_M: Final = 2.0
TRACE_CHANNELS: Final = ("speed_kph", "offset_m", "throttle_pct", "brake_bar", "brake_pct", "g_long")
"""Telemetry channels carried into traces when the telemetry has them (units as in ``pitwall.schema``)."""

BRAKE_BAR_MIN: Final = 5.0
BRAKE_PCT_MIN: Final = 10.0
DECEL_G_MIN: Final = 0.3
BRAKE_LOOKBACK_M: Final = 300.0


def s_grid(track: Track, *, step_m: float = DEFAULT_STEP_M) -> pl.LazyFrame:
    """The common position grid: ``i`` (Int32) and ``s_m`` — every ``step_m`` m from 0, the sector ends and
    ``track.length_m`` (so sector and lap boundaries are grid points)."""
    if step_m <= 0:
        raise ValueError(f"step_m must be positive, got {step_m}")
    s = np.unique(
        np.concatenate([np.arange(0.0, track.length_m, step_m), track.sector_ends_m, [track.length_m]])
    )
    s = s[(s >= 0.0) & (s <= track.length_m)]
    return pl.LazyFrame(
        {"i": pl.Series(np.arange(s.size), dtype=pl.Int32), "s_m": pl.Series(s, dtype=pl.Float64)}
    )


def lap_traces(
    telemetry_lf: pl.LazyFrame,
    laps_lf: pl.LazyFrame,
    track: Track,
    *,
    laps: Sequence[int] | None = None,
    step_m: float = DEFAULT_STEP_M,
) -> pl.LazyFrame:
    """Traces (see the module doc) of the flying laps in ``laps`` (all flying laps when ``None``).

    Requires ``lap``, ``t_s``, ``s_m`` in ``telemetry_lf`` (channels of :data:`TRACE_CHANNELS` and
    ``heading_deg`` optional) and a lap table ``laps_lf``. Ordered by lap and ``i``.
    """
    length = float(track.length_m)
    available = telemetry_lf.collect_schema().names()
    channels = [c for c in TRACE_CHANNELS if c in available]
    has_heading = "heading_deg" in available
    chosen = laps_lf.filter(pl.col("kind") == "flying")
    if laps is not None:
        chosen = chosen.filter(pl.col("lap").is_in(list(laps)))
    chosen = chosen.select(pl.col("lap").cast(pl.Int32), pl.col("t_start_s").alias("__t0"), "duration_s")

    s = pl.col("s_m")
    ds = s.diff().over("lap")
    ds = pl.when(ds < -length / 2).then(ds + length).when(ds > length / 2).then(ds - length).otherwise(ds)
    s0 = s.first().over("lap")
    s0 = pl.when(s0 > length / 2).then(s0 - length).otherwise(s0)
    heading = (
        [
            pl.col("heading_deg").radians().sin().alias("__hx"),
            pl.col("heading_deg").radians().cos().alias("__hy"),
        ]
        if has_heading
        else []
    )
    samples = (
        telemetry_lf.select(pl.col("lap").cast(pl.Int32), "t_s", "s_m", *channels, *heading)
        .join(chosen, on="lap", how="inner")
        .filter(s.is_not_null())
        .sort("lap", "t_s")
        .with_columns((s0 + ds.fill_null(0.0).cum_sum().over("lap")).alias("s_m"))
        .filter((s > s.cum_max().shift(1).over("lap")).fill_null(True) & (s > 0.0) & (s < length))
        .with_columns((pl.col("t_s") - pl.col("__t0")).alias("t_s"), pl.lit(None, dtype=pl.Int32).alias("i"))
        .drop("__t0", "duration_s")
    )
    anchors = pl.concat(
        [
            chosen.select("lap", pl.lit(0.0).alias("s_m"), pl.lit(0.0).alias("t_s")),
            chosen.select("lap", pl.lit(length).alias("s_m"), pl.col("duration_s").alias("t_s")),
        ]
    ).with_columns(pl.lit(None, dtype=pl.Int32).alias("i"))
    grid = chosen.select("lap").join(s_grid(track, step_m=step_m), how="cross")
    values = ["t_s", *channels, *(["__hx", "__hy"] if has_heading else [])]
    out = (
        pl.concat([samples, anchors, grid], how="diagonal_relaxed")
        .sort("lap", "s_m", pl.col("i").is_not_null())
        .with_columns(pl.col(c).interpolate_by("s_m").over("lap") for c in values)
        .with_columns(
            pl.col(c).fill_null(strategy="forward").fill_null(strategy="backward").over("lap") for c in values
        )
        .filter(pl.col("i").is_not_null())
    )
    if has_heading:
        h = pl.arctan2("__hx", "__hy").degrees() % 360.0
        out = out.with_columns(pl.when(h >= 360.0).then(h - 360.0).otherwise(h).alias("heading_deg"))
    return out.select("lap", "i", "s_m", "t_s", *channels, *(["heading_deg"] if has_heading else [])).sort(
        "lap", "i"
    )


def delta_t(trace_lf: pl.LazyFrame, ref_trace_lf: pl.LazyFrame) -> pl.LazyFrame:
    """Delta-T of one lap trace against a reference trace on the same grid.

    Columns: ``i``, ``s_m`` (m), ``t_s``, ``ref_t_s`` (s since each lap's start), ``delta_s`` (s, ``t − ref``,
    positive = slower), ``speed_kph``, ``ref_speed_kph`` (when both traces have speed), ordered by ``i``.
    """
    with_speed = all("speed_kph" in lf.collect_schema().names() for lf in (trace_lf, ref_trace_lf))
    speed = ["speed_kph"] if with_speed else []
    ref = ref_trace_lf.select(
        "i", pl.col("t_s").alias("ref_t_s"), *[pl.col(c).alias(f"ref_{c}") for c in speed]
    )
    return (
        trace_lf.select("i", "s_m", "t_s", *speed)
        .join(ref, on="i", how="inner")
        .with_columns((pl.col("t_s") - pl.col("ref_t_s")).alias("delta_s"))
        .select("i", "s_m", "t_s", "ref_t_s", "delta_s", *speed, *[f"ref_{c}" for c in speed])
        .sort("i")
    )


def stitch_traces(traces_lf: pl.LazyFrame, pieces_lf: pl.LazyFrame) -> pl.LazyFrame:
    """One continuous trace made of pieces of several laps (ideal / optimal laps).

    ``pieces_lf``: ``lap``, ``s_start_m``, ``s_end_m`` (grid points of ``traces_lf``), contiguous from 0 to the
    lap length. Inside piece ``k`` the time is ``Σ earlier piece times + t_lap(s) − t_lap(s_start)``; other
    channels come from the piece's lap, and ``lap`` says which lap each point came from.
    """
    times = traces_lf.select("lap", "s_m", "t_s")
    pieces = (
        pieces_lf.select(pl.col("lap").cast(pl.Int32), "s_start_m", "s_end_m")
        .join(times.rename({"s_m": "s_start_m", "t_s": "__ta"}), on=["lap", "s_start_m"], how="left")
        .join(times.rename({"s_m": "s_end_m", "t_s": "__tb"}), on=["lap", "s_end_m"], how="left")
        .sort("s_start_m")
        .with_columns((pl.col("__tb") - pl.col("__ta")).alias("__dt"))
        .with_columns((pl.col("__dt").cum_sum() - pl.col("__dt")).alias("__base"))
        .select(pl.col("lap").alias("__src"), "s_start_m", "__ta", "__base")
    )
    grid = traces_lf.select("i", "s_m").unique("i").sort("s_m")
    return (
        grid.join_asof(pieces, left_on="s_m", right_on="s_start_m", strategy="backward")
        .join(traces_lf.drop("s_m"), left_on=["__src", "i"], right_on=["lap", "i"], how="inner")
        .with_columns(
            (pl.col("__base") + pl.col("t_s") - pl.col("__ta")).alias("t_s"), pl.col("__src").alias("lap")
        )
        .drop("__src", "s_start_m", "__ta", "__base")
        .select("lap", "i", "s_m", pl.all().exclude("lap", "i", "s_m"))
        .sort("i")
    )


def corner_table(track: Track, *, lookback_m: float = BRAKE_LOOKBACK_M) -> pl.LazyFrame:
    """Braking windows per corner: ``corner`` (turn label), ``s_apex_m``, ``s_from_m`` = the latest of
    ``s_entry_m − lookback_m``, the previous corner's apex and the lap start (m)."""
    corners = sorted(track.corners, key=lambda c: c.s_apex_m)
    apexes = [c.s_apex_m for c in corners]
    return pl.LazyFrame(
        {
            "corner": pl.Series([c.number for c in corners], dtype=pl.String),
            "s_apex_m": pl.Series(apexes, dtype=pl.Float64),
            "s_from_m": pl.Series(
                [
                    max(c.s_entry_m - lookback_m, prev, 0.0)
                    for c, prev in zip(corners, [0.0, *apexes[:-1]], strict=True)
                ],
                dtype=pl.Float64,
            ),
        }
    )


def brake_level_expr(
    *,
    brake_bar_min: float = BRAKE_BAR_MIN,
    brake_pct_min: float = BRAKE_PCT_MIN,
    decel_g_min: float = DECEL_G_MIN,
) -> pl.Expr:
    """Braking intensity relative to its threshold (≥ 1 = braking) from the best signal of each row:
    ``brake_bar / brake_bar_min``, else ``brake_pct / brake_pct_min``, else ``−g_long / decel_g_min``, else the
    deceleration from speed along the trace, ``−v·dv/ds / g0`` smoothed over 5 grid points. Needs a trace with
    ``speed_kph``; the brake/g columns are used when present (per lap, over ``lap``)."""
    v = pl.col("speed_kph") / 3.6
    decel = (
        (-(v * v.diff() / pl.col("s_m").diff()) / G0).rolling_mean(5, min_samples=1, center=True).over("lap")
    )
    return pl.coalesce(
        pl.col("brake_bar") / brake_bar_min,
        pl.col("brake_pct") / brake_pct_min,
        -pl.col("g_long") / decel_g_min,
        decel / decel_g_min,
    )


def braking_points(
    traces_lf: pl.LazyFrame,
    track: Track,
    *,
    brake_bar_min: float = BRAKE_BAR_MIN,
    brake_pct_min: float = BRAKE_PCT_MIN,
    decel_g_min: float = DECEL_G_MIN,
    lookback_m: float = BRAKE_LOOKBACK_M,
) -> pl.LazyFrame:
    """Per lap and corner, the first braking onset before the apex: ``lap``, ``corner``, ``s_brake_m`` (m,
    interpolated where the level of :func:`brake_level_expr` rises through 1), ``speed_kph`` there (km/h).

    Searches each corner's window of :func:`corner_table`; braking carried on from the previous corner is not
    an onset. Corners without an onset in their window are absent.
    Requires traces with ``speed_kph`` (see :func:`lap_traces`).
    """
    names = traces_lf.collect_schema().names()
    missing = [
        pl.lit(None, dtype=pl.Float64).alias(c)
        for c in ("brake_bar", "brake_pct", "g_long")
        if c not in names
    ]
    level = brake_level_expr(
        brake_bar_min=brake_bar_min, brake_pct_min=brake_pct_min, decel_g_min=decel_g_min
    )
    rows = (
        traces_lf.with_columns(missing)
        .sort("lap", "i")
        .with_columns(level.alias("__b"))
        .with_columns(
            pl.col("__b").shift(1).over("lap").alias("__b0"),
            pl.col("s_m").shift(1).over("lap").alias("__s0"),
            pl.col("speed_kph").shift(1).over("lap").alias("__v0"),
        )
        .filter((pl.col("__b") >= 1.0) & (pl.col("__b0") < 1.0))  # onsets only
    )
    frac = (1.0 - pl.col("__b0")) / (pl.col("__b") - pl.col("__b0"))
    return (
        rows.join(corner_table(track, lookback_m=lookback_m), how="cross")
        .filter((pl.col("__s0") >= pl.col("s_from_m")) & (pl.col("s_m") <= pl.col("s_apex_m")))
        .group_by("lap", "corner")
        .agg(pl.all().sort_by("s_m").first())
        .select(
            "lap",
            "corner",
            (pl.col("__s0") + frac * (pl.col("s_m") - pl.col("__s0"))).alias("s_brake_m"),
            (pl.col("__v0") + frac * (pl.col("speed_kph") - pl.col("__v0"))).alias("speed_kph"),
            "s_apex_m",
        )
        .sort("lap", "s_apex_m")
        .drop("s_apex_m")
    )


def braking_delta(points_lf: pl.LazyFrame, ref_points_lf: pl.LazyFrame) -> pl.LazyFrame:
    """Brake points of one lap against a reference lap, per corner present in both: ``corner``,
    ``s_brake_m``, ``ref_s_brake_m`` (m), ``delta_m`` (m, ``s − ref``: positive = brakes later / deeper),
    in the lap's corner order."""
    ref = ref_points_lf.select("corner", pl.col("s_brake_m").alias("ref_s_brake_m"))
    return (
        points_lf.select("corner", "s_brake_m")
        .join(ref, on="corner", how="inner", maintain_order="left")
        .with_columns((pl.col("s_brake_m") - pl.col("ref_s_brake_m")).alias("delta_m"))
    )
