"""Tests of the pure analysis pipelines.

:func:`circle_track` and :func:`circle_drive` build an exactly known geometry for lap-timing tests: a circular
track of radius ``R`` driven counter-clockwise, start/finish line at the bottom (heading east), so every
crossing time is known in closed form: the car is at track position ``s = distance mod 2πR``.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import numpy.typing as npt
import polars as pl

from pitwall.analysis.geo import from_local_xy, to_local_xy
from pitwall.track import Corner, Gate, ReferenceLine, Track

LAT0, LON0 = 45.0, -88.0
RADIUS_M = 150.0


def circle_track(
    radius_m: float = RADIUS_M, *, sector_ends_m: tuple[float, ...] = (), corners: tuple[Corner, ...] = ()
) -> Track:
    """A circle of ``radius_m`` about (LAT0, LON0); ``s_m = 0`` at the bottom, travel counter-clockwise."""
    theta = np.linspace(0.0, 2 * np.pi, 1001)
    lat, lon = from_local_xy(radius_m * np.sin(theta), -radius_m * np.cos(theta), LAT0, LON0)
    glat, glon = from_local_xy([0.0, 0.0], [-radius_m - 15.0, -radius_m + 15.0], LAT0, LON0)
    length = 2 * np.pi * radius_m
    return Track(
        id="circle",
        name="Circle",
        length_m=length,
        start_finish=Gate("S/F", "start_finish", glat[0], glon[0], glat[1], glon[1], heading_deg=90.0),
        reference_line=ReferenceLine(lat, lon, np.zeros_like(lat), radius_m * theta),
        sector_ends_m=sector_ends_m,
        corners=corners,
    )


def gate_at(s_m: float, radius_m: float = RADIUS_M, *, heading: bool = True) -> Gate:
    """A 30 m line across the circle at track position ``s_m``."""
    theta = s_m / radius_m
    r = np.array([radius_m - 15.0, radius_m + 15.0])
    lat, lon = from_local_xy(r * np.sin(theta), -r * np.cos(theta), LAT0, LON0)
    bearing = (90.0 - np.degrees(theta)) % 360.0
    return Gate(
        "VBO", "start_finish", lat[0], lon[0], lat[1], lon[1], heading_deg=bearing if heading else None
    )


def circle_drive(
    t_s: npt.ArrayLike,
    distance_m: npt.ArrayLike,
    *,
    radius_m: float = RADIUS_M,
    offset_m: npt.ArrayLike = 0.0,
    clockwise: bool = False,
) -> pl.DataFrame:
    """Telemetry of a car on the circle: ``t_s``, ``lat_deg``, ``lon_deg``, ``heading_deg``, ``speed_kph``,
    ``distance_m``, ``s_m``, ``offset_m`` for travelled ``distance_m`` at times ``t_s`` (start at ``s = 0``),
    ``offset_m`` (scalar or per sample) metres left of the circle."""
    t = np.asarray(t_s, dtype=np.float64)
    d = np.asarray(distance_m, dtype=np.float64)
    theta = (-d if clockwise else d) / radius_m
    offset = np.broadcast_to(np.asarray(offset_m, dtype=np.float64), t.shape)
    r = radius_m - offset  # positive offset = left of travel = towards the centre (counter-clockwise)
    lat, lon = from_local_xy(r * np.sin(theta), -r * np.cos(theta), LAT0, LON0)
    speed = np.gradient(d, t) * 3.6 if t.size > 1 else np.zeros_like(t)
    heading = (90.0 - np.degrees(theta) + (180.0 if clockwise else 0.0)) % 360.0
    length = 2 * np.pi * radius_m
    return pl.DataFrame(
        {
            "t_s": t,
            "lat_deg": lat,
            "lon_deg": lon,
            "heading_deg": heading,
            "speed_kph": speed,
            "distance_m": d,
            "s_m": (-d if clockwise else d) % length,
            "offset_m": offset,
        }
    )


def simulate_laps(
    profile: pl.DataFrame,
    lap_time_s: float,
    *,
    pace: Sequence[float | npt.NDArray[np.float64]],
    rate_hz: float = 10.0,
    phase_s: float = 0.0,
    lead_s: float = 20.0,
    tail_s: float = 20.0,
) -> tuple[pl.DataFrame, npt.NDArray[np.float64]]:
    """Drive consecutive laps of a ``pitwall.live.physics.lap_profile`` and sample them like a GPS logger.

    Lap ``k`` runs at the profile's speed × ``pace[k]`` (a scalar or one factor per profile row), preceded and
    followed by a lap at the profile's pace. Fixes every ``1/rate_hz`` s start ``lead_s − phase_s`` before the
    first start/finish crossing and end ``tail_s`` after the last one. Returns the telemetry (``t_s`` from 0,
    ``lat_deg``, ``lon_deg``, ``heading_deg``, ``speed_kph``, ``distance_m``, ``throttle_pct``, ``brake_bar``)
    and the TRUE crossing times (s, same clock): the profile's ``t = 0`` instants of every lap but the first.
    """
    n = profile.height
    lat0, lon0 = float(profile["lat_deg"][0]), float(profile["lon_deg"][0])
    x, y = to_local_xy(profile["lat_deg"].to_numpy(), profile["lon_deg"].to_numpy(), lat0, lon0)
    dt = np.diff(np.append(profile["t_s"].to_numpy(), lap_time_s))  # row i → i+1, closing the loop
    ds = np.hypot(np.diff(np.append(x, x[0])), np.diff(np.append(y, y[0])))
    factors = np.concatenate(
        [np.broadcast_to(np.asarray(p, dtype=np.float64), (n,)) for p in [1.0, *pace, 1.0]]
    )
    laps = factors.size // n
    all_t = np.concatenate([[0.0], np.cumsum(np.tile(dt, laps) / factors)])[:-1]
    crossings = all_t[n::n]  # the instants the car is on the profile's first row again
    start = crossings[0] - lead_s + phase_s
    fix_t = np.arange(start, crossings[-1] + tail_s, 1.0 / rate_hz)

    def along(values: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
        return np.asarray(np.interp(fix_t, all_t, values), dtype=np.float64)

    lat, lon = from_local_xy(along(np.tile(x, laps)), along(np.tile(y, laps)), lat0, lon0)
    heading = np.unwrap(np.tile(np.radians(profile["heading_deg"].to_numpy()), laps))
    frame = pl.DataFrame(
        {
            "t_s": fix_t - start,
            "lat_deg": lat,
            "lon_deg": lon,
            "heading_deg": np.degrees(along(heading)) % 360.0,
            "speed_kph": along(np.tile(profile["speed_kph"].to_numpy(), laps) * factors),
            "distance_m": along(np.concatenate([[0.0], np.cumsum(np.tile(ds, laps))])[:-1]),
            "throttle_pct": along(np.tile(profile["throttle_pct"].to_numpy(), laps)),
            "brake_bar": along(np.tile(profile["brake_bar"].to_numpy(), laps)),
        }
    )
    return frame, np.asarray(crossings - start, dtype=np.float64)
