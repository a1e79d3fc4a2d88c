"""Small geodesy helpers on numpy arrays (WGS84 degrees in, metres out).

Circuits are a few km across, so a local tangent plane (equirectangular about a reference point) is accurate
to millimetres for timing-line geometry; great-circle distances use the haversine formula.
"""

from __future__ import annotations

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
    """Great-circle distance in metres between paired points (broadcasting)."""
    lat1, lon1, lat2, lon2 = (
        np.radians(np.asarray(a, dtype=np.float64)) for a in (lat1_deg, lon1_deg, lat2_deg, lon2_deg)
    )
    a = np.sin((lat2 - lat1) / 2) ** 2 + np.cos(lat1) * np.cos(lat2) * np.sin((lon2 - lon1) / 2) ** 2
    return np.asarray(2 * EARTH_RADIUS_M * np.arcsin(np.sqrt(np.clip(a, 0.0, 1.0))), dtype=np.float64)


def path_steps_m(lat_deg: npt.ArrayLike, lon_deg: npt.ArrayLike) -> FloatArray:
    """Great-circle distance in metres between consecutive points of a path (length ``n - 1``).

    The same numbers as :func:`haversine_m` on consecutive pairs, bit for bit, with each point's radians and
    cosine computed once instead of once per step it ends (trigonometry is the cost on long recordings).
    """
    lat = np.radians(np.asarray(lat_deg, dtype=np.float64))
    lon = np.radians(np.asarray(lon_deg, dtype=np.float64))
    cos_lat = np.cos(lat)
    # haversine_m's operations in its order, in place (fewer temporaries): a = sin²(Δφ/2) + cos φ₁ cos φ₂ sin²(Δλ/2)
    a = _sin_squared_half(np.diff(lat))
    a += cos_lat[:-1] * cos_lat[1:] * _sin_squared_half(np.diff(lon))
    np.clip(a, 0.0, 1.0, out=a)
    np.sqrt(a, out=a)
    np.arcsin(a, out=a)
    a *= 2 * EARTH_RADIUS_M
    return a


def _sin_squared_half(angle: FloatArray) -> FloatArray:
    """``sin(angle / 2) ** 2`` (radians), computed in ``angle``'s own buffer."""
    angle /= 2
    np.sin(angle, out=angle)
    np.square(angle, out=angle)
    return angle


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
    steps = path_steps_m(np.asarray(lat_deg, np.float64), np.asarray(lon_deg, np.float64))
    distance = np.zeros(len(steps) + 1)
    np.cumsum(np.fmax(steps, 0.0), out=distance[1:])
    return distance
