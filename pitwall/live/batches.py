"""Turn decoded CAN signals into canonical telemetry windows (wide rows + tall rows), ~every 100 ms.

Row clock: one wide row per frame of the car's fastest core frame (for the AiM MXP: 0x420 at 50 Hz), at that
frame's own timestamp. Every other canonical channel is **sample-and-hold**: a row carries the channel's most
recent sample at or before the row time (null before its first sample), so slower channels (GPS at 10-20 Hz)
repeat between updates and a channel sent a few ms after the clock frame shows up one row later. Channels
without a canonical column go to the tall rows unresampled, at their own timestamps. Unit conversions come
from the car YAML; dead channels are skipped. When the car's gear channel is dead (or absent) and the car has
a drivetrain, ``gear`` is derived from the rpm / speed ratio (:func:`derive_gear`).

A window is emitted once data time has passed its end (frames arrive in time order across the bus), so it is
complete; :meth:`WideBatcher.flush` emits the partial last window. ``t_s`` is the frame timestamp as read (the
bus clock: epoch seconds on live buses); ``utc`` is filled when the timestamps are epoch seconds; the consumer
sets ``session_id`` and re-bases ``t_s`` / ``frame_idx`` for its session.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Final

import numpy as np
import numpy.typing as npt
import polars as pl

from pitwall.formats.car import CarConfig, Channel, Drivetrain
from pitwall.schema import TELEMETRY, TELEMETRY_SIGNALS, conform

FloatArray = npt.NDArray[np.float64]

EPOCH_MIN_S: Final = 946_684_800.0
"""Timestamps at or after 2000-01-01 are taken as Unix epoch seconds (python-can live buses, candump)."""
MIN_GEAR_SPEED_KPH: Final = 5.0
"""Below this speed the car is taken as stopped or creeping: gear 0 (unknown)."""

TALL_COLUMNS: Final = {k: v for k, v in TELEMETRY_SIGNALS.items() if k != "session_id"}


@dataclass(frozen=True)
class WideWindow:
    """One batch of rows: ``wide`` has the :data:`pitwall.schema.TELEMETRY` columns, ``tall`` has
    ``signal_name``, ``t_s``, ``value``. Covers data time ``[t_start_s, t_end_s)``."""

    t_start_s: float
    t_end_s: float
    wide: pl.DataFrame
    tall: pl.DataFrame


def derive_gear(rpm: FloatArray, speed_kph: FloatArray, drivetrain: Drivetrain) -> npt.NDArray[np.int32]:
    """Gear (1…n) from engine speed (rpm) and road speed (km/h): the gearbox ratio
    ``rpm · circumference / (60 · v · final_drive)`` matched to the nearest gear ratio in log space.

    Gear is 0 (neutral / clutch down / unknown) below :data:`MIN_GEAR_SPEED_KPH`, when either input is NaN,
    or when the ratio is further from every gear than half the smallest log gap between adjacent gears.
    """
    ratios = np.log(np.asarray(drivetrain.gear_ratios))
    tolerance = 0.5 * float(np.min(-np.diff(ratios))) if len(ratios) > 1 else 0.1
    v_mps = speed_kph / 3.6
    with np.errstate(divide="ignore", invalid="ignore"):
        box = np.log(rpm * drivetrain.tyre_circumference_m / (60.0 * v_mps * drivetrain.final_drive))
    err = np.abs(box[:, None] - ratios[None, :])
    nearest = np.argmin(np.where(np.isfinite(err), err, np.inf), axis=1)
    best = np.take_along_axis(err, nearest[:, None], axis=1)[:, 0]
    ok = np.isfinite(best) & (best <= tolerance) & (speed_kph >= MIN_GEAR_SPEED_KPH)
    return np.where(ok, nearest + 1, 0).astype(np.int32)


@dataclass
class _Series:
    """Pending samples of one channel, time-sorted, consumed from ``pos`` on; plus the last sample before the
    current window (for sample-and-hold)."""

    t: FloatArray = field(default_factory=lambda: np.empty(0))
    v: FloatArray = field(default_factory=lambda: np.empty(0))
    pos: int = 0
    held_t: float = -np.inf
    held_v: float = np.nan

    def add(self, t: FloatArray, v: FloatArray) -> None:
        if not t.size:
            return
        t = np.concatenate([self.t[self.pos :], t])
        v = np.concatenate([self.v[self.pos :], v])
        if t.size > 1 and np.any(np.diff(t) < 0):
            order = np.argsort(t, kind="stable")
            t, v = t[order], v[order]
        self.t, self.v, self.pos = t, v, 0

    def take_before(self, end: float) -> tuple[FloatArray, FloatArray]:
        """Samples with ``t < end`` (views, time-sorted); later ones stay pending."""
        cut = self.pos + int(np.searchsorted(self.t[self.pos :], end, side="left"))
        out = self.t[self.pos : cut], self.v[self.pos : cut]
        self.pos = cut
        return out

    def earliest(self) -> float:
        return float(self.t[self.pos]) if self.pos < self.t.size else np.inf


class WideBatcher:
    """Decoded signals (``pitwall.live.decode.Decoder.decode`` output) → :class:`WideWindow` s.

    ``window_s`` is the window length in data time (s). Not thread-safe: one reader thread pushes.
    """

    def __init__(self, car: CarConfig, window_s: float = 0.1) -> None:
        if window_s <= 0:
            raise ValueError("window_s must be > 0")
        core = [f for f in car.frames if f.core and any(ch.dead is None for ch in f.channels)]
        if not core:
            raise ValueError(f"car {car.id}: no core frame with a live channel to clock the rows")
        clock_frame = max(core, key=lambda f: f.rate_hz)  # first of the fastest (max keeps the first)
        self.car = car
        self.window_s = float(window_s)
        self.clock: Channel = next(ch for ch in clock_frame.channels if ch.dead is None)
        self.wide_channels = tuple(ch for ch in car.live_channels if ch.canonical is not None)
        self.tall_channels = tuple(ch for ch in car.live_channels if ch.canonical is None)
        self._known = {ch.signal for ch in car.channels} | {
            f"{f.message}.{ch.signal}" for f in car.frames for ch in f.channels
        }
        canonicals = {ch.canonical for ch in self.wide_channels}
        self.derives_gear = car.drivetrain is not None and "gear" not in canonicals
        self._clock = _Series()
        self._wide = {ch.name: _Series() for ch in self.wide_channels}
        self._tall: dict[str, _Series] = {}
        self._window_end: float | None = None
        self._horizon = -np.inf
        self.rows_emitted = 0

    @staticmethod
    def _pick(
        decoded: Mapping[str, tuple[FloatArray, FloatArray]], ch: Channel, message: str
    ) -> tuple[FloatArray, FloatArray] | None:
        return decoded.get(ch.signal) or decoded.get(f"{message}.{ch.signal}")

    def _message(self, ch: Channel) -> str:
        return self.car.frame(ch.frame_id).message

    def push(self, decoded: Mapping[str, tuple[FloatArray, FloatArray]]) -> list[WideWindow]:
        """Add decoded samples; return every window that data time has completed (often none)."""
        for ch in self.wide_channels:
            got = self._pick(decoded, ch, self._message(ch))
            if got is not None:
                self._wide[ch.name].add(got[0], ch.conversion.apply(got[1]))
        for ch in self.tall_channels:
            got = self._pick(decoded, ch, self._message(ch))
            if got is not None:
                self._tall.setdefault(ch.name, _Series()).add(got[0], ch.conversion.apply(got[1]))
        for key, (t, v) in decoded.items():  # signals of other DBC messages: tall, as decoded
            if key not in self._known:
                self._tall.setdefault(key, _Series()).add(t, v)
        clock = self._pick(decoded, self.clock, self._message(self.clock))
        if clock is not None:
            self._clock.add(clock[0], clock[0])
        self._horizon = max([self._horizon, *(float(t.max()) for t, _ in decoded.values() if t.size)])
        if self._window_end is None:
            first = self._earliest()
            if not np.isfinite(first):
                return []
            self._window_end = first + self.window_s
        windows = []
        while self._horizon >= self._window_end:
            window = self._emit(self._window_end - self.window_s, self._window_end, cut=self._window_end)
            if window is not None:
                windows.append(window)
            self._window_end = self._next_end(self._window_end)
        return windows

    def flush(self) -> list[WideWindow]:
        """Emit everything still pending (the partial last window), if anything is."""
        if self._window_end is None:
            return []
        start = self._window_end - self.window_s
        window = self._emit(start, max(self._horizon, start), cut=np.inf)
        self._window_end = None
        return [window] if window is not None else []

    def _earliest(self) -> float:
        series = [self._clock, *self._wide.values(), *self._tall.values()]
        return min(s.earliest() for s in series)

    def _next_end(self, end: float) -> float:
        """The next window end; jumps over gaps in the data instead of emitting empty windows."""
        nxt = end + self.window_s
        first = self._earliest()
        if np.isfinite(first) and first >= nxt:
            nxt = end + (np.floor((first - end) / self.window_s) + 1) * self.window_s
        return float(nxt)

    def _emit(self, start: float, end: float, *, cut: float) -> WideWindow | None:
        """The window ``[start, end)`` made of every pending sample with ``t < cut``; None when empty."""
        rows_t, _ = self._clock.take_before(cut)
        columns: dict[str, npt.NDArray[np.generic]] = {"t_s": rows_t}
        for ch in self.wide_channels:
            columns[ch.name] = self._hold(self._wide[ch.name], rows_t, cut)
        if (
            self.derives_gear
            and self.car.drivetrain is not None
            and "rpm" in columns
            and "speed_kph" in columns
        ):
            columns["gear"] = derive_gear(
                columns["rpm"].astype(np.float64),
                columns["speed_kph"].astype(np.float64),
                self.car.drivetrain,
            )
        names: list[str] = []
        tall_t: list[FloatArray] = []
        tall_v: list[FloatArray] = []
        for name, series in self._tall.items():
            t, v = series.take_before(cut)
            if t.size:
                names.append(name)
                tall_t.append(t)
                tall_v.append(v)
        if rows_t.size == 0 and not names:
            return None
        n = rows_t.size
        micros = (pl.col("t_s") * 1e6).round().cast(pl.Int64)
        wide = pl.DataFrame(columns, nan_to_null=True).with_columns(
            frame_idx=pl.int_range(self.rows_emitted, self.rows_emitted + n, dtype=pl.Int64),
            utc=pl.when(pl.col("t_s") >= EPOCH_MIN_S)
            .then(pl.from_epoch(micros, time_unit="us"))
            .dt.replace_time_zone("UTC"),
        )
        self.rows_emitted += n
        sizes = np.array([t.size for t in tall_t], np.int64)
        tall = pl.DataFrame(
            {
                "signal_name": pl.Series(names, dtype=pl.String).gather(
                    np.repeat(np.arange(len(names)), sizes)
                ),
                "t_s": np.concatenate(tall_t) if names else np.empty(0),
                "value": np.concatenate(tall_v) if names else np.empty(0),
            },
            schema=TALL_COLUMNS,
        )
        return WideWindow(
            t_start_s=float(start), t_end_s=float(end), wide=conform(wide, TELEMETRY), tall=tall
        )

    @staticmethod
    def _hold(series: _Series, rows_t: FloatArray, cut: float) -> FloatArray:
        """Sample-and-hold ``series`` at ``rows_t`` (NaN before its first sample); advances the held sample."""
        t, v = series.take_before(cut)
        t_all = np.concatenate([[series.held_t], t])
        v_all = np.concatenate([[series.held_v], v])
        if t.size:
            series.held_t, series.held_v = float(t[-1]), float(v[-1])
        return v_all[np.searchsorted(t_all, rows_t, side="right") - 1]
