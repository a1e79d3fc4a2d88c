"""Clock faults: repair a logger's time channel from its sample cadence and the distance it covered (pure).

A logger whose clock steps backwards, or jumps ahead while the car moved only one sample's distance, would
otherwise make a lap look seconds shorter (a fake record) or longer. A step is a **fault** when

* it goes backwards (``dt < 0``), or
* it is longer than :attr:`ClockLimits.jump_factor` cadences while the distance covered in it is at most what
  the car covers in :attr:`ClockLimits.max_step_samples` samples at its speed — one normal step, not a
  logging gap (a real gap moves the car further in proportion to the time).

A faulty step is given the cadence (the median positive step) and every later time moves with it, so the
intervals stay those the logger measured. Requires ``t_s`` (s, row order as logged); uses ``distance_m`` (m)
and ``speed_kph`` when present (without them only backward steps are repaired).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

import numpy as np
import polars as pl


@dataclass(frozen=True)
class ClockLimits:
    """``jump_factor``: a forward step longer than this many cadences is examined; ``max_step_samples``: it is
    a fault when the distance covered in it is at most this many samples' worth at the measured speed (plus
    ``slack_m`` metres for GPS noise)."""

    jump_factor: float = 5.0
    max_step_samples: float = 3.0
    slack_m: float = 2.0


CLOCK_LIMITS: Final = ClockLimits()


@dataclass(frozen=True)
class ClockRepair:
    """The repaired times (s), the 0-based rows whose step into them was faulty, and each fault's original
    step (s; negative: backwards)."""

    t_s: np.ndarray
    rows: list[int]
    steps_s: list[float]

    @property
    def count(self) -> int:
        return len(self.rows)


def repair_clock(telemetry: pl.DataFrame, *, limits: ClockLimits = CLOCK_LIMITS) -> ClockRepair:
    """Find and repair clock faults (see the module doc); ``count`` 0 means the clock was sound."""
    t = telemetry["t_s"].to_numpy().astype(np.float64)
    if t.size < 3:
        return ClockRepair(t, [], [])
    dt = np.diff(t)
    positive = dt[dt > 0]
    if positive.size == 0:
        return ClockRepair(t, [], [])
    cadence = float(np.median(positive))
    fault = dt < 0
    if "distance_m" in telemetry.columns and "speed_kph" in telemetry.columns:
        d = telemetry["distance_m"].fill_null(strategy="forward").to_numpy().astype(np.float64)
        v = telemetry["speed_kph"].fill_null(0.0).to_numpy().astype(np.float64) / 3.6
        moved = np.abs(np.diff(d))
        one_step = limits.max_step_samples * np.maximum(v[:-1], v[1:]) * cadence + limits.slack_m
        jump = (dt > limits.jump_factor * cadence) & (moved <= one_step) & ~np.isnan(moved)
        fault |= jump
    rows = np.flatnonzero(fault)
    if rows.size == 0:
        return ClockRepair(t, [], [])
    fixed = dt.copy()
    fixed[rows] = cadence
    repaired = np.concatenate([[t[0]], t[0] + np.cumsum(fixed)])
    return ClockRepair(repaired, (rows + 1).tolist(), dt[rows].tolist())


def apply_clock_repair(telemetry: pl.DataFrame, repair: ClockRepair) -> pl.DataFrame:
    """``telemetry`` with the repaired ``t_s`` (and ``utc`` moved by the same amount where present)."""
    if repair.count == 0:
        return telemetry
    shift_us = pl.Series(
        "__shift_us", np.round((repair.t_s - telemetry["t_s"].to_numpy()) * 1e6).astype(np.int64)
    )
    out = telemetry.with_columns(pl.Series("t_s", repair.t_s))
    if "utc" in telemetry.columns:
        out = out.with_columns(pl.col("utc") + pl.duration(microseconds=pl.lit(shift_us)))
    return out


def _segments(t: np.ndarray) -> np.ndarray:
    """Segment number of each time: a new segment starts at every backward step."""
    return np.concatenate([[0], np.cumsum(np.diff(t) < 0)]).astype(np.int64)


def repair_signal_times(signals: pl.DataFrame, old_t: np.ndarray, repair: ClockRepair) -> pl.DataFrame:
    """The tall sink's ``t_s`` moved like the telemetry rows they were logged with (``signal_name``, ``t_s``
    in logged order per signal, each time one of ``old_t``, the telemetry's times before the repair)."""
    if repair.count == 0 or signals.height == 0:
        return signals
    seg_t = _segments(old_t)
    parts = []
    for (_,), group in signals.group_by("signal_name", maintain_order=True):
        s = group["t_s"].to_numpy().astype(np.float64)
        seg_s = _segments(s)
        new = np.empty_like(s)
        for seg in np.unique(seg_s):
            rows = seg_t == seg
            logged, repaired = old_t[rows], repair.t_s[rows]
            mine = seg_s == seg
            at = np.clip(np.searchsorted(logged, s[mine]), 0, logged.size - 1)
            new[mine] = repaired[at]
        parts.append(group.with_columns(pl.Series("t_s", new)))
    return pl.concat(parts)
