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

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from functools import cached_property
from typing import Final, cast

import numpy as np
import numpy.typing as npt
import polars as pl
import pyarrow as pa

from pitwall.formats.car import CarConfig, Channel, Drivetrain
from pitwall.schema import TELEMETRY, TELEMETRY_SIGNALS

FloatArray = npt.NDArray[np.float64]

EPOCH_MIN_S: Final = 946_684_800.0
"""Timestamps at or after 2000-01-01 are taken as Unix epoch seconds (python-can live buses, candump)."""
MIN_GEAR_SPEED_KPH: Final = 5.0
"""Below this speed the car is taken as stopped or creeping: gear 0 (unknown)."""

TALL_COLUMNS: Final = {k: v for k, v in TELEMETRY_SIGNALS.items() if k != "session_id"}


@dataclass(frozen=True, eq=False)
class WideWindow:
    """One batch of rows covering data time ``[t_start_s, t_end_s)``, kept as numpy arrays.

    ``rows``: one array per wide column, one value per row: ``t_s`` (the row clock as read, s), every live
    canonical channel of the car (float64 in Pitwall units, NaN before its first sample) and ``gear`` (int32)
    when it is derived. Rows are numbered from ``first_frame_idx`` (the batcher's count). Tall samples:
    ``tall_names[tall_codes[i]]`` at ``tall_t_s[i]`` (s as read) with ``tall_value[i]`` (Pitwall units),
    grouped by signal and time-sorted within a signal.

    :attr:`wide` (the :data:`pitwall.schema.TELEMETRY` columns) and :attr:`tall` (``signal_name``, ``t_s``,
    ``value``) are the same rows as DataFrames, built on first use; :func:`wide_frame` / :func:`tall_frame`
    build one frame for many windows at once.
    """

    t_start_s: float
    t_end_s: float
    rows: Mapping[str, npt.NDArray[np.generic]]
    first_frame_idx: int
    tall_names: tuple[str, ...]
    tall_codes: npt.NDArray[np.intp]
    tall_t_s: FloatArray
    tall_value: FloatArray

    @property
    def n_rows(self) -> int:
        return int(self.rows["t_s"].shape[0])

    @cached_property
    def wide(self) -> pl.DataFrame:
        return wide_frame([self])

    @cached_property
    def tall(self) -> pl.DataFrame:
        return tall_frame([self])


def wide_frame(
    windows: Sequence[WideWindow],
    *,
    session_id: str | None = None,
    first_frame_idx: int | None = None,
    t0_s: float = 0.0,
    started_at: datetime | None = None,
) -> pl.DataFrame:
    """The rows of consecutive ``windows`` (in order, from one batcher) as one :data:`TELEMETRY` frame.

    By default as read: ``t_s`` is the frame clock, ``frame_idx`` the batcher's count, ``utc`` the frame clock
    when it is epoch seconds (else null), ``session_id`` null. Stamped for a session: ``session_id``,
    ``frame_idx`` counting from ``first_frame_idx``, ``t_s`` minus ``t0_s`` (s; the session's first row) and,
    where the frame clock is not epoch seconds, ``utc`` = ``started_at`` + ``t_s``.
    """
    if not windows:
        return pl.DataFrame(schema=TELEMETRY)
    first = windows[0].first_frame_idx if first_frame_idx is None else first_frame_idx
    columns = {name: np.concatenate([w.rows[name] for w in windows]) for name in windows[0].rows}
    raw_t = columns["t_s"]
    n = raw_t.shape[0]
    t_s = raw_t - t0_s
    stamps = {
        "session_id": pl.Series([session_id] * n, dtype=pl.String),
        "frame_idx": pl.Series(np.arange(first, first + n, dtype=np.int64)),
        "t_s": pl.Series(t_s),
        "utc": _utc(raw_t, t_s, started_at),
    }
    return pl.DataFrame(
        [
            (
                stamps[name]
                if name in stamps
                else pl.Series(columns[name], nan_to_null=True).cast(dtype)
                if name in columns
                else pl.Series([None] * n, dtype=dtype)
            ).alias(name)
            for name, dtype in TELEMETRY.items()
        ]
    )


def _utc(raw_t: FloatArray, t_s: FloatArray, started_at: datetime | None) -> pl.Series:
    """Row times as UTC timestamps (µs): the frame clock ``raw_t`` where it is epoch seconds, else
    ``started_at`` + ``t_s`` (null without ``started_at``). Rounded half to even, as Polars rounds."""
    epoch = raw_t >= EPOCH_MIN_S
    micros = np.rint(raw_t * 1e6).astype(np.int64)
    valid = epoch
    if started_at is not None and not epoch.all():
        since = started_at.astimezone(UTC) - datetime(1970, 1, 1, tzinfo=UTC)
        micros = np.where(
            epoch, micros, since // timedelta(microseconds=1) + np.rint(t_s * 1e6).astype(np.int64)
        )
        valid = np.ones(raw_t.shape[0], np.bool_)
    array = pa.array(micros, type=pa.timestamp("us", tz="UTC"), mask=None if valid.all() else ~valid)
    return cast(pl.Series, pl.from_arrow(array))


def tall_frame(windows: Sequence[WideWindow], *, t0_s: float = 0.0) -> pl.DataFrame:
    """The tall samples of consecutive ``windows`` as one frame (``signal_name``, ``t_s`` − ``t0_s``, ``value``)."""
    if not windows:
        return pl.DataFrame(schema=TALL_COLUMNS)
    names = max((w.tall_names for w in windows), key=len)  # each window's names are a prefix of the next
    t_s = np.concatenate([w.tall_t_s for w in windows])
    return pl.DataFrame(
        {
            "signal_name": pl.Series(names, dtype=pl.String).gather(
                np.concatenate([w.tall_codes for w in windows])
            ),
            "t_s": t_s - t0_s if t0_s else t_s,
            "value": np.concatenate([w.tall_value for w in windows]),
        },
        schema=TALL_COLUMNS,
    )


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


_EMPTY: Final[FloatArray] = np.empty(0)


@dataclass
class _Series:
    """Pending samples of one channel (time-sorted ``t``/``v``, plus chunks added since, merged when read) and
    the last sample already taken (for sample-and-hold)."""

    t: FloatArray = field(default_factory=lambda: _EMPTY)
    v: FloatArray = field(default_factory=lambda: _EMPTY)
    added: list[tuple[FloatArray, FloatArray]] = field(default_factory=list)
    held_t: float = -np.inf
    held_v: float = np.nan

    def add(self, t: FloatArray, v: FloatArray) -> None:
        if t.size:
            self.added.append((t, v))

    def _merge(self) -> None:
        """Fold the added chunks into ``t``/``v``, time-sorted (stable: equal times keep arrival order)."""
        if not self.t.size and len(self.added) == 1:
            t, v = self.added[0]
        else:
            t = np.concatenate([self.t, *(c[0] for c in self.added)])
            v = np.concatenate([self.v, *(c[1] for c in self.added)])
        self.added.clear()
        if t.size > 1 and (t[1:] < t[:-1]).any():
            order = np.argsort(t, kind="stable")
            t, v = t[order], v[order]
        self.t, self.v = t, v

    def take_before(self, end: float) -> tuple[FloatArray, FloatArray]:
        """Samples with ``t < end`` (time-sorted); later ones stay pending."""
        if self.added:
            self._merge()
        cut = int(self.t.searchsorted(end, side="left"))
        out = self.t[:cut], self.v[:cut]
        self.t, self.v = self.t[cut:], self.v[cut:]
        return out

    def times(self) -> FloatArray:
        """Every pending sample time, sorted."""
        if self.added:
            self._merge()
        return self.t


class WideBatcher:
    """Decoded signals (``pitwall.live.decode.Decoder.decode`` output) → :class:`WideWindow` s.

    ``window_s`` is the window length in data time (s). Not thread-safe: one reader thread pushes. Every
    window a push completes is computed in one pass over the pending samples (numpy only; the DataFrames are
    built by the consumer, once for many windows).
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

    def _keys(self, ch: Channel) -> tuple[str, str]:
        """The decoder keys a channel may come under: its signal name, or ``<message>.<signal>``."""
        return ch.signal, f"{self.car.frame(ch.frame_id).message}.{ch.signal}"

    @cached_property
    def _wide_keys(self) -> tuple[tuple[Channel, str, str], ...]:
        return tuple((ch, *self._keys(ch)) for ch in self.wide_channels)

    @cached_property
    def _tall_keys(self) -> tuple[tuple[Channel, str, str], ...]:
        return tuple((ch, *self._keys(ch)) for ch in self.tall_channels)

    def push(self, decoded: Mapping[str, tuple[FloatArray, FloatArray]]) -> list[WideWindow]:
        """Add decoded samples; return every window that data time has completed (often none)."""
        for ch, key, qualified in self._wide_keys:
            got = decoded.get(key) or decoded.get(qualified)
            if got is not None:
                self._wide[ch.name].add(got[0], ch.conversion.apply(got[1]))
        for ch, key, qualified in self._tall_keys:
            got = decoded.get(key) or decoded.get(qualified)
            if got is not None:
                self._tall.setdefault(ch.name, _Series()).add(got[0], ch.conversion.apply(got[1]))
        for key, (t, v) in decoded.items():  # signals of other DBC messages: tall, as decoded
            if key not in self._known:
                self._tall.setdefault(key, _Series()).add(t, v)
        ck, cq = self._keys(self.clock)
        clock = decoded.get(ck) or decoded.get(cq)
        if clock is not None:
            self._clock.add(clock[0], clock[0])
        latest = [float(t.max()) for t, _ in decoded.values() if t.size]
        if latest:
            self._horizon = max(self._horizon, *latest)
        if self._window_end is None:
            pending = self._pending_times()
            if not pending.size:
                return []
            self._window_end = float(pending[0]) + self.window_s
        if self._horizon < self._window_end:
            return []
        pending = self._pending_times()
        bounds = []
        while self._horizon >= self._window_end:
            end = self._window_end
            bounds.append((end - self.window_s, end, end))
            self._window_end = self._next_end(end, pending)
        return self._emit(bounds)

    def flush(self) -> list[WideWindow]:
        """Emit everything still pending (the partial last window), if anything is."""
        if self._window_end is None:
            return []
        start = self._window_end - self.window_s
        self._window_end = None
        return self._emit([(start, max(self._horizon, start), np.inf)])

    def _series(self) -> list[_Series]:
        return [self._clock, *self._wide.values(), *self._tall.values()]

    def _pending_times(self) -> FloatArray:
        """Every pending sample time of every series, sorted."""
        times = [s.times() for s in self._series()]
        return np.sort(np.concatenate(times)) if times else _EMPTY

    def _next_end(self, end: float, pending: FloatArray) -> float:
        """The next window end; jumps over gaps in the data instead of emitting empty windows. ``pending``:
        the sorted sample times pending before the window ending at ``end`` was taken."""
        nxt = end + self.window_s
        i = int(np.searchsorted(pending, end, side="left"))
        if i < pending.size and pending[i] >= nxt:
            first = float(pending[i])
            nxt = end + (np.floor((first - end) / self.window_s) + 1) * self.window_s
        return float(nxt)

    def _emit(self, bounds: list[tuple[float, float, float]]) -> list[WideWindow]:
        """Windows ``(start, end, cut)`` (cuts increasing): window ``k`` takes every pending sample with
        ``cut[k-1] <= t < cut[k]`` (all earlier ones for the first). Empty windows are left out."""
        cuts = np.array([cut for _, _, cut in bounds])
        last = float(cuts[-1])
        rows_t, _ = self._clock.take_before(last)
        rows: dict[str, npt.NDArray[np.generic]] = {"t_s": rows_t}
        for ch in self.wide_channels:
            rows[ch.name] = self._hold(self._wide[ch.name], rows_t, last)
        if self.derives_gear and self.car.drivetrain is not None and "rpm" in rows and "speed_kph" in rows:
            rows["gear"] = derive_gear(
                rows["rpm"].astype(np.float64), rows["speed_kph"].astype(np.float64), self.car.drivetrain
            )
        names = tuple(self._tall)
        taken = [self._tall[name].take_before(last) for name in names]
        tall_t = np.concatenate([t for t, _ in taken]) if taken else _EMPTY
        tall_v = np.concatenate([v for _, v in taken]) if taken else _EMPTY
        codes = np.repeat(np.arange(len(names)), [t.size for t, _ in taken])
        tall_win = np.searchsorted(cuts, tall_t, side="right")
        order = np.argsort(tall_win, kind="stable")  # by window, then signal, then time
        tall_t, tall_v, codes = tall_t[order], tall_v[order], codes[order]
        row_ends = np.cumsum(np.bincount(np.searchsorted(cuts, rows_t, side="right"), minlength=cuts.size))
        tall_ends = np.cumsum(np.bincount(tall_win, minlength=cuts.size))
        windows = []
        r0 = a0 = 0
        for (start, end, _), r1, a1 in zip(bounds, row_ends.tolist(), tall_ends.tolist(), strict=True):
            if r1 > r0 or a1 > a0:
                windows.append(
                    WideWindow(
                        t_start_s=float(start),
                        t_end_s=float(end),
                        rows={name: col[r0:r1] for name, col in rows.items()},
                        first_frame_idx=self.rows_emitted + r0,
                        tall_names=names,
                        tall_codes=codes[a0:a1],
                        tall_t_s=tall_t[a0:a1],
                        tall_value=tall_v[a0:a1],
                    )
                )
            r0, a0 = r1, a1
        self.rows_emitted += rows_t.size
        return windows

    @staticmethod
    def _hold(series: _Series, rows_t: FloatArray, cut: float) -> FloatArray:
        """Sample-and-hold ``series`` at ``rows_t`` (NaN before its first sample); advances the held sample."""
        t, v = series.take_before(cut)
        t_all = np.concatenate([[series.held_t], t])
        v_all = np.concatenate([[series.held_v], v])
        if t.size:
            series.held_t, series.held_v = float(t[-1]), float(v[-1])
        return v_all[np.searchsorted(t_all, rows_t, side="right") - 1]
