"""Tukey box-plot statistics as Polars aggregation expressions (pure).

Quartiles use linear interpolation between order statistics (numpy's default). Fences are
``q1 − 1.5·IQR`` and ``q3 + 1.5·IQR``; whiskers reach the most extreme values inside the fences; values beyond
the fences are outliers. Reuse :func:`tukey_box_exprs` inside any ``group_by(...).agg(...)``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Final

import polars as pl

TUKEY_K: Final = 1.5
"""Fence distance in IQRs."""

BOX_COLUMNS: Final = (
    "n",
    "min",
    "q1",
    "median",
    "q3",
    "max",
    "iqr",
    "lower_fence",
    "upper_fence",
    "whisker_low",
    "whisker_high",
    "n_outliers",
    "outliers",
)
"""Columns added by :func:`tukey_box_exprs`, in order (values in the unit of the input column)."""


def _quartiles(value: str) -> tuple[pl.Expr, pl.Expr]:
    v = pl.col(value).drop_nulls().cast(pl.Float64)
    return v.quantile(0.25, interpolation="linear"), v.quantile(0.75, interpolation="linear")


def tukey_fences(value: str, *, k: float = TUKEY_K) -> tuple[pl.Expr, pl.Expr]:
    """Aggregation expressions ``(lower_fence, upper_fence)`` of column ``value``: ``q1 − k·IQR``, ``q3 + k·IQR``."""
    q1, q3 = _quartiles(value)
    return q1 - k * (q3 - q1), q3 + k * (q3 - q1)


def tukey_box_exprs(value: str, *, k: float = TUKEY_K) -> list[pl.Expr]:
    """Aggregation expressions of the Tukey box of column ``value`` (nulls ignored).

    Gives :data:`BOX_COLUMNS`: ``n`` (UInt32), ``min``, ``q1``, ``median``, ``q3``, ``max``, ``iqr``,
    ``lower_fence``, ``upper_fence``, ``whisker_low``, ``whisker_high`` (Float64), ``n_outliers`` (UInt32) and
    ``outliers`` (List[Float64], ascending).
    """
    v = pl.col(value).drop_nulls().cast(pl.Float64)
    q1, q3 = _quartiles(value)
    lower, upper = tukey_fences(value, k=k)
    inside = v.filter((v >= lower) & (v <= upper))
    outside = v.filter((v < lower) | (v > upper))
    return [
        v.count().alias("n"),
        v.min().alias("min"),
        q1.alias("q1"),
        v.median().alias("median"),
        q3.alias("q3"),
        v.max().alias("max"),
        (q3 - q1).alias("iqr"),
        lower.alias("lower_fence"),
        upper.alias("upper_fence"),
        inside.min().alias("whisker_low"),
        inside.max().alias("whisker_high"),
        outside.count().alias("n_outliers"),
        outside.sort().implode().alias("outliers"),
    ]


def tukey_box(lf: pl.LazyFrame, value: str, *, by: Sequence[str] = ()) -> pl.LazyFrame:
    """One row per ``by`` group (one row overall when ``by`` is empty) with :data:`BOX_COLUMNS` of ``value``."""
    exprs = tukey_box_exprs(value)
    if by:
        return lf.group_by(list(by), maintain_order=True).agg(exprs).sort(list(by))
    return lf.select(exprs)
