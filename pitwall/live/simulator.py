"""The AiM-MXP simulator (``--simulate``): what a real AiM MXP would put on its SmartyCam CAN output.

A :func:`~pitwall.live.physics.lap_profile` on the active track is sampled at each frame's broadcast rate
from the car YAML, converted to the dash's units (the inverse of the car's conversions: km/h → mph, bar →
psi …), encoded with the DBC (:class:`~pitwall.live.decode.Encoder`) and sent on a python-can bus (``virtual``
by default) in real time × ``speed``. Frames of one cycle are staggered by :data:`FRAME_GAP_S` as a real dash
sends them back to back. Dead channels are sent as the dash sends them: raw 0 (the E46's gear slot).

Channels the lap model does not produce are simulated as an engine and car warming up on track: coolant
and oil temperatures rising towards operating temperature, oil pressure following rpm, fuel level falling
with the power used, tyre pressures and temperatures rising as the tyres heat up, roll / pitch rates from the
lateral / longitudinal jerk. All in the dash's units, named by DBC signal.

Frame timestamps are data time: ``start_timestamp + t`` where ``t`` is seconds since the car first crossed
the start line (the virtual bus is opened with ``preserve_timestamps``), so a reader sees the same times
whatever ``speed`` is. :attr:`Simulator.truth` lists the start-line crossings produced so far, in ``t``.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable, Mapping
from typing import Any, Final

import can
import numpy as np
import numpy.typing as npt
import polars as pl
from cantools.database.can import Database

from pitwall.formats.car import CarConfig, Channel, Frame
from pitwall.live.decode import Encoder
from pitwall.live.frames import PAYLOAD_BYTES, FrameBatch
from pitwall.live.physics import GpsReceiver, PeriodicTable, lap_profile, lap_time_s
from pitwall.track import Track

FloatArray = npt.NDArray[np.float64]

FRAME_GAP_S: Final = 0.0002
"""Spacing of the frames of one broadcast cycle (a full 8-byte frame takes ≈ 0.13 ms at 1 Mbit/s)."""
CHUNK_S: Final = 0.25
"""Data seconds encoded at a time, at least …"""
CHUNK_WALL_S: Final = 0.05
"""… and at least this many wall seconds of frames (fast simulations encode fewer, larger chunks)."""
KPH_PER_MPH: Final = 1.609344
PSI_PER_BAR: Final = 14.503773773
ROLL_GRADIENT_DEG_PER_G: Final = 1.5
PITCH_GRADIENT_DEG_PER_G: Final = 1.0
TRACK_WIDTH_M: Final = 1.5
FUEL_TANK_GAL: Final = 16.6  # E46 M3: 63 l
FUEL_L_PER_KWH: Final = 0.3 / 0.745  # brake-specific fuel consumption 0.3 kg/kWh, petrol 0.745 kg/l
LITRES_PER_GAL: Final = 3.785411784


def _warm(t: FloatArray, cold: float, hot: float, tau_s: float) -> FloatArray:
    """First-order warm-up from ``cold`` towards ``hot`` with time constant ``tau_s``."""
    return hot + (cold - hot) * np.exp(-t / tau_s)


def _warming(cold: float, hot: float, tau_s: float) -> Callable[[_State], FloatArray]:
    return lambda s: _warm(s.t, cold, hot, tau_s)


_WHEELS: Final = ("fl", "fr", "rl", "rr")


class _State:
    """The car at a set of times ``t``: a lap column (canonical units, interpolated periodically) or a derived
    quantity by name, computed on first use and kept (a frame needs only a few of them)."""

    def __init__(
        self, t: FloatArray, lap: PeriodicTable, derived: Mapping[str, Callable[[_State], FloatArray]]
    ) -> None:
        self.t, self.phase = t, lap.phase(t)
        self._lap, self._derived = lap, derived
        self.cols: dict[str, FloatArray] = {}

    def __getitem__(self, name: str) -> FloatArray:
        value = self.cols.get(name)
        if value is None:
            value = self._derived[name](self) if name in self._derived else self._lap(name, self.phase)
            self.cols[name] = value
        return value


_DASH_SIGNALS: Final[dict[str, Callable[[_State], FloatArray]]] = {
    "water_temp_f": _warming(176.0, 196.0, 300.0),
    "water_press_psi": lambda s: 13.0 + 3.0 * s["rpm_frac"],
    "roll_rate_dps": lambda s: ROLL_GRADIENT_DEG_PER_G * s["g_lat_rate"],
    "oil_temp_f": _warming(190.0, 235.0, 600.0),
    "oil_press_psi": lambda s: 12.0 + 70.0 * s["rpm_frac"],
    "brake_switch": lambda s: (s["brake_bar"] > 2.0).astype(np.float64),
    "pitch_rate_dps": lambda s: -PITCH_GRADIENT_DEG_PER_G * s["g_long_rate"],
    "fuel_level_gal": lambda s: FUEL_TANK_GAL - s["fuel_used_l"] / LITRES_PER_GAL,
    "battery_v": lambda s: 13.5 + 0.4 * np.minimum(s["rpm"] / 3000.0, 1.0),
    "wheel_speed_fl_mph": lambda s: s["speed_kph"] * (1 - s["kappa_1pm"] * TRACK_WIDTH_M / 2) / KPH_PER_MPH,
    "wheel_speed_fr_mph": lambda s: s["speed_kph"] * (1 + s["kappa_1pm"] * TRACK_WIDTH_M / 2) / KPH_PER_MPH,
    "wheel_speed_rl_mph": lambda s: s["speed_kph"] * (1 - s["kappa_1pm"] * TRACK_WIDTH_M / 2) / KPH_PER_MPH,
    "wheel_speed_rr_mph": lambda s: s["speed_kph"] * (1 + s["kappa_1pm"] * TRACK_WIDTH_M / 2) / KPH_PER_MPH,
    "ecu_speed_mph": lambda s: s["speed_kph"] / KPH_PER_MPH,
    "ambient_temp_f": lambda s: np.full(s.t.size, 68.0),
    "engine_oil_temp_f": _warming(190.0, 240.0, 600.0),
    "dsc_active": lambda s: np.zeros(s.t.size),  # stability control switched off on track
    **{f"tpms_press_{w}_psi": _warming(30.0 + 0.2 * k, 36.5 + 0.3 * k, 400.0) for k, w in enumerate(_WHEELS)},
    **{f"tpms_temp_{w}_f": _warming(75.0, 150.0 + 5.0 * k, 400.0) for k, w in enumerate(_WHEELS)},
    **{f"tpms_volt_{w}_mv": (lambda s: np.full(s.t.size, 3000.0)) for w in _WHEELS},
    **{f"tpms_alarm_{w}": (lambda s: np.zeros(s.t.size)) for w in _WHEELS},
}
"""Dash channels the lap model does not produce, by DBC signal name, in the dash's units."""


class Simulator:
    """Sends a simulated AiM MXP frame stream for ``laps`` laps (fractions allowed; None = until stopped) on
    ``channel``, starting at the start line.

    ``lap_seconds`` as :func:`~pitwall.live.physics.lap_profile` (None = natural lap time); ``speed`` is the
    real-time multiplier (must be > 0); ``seed`` fixes the GPS noise.
    """

    def __init__(
        self,
        track: Track,
        car: CarConfig,
        db: Database,
        *,
        lap_seconds: float | None = 60.0,
        speed: float = 1.0,
        channel: str = "pitwall-sim",
        laps: float | None = None,
        interface: str = "virtual",
        seed: int = 0,
    ) -> None:
        if speed <= 0:
            raise ValueError("speed must be > 0")
        if laps is not None and laps <= 0:
            raise ValueError("laps must be > 0")
        self.track, self.car, self.speed, self.channel, self.laps, self.interface = (
            track,
            car,
            speed,
            channel,
            laps,
            interface,
        )
        self.profile = lap_profile(track, car=car, lap_seconds=lap_seconds)
        self.lap_s = lap_time_s(self.profile)
        self.duration_s = math.inf if laps is None else laps * self.lap_s
        self._encoder = Encoder(db)
        self._extended = {
            f.frame_id: bool(db.get_message_by_frame_id(f.frame_id).is_extended_frame) for f in car.frames
        }
        self._gps = GpsReceiver(self.profile, seed=seed)
        self._lap = PeriodicTable(
            self.profile.get_column("t_s").to_numpy(), self._lap_columns(self.profile), self.lap_s
        )
        drivetrain, perf = car.drivetrain, car.performance
        assert drivetrain is not None and perf is not None  # lap_profile checked
        self._derived: dict[str, Callable[[_State], FloatArray]] = {
            "rpm_frac": lambda s: s["rpm"] / drivetrain.redline_rpm,
            "fuel_used_l": lambda s: (
                ((np.floor(s.t / self.lap_s) * s["full_power_s_lap"] + s["full_power_s_cum"]) * perf.power_kw)
                / 3600.0
                * FUEL_L_PER_KWH
            ),
        }
        self._missing = [
            ch.signal
            for ch in car.channels
            if ch.dead is None and ch.canonical is None and ch.signal not in _DASH_SIGNALS
        ]
        if self._missing:
            raise ValueError(f"the simulator cannot produce {self._missing} for car {car.id}")
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()
        self.frames_sent = 0
        self.sent_until_s = 0.0  # data time of the last frame sent
        self.start_timestamp: float | None = None
        self.last_error: str | None = None

    # public ----------------------------------------------------------------------------------------------

    @property
    def truth(self) -> list[float]:
        """Start-line crossings produced so far: ``k · lap_s`` (s since the first crossing) for every crossing
        at or before the last frame sent."""
        with self._lock:
            until = self.sent_until_s if self.frames_sent else -1.0
        n = math.floor(until / self.lap_s) + 1 if until >= 0 else 0
        return [k * self.lap_s for k in range(n)]

    def start(self) -> None:
        """Open the bus and start sending on a background thread."""
        if self._thread is not None:
            raise RuntimeError("Simulator already started")
        extra: dict[str, Any] = {"preserve_timestamps": True} if self.interface == "virtual" else {}
        bus = can.Bus(interface=self.interface, channel=self.channel, **extra)
        self._thread = threading.Thread(
            target=self._run, args=(bus,), name=f"simulator-{self.channel}", daemon=True
        )
        self._thread.start()

    def stop(self, timeout_s: float = 5.0) -> None:
        """Stop sending (idempotent)."""
        self._stop.set()
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(timeout_s)

    def wait(self, timeout_s: float | None = None) -> bool:
        """Wait for a finite run (``laps``) to finish; True when it has."""
        if self._thread is None:
            return False
        self._thread.join(timeout_s)
        return not self._thread.is_alive()

    def frames_between(self, t0: float, t1: float) -> FrameBatch:
        """Every frame with data time in ``[t0, t1)``, time-ordered, timestamps as data time ``t``.

        The GPS noise is a continuous random process: successive calls must move forward in time (a fresh
        simulator with the same seed reproduces the same frames however the span is cut into calls)."""
        parts = []
        for j, frame in enumerate(self.car.frames):
            first = math.ceil((t0 - j * FRAME_GAP_S) * frame.rate_hz - 1e-9)
            last = math.ceil((t1 - j * FRAME_GAP_S) * frame.rate_hz - 1e-9)
            if last <= first:
                continue
            t = np.arange(first, last) / frame.rate_hz + j * FRAME_GAP_S
            t = t[(t >= max(t0, 0.0)) & (t < min(t1, self.duration_s))]
            if t.size:
                parts.append((t, frame, self._payloads(frame, t)))
        if not parts:
            return FrameBatch.empty()
        t_all = np.concatenate([t for t, _, _ in parts])
        batch = FrameBatch(
            t_s=t_all,
            arbitration_id=np.concatenate([np.full(t.size, f.frame_id, np.int64) for t, f, _ in parts]),
            is_extended=np.concatenate([np.full(t.size, self._extended[f.frame_id]) for t, f, _ in parts]),
            dlc=np.full(t_all.size, PAYLOAD_BYTES, np.uint8),
            data=np.concatenate([d for _, _, d in parts]),
        )
        return batch.take(np.argsort(t_all, kind="stable"))

    # internals -------------------------------------------------------------------------------------------

    @staticmethod
    def _lap_columns(profile: pl.DataFrame) -> dict[str, FloatArray]:
        """Profile columns plus the derived per-lap quantities the dash channels need."""
        cols = {c: profile.get_column(c).cast(pl.Float64).to_numpy() for c in profile.columns}
        t = cols["t_s"]
        period = lap_time_s(profile)
        t_ext = np.concatenate([t - period, t, t + period])
        for name in ("g_lat", "g_long"):
            v = np.tile(cols[name], 3)
            cols[f"{name}_rate"] = np.gradient(v, t_ext)[t.size : 2 * t.size]
        # fraction of full engine power in use ≈ throttle × rpm / redline-ish peak; integrated over the lap it
        # gives "full-power seconds", the fuel model's unit
        power_frac = cols["throttle_pct"] / 100.0 * cols["rpm"] / cols["rpm"].max()
        dt = np.diff(t, append=period)
        cols["full_power_s_cum"] = np.concatenate([[0.0], np.cumsum(power_frac * dt)[:-1]])
        cols["full_power_s_lap"] = np.full(t.size, float(np.sum(power_frac * dt)))
        return cols

    def _channel_values(self, ch: Channel, state: _State) -> FloatArray:
        if ch.canonical is not None:
            return ch.conversion.invert(state[ch.canonical])
        return _DASH_SIGNALS[ch.signal](state)

    def _payloads(self, frame: Frame, t: FloatArray) -> npt.NDArray[np.uint8]:
        state = _State(t, self._lap, self._derived)
        values: dict[str, FloatArray] = {}
        gps = [ch for ch in frame.channels if ch.canonical in {"lat_deg", "lon_deg"} and ch.dead is None]
        if gps:
            lat, lon = self._gps.fixes(t)
            state.cols["lat_deg"], state.cols["lon_deg"] = lat, lon
        for ch in frame.channels:
            if ch.dead is None:
                values[ch.signal] = self._channel_values(ch, state)
        return self._encoder.encode(frame.frame_id, values, is_extended=self._extended[frame.frame_id])

    def _run(self, bus: can.BusABC) -> None:
        try:
            self.start_timestamp = time.time()
            wall0 = time.monotonic()
            cursor = 0.0
            chunk_s = max(CHUNK_S, CHUNK_WALL_S * self.speed)
            while not self._stop.is_set() and cursor < self.duration_s:
                end = min(cursor + chunk_s, self.duration_s)
                batch = self.frames_between(cursor, end)
                cursor = end
                for msg, t in zip(batch.to_messages(channel=self.channel), batch.t_s.tolist(), strict=True):
                    delay = wall0 + t / self.speed - time.monotonic()
                    if delay > 0.0005 and self._stop.wait(delay):
                        return
                    msg.timestamp = self.start_timestamp + t
                    bus.send(msg)
                    with self._lock:
                        self.frames_sent += 1
                        self.sent_until_s = t
        except (can.CanError, OSError) as exc:
            self.last_error = f"{type(exc).__name__}: {exc}"
        finally:
            bus.shutdown()
