"""Small geodesy helpers on numpy arrays (WGS84 degrees in, metres out).

Circuits are a few km across, so a local tangent plane (equirectangular about a reference point) is accurate
to millimetres for timing-line geometry; great-circle distances use the haversine formula.
"""

from __future__ import annotations

from typing import Final

import numpy as np
import numpy.typing as npt

EARTH_RADIUS_M = 6_371_008.8
"""Mean Earth radius (IUGG), metres."""

FloatArray = npt.NDArray[np.float64]


def to_local_xy(
    lat_deg: npt.ArrayLike, lon_deg: npt.ArrayLike, lat0_deg: float, lon0_deg: float
) -> tuple[FloatArray, FloatArray]:
    """Project to a local plane about (lat0, lon0): ``x`` metres east, ``y`` metres north."""
    lat = np.radians(np.asarray(lat_deg, dtype=np.float64))
    lon = np.radians(np.asarray(lon_deg, dtype=np.float64))
    lat0 = np.radians(lat0_deg)
    x = (lon - np.radians(lon0_deg)) * np.cos(lat0) * EARTH_RADIUS_M
    y = (lat - lat0) * EARTH_RADIUS_M
    return x, y


def from_local_xy(
    x_m: npt.ArrayLike, y_m: npt.ArrayLike, lat0_deg: float, lon0_deg: float
) -> tuple[FloatArray, FloatArray]:
    """Inverse of :func:`to_local_xy`: local metres back to (lat, lon) degrees."""
    x = np.asarray(x_m, dtype=np.float64)
    y = np.asarray(y_m, dtype=np.float64)
    lat = lat0_deg + np.degrees(y / EARTH_RADIUS_M)
    lon = lon0_deg + np.degrees(x / (EARTH_RADIUS_M * np.cos(np.radians(lat0_deg))))
    return lat, lon


def haversine_m(
    lat1_deg: npt.ArrayLike, lon1_deg: npt.ArrayLike, lat2_deg: npt.ArrayLike, lon2_deg: npt.ArrayLike
) -> FloatArray:
    """Great-circle distance in metres between paired points (broadcasting). The differences are taken in
    degrees, then converted: a difference of two angles in radians carries their rounding, ~1e-16 rad, which
    is ~1e-7 of the step between two GPS fixes logged 25 times a second."""
    lat1, lon1, lat2, lon2 = (
        np.asarray(a, dtype=np.float64) for a in (lat1_deg, lon1_deg, lat2_deg, lon2_deg)
    )
    half_lat, half_lon = (lat2 - lat1) * (np.pi / 360), (lon2 - lon1) * (np.pi / 360)  # radians, halved
    a = np.sin(half_lat) ** 2 + np.cos(np.radians(lat1)) * np.cos(np.radians(lat2)) * np.sin(half_lon) ** 2
    return np.asarray(2 * EARTH_RADIUS_M * np.arcsin(np.sqrt(np.clip(a, 0.0, 1.0))), dtype=np.float64)


SERIES_HALF_ANGLE_RAD: Final = 1e-4
"""Half-steps (radians of latitude or longitude, ≈ 640 m of latitude) below which :func:`path_steps_m` takes the
haversine's sines and arcsine from their series: what the series leave out is below 1e-17 of the step."""


def path_steps_m(lat_deg: npt.ArrayLike, lon_deg: npt.ArrayLike) -> FloatArray:
    """Great-circle distance in metres between consecutive points of a path (length ``n - 1``; NaN for a step
    touching a NaN fix).

    The haversine, ``2R asin(√a)`` with ``a = sin²(Δφ/2) + cos φ₁ cos φ₂ sin²(Δλ/2)``, where every half-step is
    below :data:`SERIES_HALF_ANGLE_RAD` (GPS fixes of a moving car, many times a second) with
    ``sin² u = u² (1 − u²/3)`` and ``asin x = x (1 + x²/6)``: only each point's cosine is trigonometry (computed
    once; it was the cost on long recordings). Within a few units in the last place of :func:`haversine_m`, which
    gives the longer steps; both take the differences in degrees (see there).
    """
    lat_deg, lon_deg = np.asarray(lat_deg, dtype=np.float64), np.asarray(lon_deg, dtype=np.float64)
    cos_lat = np.cos(np.radians(lat_deg))
    half_lat, half_lon = (np.diff(angle) * (np.pi / 360) for angle in (lat_deg, lon_deg))  # radians, halved
    half_lat *= half_lat
    half_lon *= half_lon  # from here on the squares
    longer = np.flatnonzero((half_lat >= SERIES_HALF_ANGLE_RAD**2) | (half_lon >= SERIES_HALF_ANGLE_RAD**2))
    a = _sin_squared_series(half_lat)
    a += _sin_squared_series(half_lon) * cos_lat[:-1] * cos_lat[1:]
    with np.errstate(invalid="ignore"):  # a longer step's series may go negative: it is replaced below
        np.sqrt(a, out=a)
    steps = a * a
    steps *= 1 / 6
    steps += 1
    steps *= a
    steps *= 2 * EARTH_RADIUS_M
    if longer.size:
        steps[longer] = haversine_m(
            lat_deg[longer], lon_deg[longer], lat_deg[longer + 1], lon_deg[longer + 1]
        )
    return steps


def _sin_squared_series(squared: FloatArray) -> FloatArray:
    """``sin² u`` from ``u²`` (radians², below :data:`SERIES_HALF_ANGLE_RAD` squared) as ``u² (1 − u²/3)``,
    computed in the buffer of ``squared``."""
    ratio = squared * (-1 / 3)
    ratio += 1
    squared *= ratio
    return squared


def bearing_deg(
    lat1_deg: npt.ArrayLike, lon1_deg: npt.ArrayLike, lat2_deg: npt.ArrayLike, lon2_deg: npt.ArrayLike
) -> FloatArray:
    """Initial bearing from point 1 to point 2, degrees clockwise from north in [0, 360)."""
    lat1, lon1, lat2, lon2 = (
        np.radians(np.asarray(a, dtype=np.float64)) for a in (lat1_deg, lon1_deg, lat2_deg, lon2_deg)
    )
    dlon = lon2 - lon1
    y = np.sin(dlon) * np.cos(lat2)
    x = np.cos(lat1) * np.sin(lat2) - np.sin(lat1) * np.cos(lat2) * np.cos(dlon)
    return np.asarray(np.degrees(np.arctan2(y, x)) % 360.0, dtype=np.float64)


def segment_crossings(
    x: FloatArray, y: FloatArray, ax: float, ay: float, bx: float, by: float
) -> tuple[npt.NDArray[np.int64], FloatArray, FloatArray]:
    """Where the polyline (x, y) crosses the segment A→B.

    Returns ``(i, f, side)``: the path segment ``i → i+1`` crosses at fraction ``f`` in [0, 1) of that segment,
    and ``side`` is the sign of the crossing (+1 when the path goes from the right of A→B to its left).
    The caller interpolates crossing times as ``t[i] + f * (t[i+1] - t[i])``.
    """
    px, py = x[:-1], y[:-1]
    rx, ry = x[1:] - px, y[1:] - py
    sx, sy = bx - ax, by - ay
    denom = rx * sy - ry * sx
    with np.errstate(divide="ignore", invalid="ignore"):
        f = ((ax - px) * sy - (ay - py) * sx) / denom  # along the path segment
        u = ((ax - px) * ry - (ay - py) * rx) / denom  # along the gate
    hit = (denom != 0) & (f >= 0) & (f < 1) & (u >= 0) & (u <= 1)
    idx = np.nonzero(hit)[0].astype(np.int64)
    side = np.sign(-denom[idx])
    return idx, f[idx], side


def cumulative_distance_m(lat_deg: npt.ArrayLike, lon_deg: npt.ArrayLike) -> npt.NDArray[np.float64]:
    """Cumulative great-circle distance (m) along the fixes (degrees), 0 at the first; a step touching a missing
    fix (NaN) adds nothing. Steps are :func:`path_steps_m`."""
    return accumulated_m(path_steps_m(np.asarray(lat_deg, np.float64), np.asarray(lon_deg, np.float64)))


def accumulated_m(steps: FloatArray) -> FloatArray:
    """The running total (m) of a path's ``steps`` (m, length ``n - 1``), 0 at the first of its ``n`` points; a
    NaN step adds nothing."""
    distance = np.zeros(len(steps) + 1)
    np.cumsum(np.fmax(steps, 0.0), out=distance[1:])
    return distance
