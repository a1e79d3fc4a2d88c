"""One validation layer for numbers: every stored telemetry value is finite and physically plausible.

:data:`RANGES` declares, once, the inclusive range of each canonical column (in its unit); a value outside it
or not finite (NaN, ±inf, 1e308 in latitude…) is refused where data comes in — the importer (a
:class:`~pitwall.formats.errors.ReadError` naming the file and line) and the ingest routes (a 400 naming the
frame and the field) — so garbage never becomes a session. Nulls are "not logged" and always pass.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Final

import polars as pl

RANGES: Final[dict[str, tuple[float, float]]] = {
    "t_s": (-1e6, 1e8),  # s; ~3 years either side of the session start
    "lat_deg": (-90.0, 90.0),
    "lon_deg": (-180.0, 180.0),
    "alt_m": (-1_000.0, 10_000.0),
    "speed_kph": (0.0, 1_000.0),
    "heading_deg": (-360.0, 720.0),
    "g_lat": (-20.0, 20.0),
    "g_long": (-20.0, 20.0),
    "g_vert": (-20.0, 20.0),
    "yaw_rate_dps": (-2_000.0, 2_000.0),
    "throttle_pct": (-10.0, 110.0),  # sensors read slightly past their stops
    "brake_bar": (-10.0, 500.0),
    "brake_pct": (-10.0, 110.0),
    "steering_deg": (-3_600.0, 3_600.0),
    "rpm": (0.0, 40_000.0),
    "distance_m": (-1e3, 1e8),
    "s_m": (-1e3, 1e6),
}
"""Plausible range (inclusive, in the column's unit) of each canonical column; the one source of these limits."""

SIGNAL_LIMIT: Final = 1e15
"""Tall-sink values (any channel, any unit) must be finite and within ±this."""


@dataclass(frozen=True)
class BadValue:
    """The first refused value: its 0-based ``row``, ``column``, the ``value`` and why (``reason``)."""

    row: int
    column: str
    value: float
    reason: str

    def describe(self) -> str:
        return f"{self.column} = {self.value!r}: {self.reason}"


def _violation(column: str, dtype: pl.DataType, ranges: dict[str, tuple[float, float]]) -> pl.Expr | None:
    """Where ``column`` holds a refused value (``None``: nothing to check in it)."""
    if not dtype.is_numeric() or (not dtype.is_float() and column not in ranges):
        return None
    col = pl.col(column)
    bad = ~col.is_finite() if dtype.is_float() else pl.lit(False)
    if column in ranges:
        lo, hi = ranges[column]
        bad = bad | (col < lo) | (col > hi)
    return bad.fill_null(False)


def first_bad_value(
    frame: pl.DataFrame, *, ranges: dict[str, tuple[float, float]] = RANGES
) -> BadValue | None:
    """The first row (then the first column in frame order) holding a non-finite or out-of-range value."""
    checks = {
        column: expr
        for column, dtype in frame.schema.items()
        if (expr := _violation(column, dtype, ranges)) is not None
    }
    if not checks:
        return None
    firsts = frame.select(**{c: e.arg_true().first() for c, e in checks.items()}).row(0, named=True)
    found = [(row, column) for column, row in firsts.items() if row is not None]
    if not found:
        return None
    row, column = min(found, key=lambda item: (item[0], list(checks).index(item[1])))
    value = float(frame[column][row])
    if not math.isfinite(value):
        return BadValue(row, column, value, "not a finite number")
    lo, hi = ranges[column]
    return BadValue(row, column, value, f"outside the plausible range [{lo:g}, {hi:g}]")


def first_bad_signal(values: pl.Series) -> int | None:
    """The row of the first tall-sink value that is not finite or beyond ±:data:`SIGNAL_LIMIT`."""
    # two comparisons instead of ``abs() >``: no copy of the values (4.6 MB for an hour's 576,000 tall rows)
    bad = (~values.is_finite() | (values > SIGNAL_LIMIT) | (values < -SIGNAL_LIMIT)).fill_null(False)
    hit = bad.arg_true()
    return None if hit.len() == 0 else int(hit[0])
