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
    wide_names = [name for name in names if name in RESAMPLABLE]
    tall_names = [name for name in names if name not in RESAMPLABLE]
    parts = [pl.LazyFrame(schema=_SAMPLE_SCHEMA)]
    if wide_names:
        parts.append(
            wide.select(
                pl.col(x_col).cast(pl.Float64).alias("x"),
                "t_s",
                *[pl.col(n).cast(pl.Float64) for n in wide_names],
            ).unpivot(index=["x", "t_s"], on=wide_names, variable_name="signal_name", value_name="value")
        )
    if tall_names:
        picked = tall.filter(pl.col("signal_name").is_in(tall_names)).select("signal_name", "t_s", "value")
        parts.append(
            picked.with_columns(pl.col("t_s").alias("x")) if axis == "time" else _with_distance(picked, wide)
        )
    samples = pl.concat(parts, how="diagonal_relaxed")
    if t_from is not None:
        samples = samples.filter(pl.col("t_s") >= t_from)
    if t_to is not None:
        samples = samples.filter(pl.col("t_s") <= t_to)
    return (
        samples.select(*_SAMPLE_SCHEMA)
        .drop_nulls(["x", "value"])
        .sort(["signal_name", "x"], maintain_order=True)
        .unique(subset=["signal_name", "x"], keep="last", maintain_order=True)
    )


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
    """Resample long ``samples`` (``signal_name``, ``x``, ``value``, sorted) onto a regular grid.

    The grid runs from ``x_from`` (default: the smallest sample ``x``) to ``x_to`` (default: the largest) in
    steps of ``step`` (axis units: s or m). Every name of ``names`` gets every grid point (all-null when it
    has no samples). ``interp``: ``linear`` between the neighbouring samples or ``previous`` (sample-and-hold).
    Output columns: ``x_name`` (Float64), ``signal_name``, ``value`` (Float64), ``source`` (String:
    ``measured`` | ``interpolated`` | null), ordered by name (as in ``names``) then ``x``. Names whose
    :func:`~pitwall.schema.channel_kind` is not ``continuous`` are held (``previous``) even when ``interp`` is
    ``linear``.
    """
    if step <= 0:
        raise ValueError(f"step must be positive, got {step}")
    start = pl.lit(x_from, pl.Float64) if x_from is not None else pl.col("x").min()
    end = pl.lit(x_to, pl.Float64) if x_to is not None else pl.col("x").max()
    count = ((end - start) / step + 1e-9).floor().cast(pl.Int64) + 1
    grid = samples.select((start + pl.int_range(0, count.fill_null(0).clip(lower_bound=0)) * step).alias("x"))
    order = pl.LazyFrame(
        {
            "signal_name": list(names),
            "_order": list(range(len(names))),
            "_hold": [interp == "previous" or schema.channel_kind(name) != "continuous" for name in names],
        },
        schema={"signal_name": pl.String, "_order": pl.Int64, "_hold": pl.Boolean},
    )
    grid_rows = grid.join(order.select("signal_name", "_hold"), how="cross").with_columns(
        pl.lit(None, pl.Float64).alias("value"), pl.lit(True).alias("_grid")
    )
    rows = pl.concat(
        [samples.with_columns(pl.lit(False).alias("_grid")), grid_rows], how="diagonal_relaxed"
    ).sort(["signal_name", "x", "_grid"])
    rows = rows.with_columns(pl.col("_hold").backward_fill().forward_fill().over("signal_name"))
    sample_x = pl.when(~pl.col("_grid")).then(pl.col("x"))
    prev_x = sample_x.forward_fill().over("signal_name")
    next_x = sample_x.backward_fill().over("signal_name")
    tolerance = step * _TOLERANCE
    at_prev = (pl.col("x") - prev_x) <= tolerance
    at_next = (next_x - pl.col("x")) <= tolerance
    held = pl.col("value").forward_fill().over("signal_name")
    upcoming = pl.col("value").backward_fill().over("signal_name")
    between = (
        pl.when(pl.col("_hold"))
        .then(pl.when(next_x.is_not_null()).then(held))
        .otherwise(pl.col("value").interpolate_by("x").over("signal_name"))
    )
    value = pl.when(at_prev).then(held).when(at_next).then(upcoming).otherwise(between)
    measured = (at_prev | at_next).fill_null(False)
    return (
        rows.with_columns(value.alias("value"), measured.alias("_measured"))
        .filter(pl.col("_grid"))
        .join(order.drop("_hold"), on="signal_name", how="left")
        .sort(["_order", "x"])
        .select(
            pl.col("x").alias(x_name),
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
