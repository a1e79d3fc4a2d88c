"""Resample wide and tall signals onto one common axis (time or distance) — pure Polars, lazy in and out.

Two steps::

    samples = pick_samples(wide_lf, tall_lf, names=["speed_kph", "Oil_Temp"], axis="distance")
    out = resample_samples(samples, names=["speed_kph", "Oil_Temp"], step=5.0, interp="linear",
                           x_name="distance_m")

Output rows carry a provenance column ``source``: ``measured`` when a real sample lies on the grid point
(within ``1e-6 × step``), ``interpolated`` otherwise (linear between neighbours, or the previous sample held),
and null where the signal has no value — before its first or after its last sample (never extrapolated).
Discrete and counter channels (:func:`pitwall.schema.channel_kind`: gear, lap counters, flags) are always held,
whatever interpolation is asked for: gear 3 → 4 never reads 3.5.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Final, Literal

import polars as pl

from pitwall import schema

Axis = Literal["time", "distance"]
Interp = Literal["linear", "previous"]

AXIS_COLUMN: Final[dict[Axis, str]] = {"time": "t_s", "distance": "distance_m"}
"""The telemetry column each axis is measured in: seconds since session start, or metres of GPS distance."""

RESAMPLABLE: Final[frozenset[str]] = frozenset(
    name for name, dtype in schema.TELEMETRY.items() if dtype.is_numeric() and name != "frame_idx"
)
"""Wide canonical columns that can be resampled (numeric channels; not ids, ``frame_idx`` or ``utc``)."""

_TOLERANCE: Final = 1e-6
"""A sample within ``_TOLERANCE × step`` of a grid point counts as measured there."""

_SAMPLE_SCHEMA: Final[dict[str, pl.DataType]] = {
    "signal_name": pl.String(),
    "x": pl.Float64(),
    "value": pl.Float64(),
}

_OUTPUT_SCHEMA: Final[dict[str, pl.DataType]] = {
    "signal_name": pl.String(),
    "value": pl.Float64(),
    "source": pl.String(),
}
"""Columns of :func:`resample_samples` after the axis column."""


def pick_samples(
    wide: pl.LazyFrame,
    tall: pl.LazyFrame,
    *,
    names: Sequence[str],
    axis: Axis,
    t_from: float | None = None,
    t_to: float | None = None,
) -> pl.LazyFrame:
    """Long samples ``(signal_name, x, value)`` of ``names`` on ``axis``, sorted by name then ``x``.

    ``wide`` needs ``t_s`` (s), ``distance_m`` (m, for the distance axis) and the requested canonical columns
    (names in :data:`RESAMPLABLE`); ``tall`` needs ``signal_name``, ``t_s``, ``value`` (other names).
    Tall samples get their distance by linear interpolation of the wide ``distance_m`` over ``t_s``.
    ``t_from``/``t_to`` (s) keep only samples inside that time window (used for the distance axis; on the
    time axis pass the window to :func:`resample_samples` instead so edge points keep their neighbours).
    Samples with a null axis value or value are dropped; of several samples at the same ``x`` the last wins.
    """
    x_col = AXIS_COLUMN[axis]
    tall_names = [name for name in names if name not in RESAMPLABLE]
    picked = tall.filter(pl.col("signal_name").is_in(tall_names)).select("signal_name", "t_s", "value")
    tall_rows = (
        picked.with_columns(pl.col("t_s").alias("x")) if axis == "time" else _with_distance(picked, wide)
    )
    inside = pl.lit(True)
    if t_from is not None:
        inside &= pl.col("t_s") >= t_from
    if t_to is not None:
        inside &= pl.col("t_s") <= t_to

    def one(name: str) -> pl.LazyFrame:
        rows = (
            wide.select(pl.col(x_col).alias("x"), "t_s", pl.col(name).alias("value"))
            if name in RESAMPLABLE
            else tall_rows.filter(pl.col("signal_name") == name)
        )
        return (
            rows.filter(inside)
            .select(
                pl.lit(name, pl.String).alias("signal_name"),
                pl.col("x").cast(pl.Float64),
                pl.col("value").cast(pl.Float64),
            )
            .drop_nulls(["x", "value"])
            .sort("x", maintain_order=True)
            .unique(subset=["x"], keep="last", maintain_order=True)
        )

    return pl.concat([pl.LazyFrame(schema=_SAMPLE_SCHEMA), *(one(name) for name in sorted(set(names)))])


def _with_distance(tall: pl.LazyFrame, wide: pl.LazyFrame) -> pl.LazyFrame:
    """``tall`` with ``x`` = the wide ``distance_m`` linearly interpolated at each tall ``t_s``."""
    path = wide.select(
        pl.col("t_s"), pl.col("distance_m").alias("x"), pl.lit(False).alias("_tall")
    ).drop_nulls()
    rows = pl.concat(
        [tall.with_columns(pl.lit(None, pl.Float64).alias("x"), pl.lit(True).alias("_tall")), path],
        how="diagonal_relaxed",
    )
    return (
        rows.sort(["t_s", "_tall"])
        .with_columns(pl.col("x").interpolate_by("t_s"))
        .filter(pl.col("_tall"))
        .drop("_tall")
    )


def resample_samples(
    samples: pl.LazyFrame,
    *,
    names: Sequence[str],
    step: float,
    interp: Interp,
    x_name: str,
    x_from: float | None = None,
    x_to: float | None = None,
) -> pl.LazyFrame:
    """Resample long ``samples`` (``signal_name``, ``x``, ``value``; each name's samples sorted by ``x`` with
    distinct ``x``, as :func:`pick_samples` gives them) onto a regular grid.

    The grid runs from ``x_from`` (default: the smallest sample ``x``) to ``x_to`` (default: the largest) in
    steps of ``step`` (axis units: s or m). Every name of ``names`` gets every grid point (all-null when it
    has no samples). ``interp``: ``linear`` between the neighbouring samples or ``previous`` (sample-and-hold).
    Output columns: ``x_name`` (Float64), ``signal_name``, ``value`` (Float64), ``source`` (String:
    ``measured`` | ``interpolated`` | null), ordered by name (as in ``names``) then ``x``: one block of the
    same grid points per name. Names whose :func:`~pitwall.schema.channel_kind` is not ``continuous`` are held
    (``previous``) even when ``interp`` is ``linear``.
    """
    if step <= 0:
        raise ValueError(f"step must be positive, got {step}")
    start = pl.lit(x_from, pl.Float64) if x_from is not None else pl.col("x").min()
    end = pl.lit(x_to, pl.Float64) if x_to is not None else pl.col("x").max()
    count = ((end - start) / step + 1e-9).floor().cast(pl.Int64) + 1
    grid = samples.select((start + pl.int_range(0, count.fill_null(0).clip(lower_bound=0)) * step).alias("x"))
    parts = [
        _resample_one(
            grid,
            samples.filter(pl.col("signal_name") == name),
            name=name,
            hold=interp == "previous" or schema.channel_kind(name) != "continuous",
            tolerance=step * _TOLERANCE,
            x_name=x_name,
        )
        for name in names
    ]
    return pl.concat([pl.LazyFrame(schema={x_name: pl.Float64, **_OUTPUT_SCHEMA}), *parts])


def _resample_one(
    grid: pl.LazyFrame, samples: pl.LazyFrame, *, name: str, hold: bool, tolerance: float, x_name: str
) -> pl.LazyFrame:
    """One signal on ``grid`` (column ``x``): each grid point joined as of to the last sample at or before it
    and to the first sample after it (``samples``: that signal's ``x``, ``value``, sorted by ``x``), then
    measured (a neighbour within ``tolerance``), held (``hold``, or up to the last sample) or interpolated
    as :meth:`polars.Expr.interpolate_by` does (bit for bit: previous value + offset × slope)."""

    def neighbour(prefix: str) -> pl.LazyFrame:
        return samples.select("x", pl.col("x").alias(f"{prefix}_x"), pl.col("value").alias(f"{prefix}_v"))

    x, prev_x, prev_v, next_x, next_v = (pl.col(c) for c in ("x", "prev_x", "prev_v", "next_x", "next_v"))
    at_prev = (x - prev_x) <= tolerance
    at_next = (next_x - x) <= tolerance
    between = (
        pl.when(next_x.is_not_null()).then(prev_v)
        if hold
        else prev_v + (x - prev_x) * ((next_v - prev_v) / (next_x - prev_x))
    )
    return (
        grid.join_asof(neighbour("prev"), on="x", strategy="backward")
        .join_asof(neighbour("next"), on="x", strategy="forward", allow_exact_matches=False)
        .select(
            x.alias(x_name),
            pl.lit(name, pl.String).alias("signal_name"),
            pl.when(at_prev).then(prev_v).when(at_next).then(next_v).otherwise(between).alias("value"),
            (at_prev | at_next).fill_null(False).alias("_measured"),
        )
        .select(
            x_name,
            "signal_name",
            "value",
            pl.when(pl.col("value").is_null())
            .then(None)
            .when(pl.col("_measured"))
            .then(pl.lit("measured"))
            .otherwise(pl.lit("interpolated"))
            .alias("source"),
        )
    )
