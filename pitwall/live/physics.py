"""A physically plausible lap on a track's reference line: the speed profile the simulator puts on the wire.

Quasi-steady-state lap model on the (smoothed) reference line, sampled every ``ds_m`` metres:

1. Curvature ``κ`` (1/m, positive for left bends) from the line smoothed over ``smooth_m``; the grip limit
   ``v ≤ sqrt(μ g / |κ|)``, also capped at the speed where the engine hits the redline in top gear.
2. Forward pass, power-limited: ``a = min(P / (m v) − F_drag / m, a_avail)`` with ``a_avail`` what the
   friction circle leaves after the lateral demand ``v² |κ|``; ``F_drag = ½ ρ CdA v²``.
3. Backward pass, brake-limited: ``a = min(brake_g · g + F_drag / m, a_avail)``. The total acceleration stays
   inside the friction circle (aero drag counted in it, a conservative simplification). The lap is closed:
   both passes start at the slowest corner, where the car is at the grip limit.
4. ``g_lat = v² κ / g`` (positive left), ``g_long = d(v²/2)/ds / g`` (= dv/dt / g), ``g_vert = v² z''(s) / g`` from the line's
   elevation; throttle is the fraction of the engine power the acceleration and drag need, brake pressure
   the fraction of full braking times ``max_brake_bar``; gear is the lowest gear that keeps the engine under
   the redline (a racing driver's shift point), rpm follows from gear ratio, final drive and tyre size.

``lap_seconds``: the contract's ``--simulate-lap-seconds`` (default 60 s). A natural lap of Sonoma in a road
car takes ≈ 100-110 s, so a 60 s lap is **not physical**. It is produced honestly by time-scaling the natural
lap: speeds × ``c = T_natural / lap_seconds`` and times ÷ ``c``. This is exactly the lap the same model gives
with grip and braking scaled by ``c²`` and power by ``c³`` (drag unchanged), so the profile stays internally
consistent (``g_lat = v² κ / g``, ``|g| ≤`` the scaled grip, reported as ``grip_limit_g``). Engine speed is
capped at the redline when the scaled speed exceeds what the gearing allows. ``lap_seconds=None`` returns the
natural lap.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Final

import numpy as np
import numpy.typing as npt
import polars as pl
from scipy.ndimage import gaussian_filter1d

from pitwall.analysis.geo import from_local_xy, to_local_xy
from pitwall.formats.car import CarConfig, Drivetrain, Performance
from pitwall.schema import G0
from pitwall.track import Track

FloatArray = npt.NDArray[np.float64]

AIR_DENSITY: Final = 1.2
"""kg/m³ at about 20 °C at sea level."""
SHIFT_FRACTION: Final = 0.97
"""Upshift at this fraction of the redline."""

PROFILE_COLUMNS: Final[dict[str, pl.DataType]] = {
    "s_m": pl.Float64(),  # distance along the smoothed reference line from the start line
    "t_s": pl.Float64(),  # time since crossing the start line
    "lat_deg": pl.Float64(),  # exact position on the line (no GPS noise; see gps_fixes)
    "lon_deg": pl.Float64(),
    "alt_m": pl.Float64(),
    "heading_deg": pl.Float64(),
    "kappa_1pm": pl.Float64(),  # signed curvature, positive left
    "speed_kph": pl.Float64(),
    "g_lat": pl.Float64(),
    "g_long": pl.Float64(),
    "g_vert": pl.Float64(),
    "yaw_rate_dps": pl.Float64(),
    "steering_deg": pl.Float64(),
    "throttle_pct": pl.Float64(),
    "brake_bar": pl.Float64(),
    "rpm": pl.Float64(),
    "gear": pl.Int32(),
    "grip_limit_g": pl.Float64(),  # the friction limit the (possibly scaled) lap respects
}
"""Columns of :func:`lap_profile` (one row every ``ds_m`` metres, the last row is just before the line)."""


def _periodic_d(values: FloatArray, ds: float) -> FloatArray:
    """Central difference on a closed loop sampled every ``ds``."""
    return (np.roll(values, -1) - np.roll(values, 1)) / (2.0 * ds)


def _closed_line(
    track: Track, ds_m: float, smooth_m: float, smooth_alt_m: float
) -> tuple[FloatArray, FloatArray, FloatArray, float]:
    """The reference line as a closed loop resampled every ≈ ``ds_m`` and smoothed (Gaussian, σ = ``smooth_m``
    horizontally, ``smooth_alt_m`` for the noisier elevation): local x, y, z (m) and the actual spacing. The
    origin is the first point (the start line)."""
    ref = track.reference_line
    if len(ref) < 4:
        raise ValueError(f"track {track.id}: reference line needs at least 4 points")
    lat0, lon0 = float(ref.lat_deg[0]), float(ref.lon_deg[0])
    x, y = to_local_xy(ref.lat_deg, ref.lon_deg, lat0, lon0)
    closing = float(np.hypot(x[-1] - x[0], y[-1] - y[0]))
    s = np.concatenate([[0.0], np.cumsum(np.hypot(np.diff(x), np.diff(y)))])
    total = float(s[-1] + closing)
    n = max(round(total / ds_m), 16)
    grid = np.linspace(0.0, total, n, endpoint=False)
    z = ref.alt_m if np.all(np.isfinite(ref.alt_m)) else np.zeros(len(ref))
    step = total / n
    xs, ys = (
        gaussian_filter1d(np.interp(grid, s, v, period=total), smooth_m / step, mode="wrap") for v in (x, y)
    )
    zs = gaussian_filter1d(
        np.interp(grid, s, np.asarray(z, np.float64), period=total), smooth_alt_m / step, mode="wrap"
    )
    return xs, ys, zs, step


def _top_speed_mps(drivetrain: Drivetrain) -> float:
    """Speed at the redline in top gear."""
    return (
        drivetrain.redline_rpm
        / 60.0
        * drivetrain.tyre_circumference_m
        / (drivetrain.gear_ratios[-1] * drivetrain.final_drive)
    )


def _speed_profile(kappa: FloatArray, ds: float, perf: Performance, v_cap: float) -> FloatArray:
    """Grip-, power- and brake-limited speed (m/s) at each point of the closed loop."""
    mu_g = perf.mu * G0
    v_lim = np.minimum(np.sqrt(mu_g / np.maximum(np.abs(kappa), 1e-9)), v_cap)
    start = int(np.argmin(v_lim))
    v_lim_r = np.roll(v_lim, -start)
    k_r = np.abs(np.roll(kappa, -start))
    n = v_lim_r.size
    power_w = perf.power_kw * 1000.0
    drag_k = 0.5 * AIR_DENSITY * perf.drag_area_m2 / perf.mass_kg  # drag deceleration per v², 1/m

    def available(v: float, k: float) -> float:
        lat = v * v * k / mu_g
        return mu_g * float(np.sqrt(max(0.0, 1.0 - lat * lat)))

    fwd = np.empty(n + 1)
    fwd[0] = v_lim_r[0]
    for i in range(n):
        v = fwd[i]
        a = min(power_w / (perf.mass_kg * max(v, 1.0)) - drag_k * v * v, available(v, k_r[i]))
        fwd[i + 1] = min(np.sqrt(max(v * v + 2.0 * a * ds, 0.0)), v_lim_r[(i + 1) % n])
    bwd = np.empty(n + 1)
    bwd[n] = v_lim_r[0]
    for i in range(n, 0, -1):
        v = bwd[i]
        a = min(perf.brake_g * G0 + drag_k * v * v, available(v, k_r[i % n]))
        bwd[i - 1] = min(np.sqrt(v * v + 2.0 * a * ds), v_lim_r[i - 1])
    v = np.minimum(fwd[:n], bwd[:n])
    return np.roll(v, start)


def _gear_and_rpm(v: FloatArray, drivetrain: Drivetrain) -> tuple[npt.NDArray[np.int32], FloatArray]:
    wheel_rpm = v / drivetrain.tyre_circumference_m * 60.0
    ratios = np.asarray(drivetrain.gear_ratios) * drivetrain.final_drive
    rpm_all = wheel_rpm[:, None] * ratios[None, :]
    under = rpm_all <= SHIFT_FRACTION * drivetrain.redline_rpm
    gear_idx = np.where(under.any(axis=1), np.argmax(under, axis=1), len(ratios) - 1)
    rpm = np.take_along_axis(rpm_all, gear_idx[:, None], axis=1)[:, 0]
    return (gear_idx + 1).astype(np.int32), np.clip(rpm, drivetrain.idle_rpm, drivetrain.redline_rpm)


def lap_profile(
    track: Track,
    *,
    car: CarConfig,
    lap_seconds: float | None = 60.0,
    ds_m: float = 2.0,
    smooth_m: float = 8.0,
    smooth_alt_m: float = 40.0,
) -> pl.DataFrame:
    """One closed lap of ``track`` for ``car`` (needs the car's ``drivetrain`` and ``performance``).

    Returns :data:`PROFILE_COLUMNS`, one row every ≈ ``ds_m`` metres from the start line. ``lap_seconds``
    time-scales the natural lap (see the module docstring); ``None`` keeps the natural lap. Steering angle
    is the kinematic (bicycle-model) road-wheel angle ``atan(wheelbase · κ)`` times the steering ratio, in
    degrees at the steering wheel.
    """
    if car.drivetrain is None or car.performance is None:
        raise ValueError(f"car {car.id} needs 'drivetrain' and 'performance' sections to simulate a lap")
    if lap_seconds is not None and lap_seconds <= 0:
        raise ValueError("lap_seconds must be > 0")
    drivetrain, perf = car.drivetrain, car.performance
    x, y, z, ds = _closed_line(track, ds_m, smooth_m, smooth_alt_m)
    dx, dy = _periodic_d(x, ds), _periodic_d(y, ds)
    ddx, ddy = _periodic_d(dx, ds), _periodic_d(dy, ds)
    kappa = (dx * ddy - dy * ddx) / np.power(dx * dx + dy * dy, 1.5)
    z_curv = _periodic_d(_periodic_d(z, ds), ds)
    v = _speed_profile(kappa, ds, perf, _top_speed_mps(drivetrain))
    dt = 2.0 * ds / (v + np.roll(v, -1))  # time from point i to i+1 (trapezoid in 1/v)
    natural_s = float(dt.sum())
    scale = 1.0 if lap_seconds is None else natural_s / lap_seconds
    v = v * scale
    dt = dt / scale
    t = np.concatenate([[0.0], np.cumsum(dt[:-1])])
    accel = _periodic_d(0.5 * v * v, ds)  # m/s², dv/dt = d(v²/2)/ds
    drag = 0.5 * AIR_DENSITY * perf.drag_area_m2 * v * v  # N
    power_w = perf.power_kw * 1000.0 * scale**3
    throttle = np.clip((perf.mass_kg * accel + drag) * v / power_w, 0.0, 1.0) * 100.0
    brake_force = np.maximum(-perf.mass_kg * accel - drag, 0.0)
    brake = (
        np.clip(brake_force / (perf.mass_kg * perf.brake_g * G0 * scale**2), 0.0, 1.0) * perf.max_brake_bar
    )
    gear, rpm = _gear_and_rpm(v, drivetrain)
    lat0, lon0 = float(track.reference_line.lat_deg[0]), float(track.reference_line.lon_deg[0])
    lat, lon = from_local_xy(x, y, lat0, lon0)
    return pl.DataFrame(
        {
            "s_m": np.arange(v.size) * ds,
            "t_s": t,
            "lat_deg": lat,
            "lon_deg": lon,
            "alt_m": z,
            "heading_deg": np.degrees(np.arctan2(dx, dy)) % 360.0,
            "kappa_1pm": kappa,
            "speed_kph": v * 3.6,
            "g_lat": v * v * kappa / G0,
            "g_long": accel / G0,
            "g_vert": v * v * z_curv / G0,
            "yaw_rate_dps": np.degrees(v * kappa),
            "steering_deg": np.degrees(np.arctan(perf.wheelbase_m * kappa)) * perf.steering_ratio,
            "throttle_pct": throttle,
            "brake_bar": brake,
            "rpm": rpm,
            "gear": gear,
            "grip_limit_g": np.full(v.size, perf.mu * scale * scale),
        },
        schema=PROFILE_COLUMNS,
    )


def lap_time_s(profile: pl.DataFrame) -> float:
    """Lap time of a :func:`lap_profile` (s): ∮ ds / v with the trapezoid rule in 1/v, closing the loop."""
    s = profile.get_column("s_m").to_numpy()
    v = profile.get_column("speed_kph").to_numpy() / 3.6
    ds = float(s[1] - s[0])
    return float(np.sum(2.0 * ds / (v + np.roll(v, -1))))


class PeriodicTable:
    """Columns sampled at the times ``t`` of one period, interpolated periodically: ``table(name, phase)`` with
    ``phase = table.phase(x)`` is ``np.interp(np.mod(x, period), t, column, period=period)`` bit for bit.

    ``np.interp`` with ``period`` sorts and pads ``t`` and the column on every call; here that is done once,
    which makes a call O(len(x) · log len(t)) instead of O(len(t) · log len(t))."""

    def __init__(self, t: FloatArray, columns: Mapping[str, FloatArray], period: float) -> None:
        if period <= 0:
            raise ValueError("period must be > 0")
        self.period = float(period)
        xp = np.asarray(t, np.float64) % self.period
        order = np.argsort(xp)
        xp = xp[order]
        self._xp = np.concatenate((xp[-1:] - self.period, xp, xp[0:1] + self.period))
        self._fp = {name: self._pad(np.asarray(v, np.float64)[order]) for name, v in columns.items()}

    @staticmethod
    def _pad(fp: FloatArray) -> FloatArray:
        return np.concatenate((fp[-1:], fp, fp[0:1]))

    def phase(self, x: FloatArray) -> FloatArray:
        """Position of times ``x`` (s) in the period: ``np.mod(x, period)`` reduced once more, as
        ``np.interp(..., period=)`` reduces its ``x``."""
        return np.mod(np.mod(x, self.period), self.period)

    def __call__(self, name: str, phase: FloatArray) -> FloatArray:
        """Column ``name`` at ``phase`` (from :meth:`phase`), linearly interpolated across the wrap."""
        return np.interp(phase, self._xp, self._fp[name])


class GpsReceiver:
    """GPS fixes along a :func:`lap_profile` at session times (laps repeat): the position on the line plus
    first-order Gauss-Markov noise per axis with standard deviation ``sigma_m`` metres and correlation time
    ``tau_s`` (a GNSS receiver's error wanders slowly rather than jumping from fix to fix). Seeded; the noise
    state carries over between calls so consecutive chunks form one continuous track."""

    def __init__(
        self, profile: pl.DataFrame, *, seed: int = 0, sigma_m: float = 0.5, tau_s: float = 2.0
    ) -> None:
        lat = profile.get_column("lat_deg").to_numpy()
        lon = profile.get_column("lon_deg").to_numpy()
        self._line = PeriodicTable(
            profile.get_column("t_s").to_numpy(), {"lat": lat, "lon": lon}, lap_time_s(profile)
        )
        self._origin = (float(lat[0]), float(lon[0]))
        self._rng = np.random.default_rng(seed)
        self.sigma_m, self.tau_s = sigma_m, tau_s
        self._last_t: float | None = None
        self._state = self._rng.standard_normal(2) * sigma_m

    def fixes(self, t_s: FloatArray) -> tuple[FloatArray, FloatArray]:
        """(lat, lon) in degrees at increasing times ``t_s`` (s since the first start-line crossing)."""
        phase = self._line.phase(t_s)
        lat, lon = self._line("lat", phase), self._line("lon", phase)
        noise = np.empty((t_s.size, 2))
        for i, t in enumerate(t_s.tolist()):
            if self._last_t is not None:
                rho = float(np.exp(-max(t - self._last_t, 0.0) / self.tau_s))
                self._state = rho * self._state + self._rng.standard_normal(2) * self.sigma_m * np.sqrt(
                    1 - rho * rho
                )
            self._last_t = t
            noise[i] = self._state
        east, north = to_local_xy(lat, lon, *self._origin)
        return from_local_xy(east + noise[:, 0], north + noise[:, 1], *self._origin)
