"""A circuit (:class:`~pitwall.track.Track`) from a closed centre-line polyline: the geometry shared by the
track-library builder (``python -m pipelines build-tracks``) and circuits learnt from a recording
(:mod:`pitwall.learned_tracks`).

A periodic interpolating cubic spline (chord-length parameter) goes through the vertices in a local metric
plane and is resampled every ≤ :data:`SPACING_M` metres of arc length from the start point; timing lines are
:data:`GATE_HALF_WIDTH_M` each side of the reference line, perpendicular to it.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import replace
from itertools import pairwise
from typing import Final, Literal

import numpy as np

from pitwall.analysis.curvature import closed_curvature_1pm, detect_corners
from pitwall.analysis.geo import FloatArray, bearing_deg, from_local_xy, to_local_xy
from pitwall.track import Corner, Gate, ReferenceLine, Track

SPACING_M = 4.0
"""Maximum spacing of the resampled reference line (metres)."""
GATE_HALF_WIDTH_M = 15.0
"""Timing lines reach this far each side of the reference line (a 30 m line)."""
DENSE_STEP_M = 0.25
"""Step of the dense spline evaluation used to measure arc length."""

CURVATURE_NAMES = (
    "curvature: no public turn list sourced; corners numbered 1..n in lap order from the centre line's "
    "curvature (pitwall.analysis.curvature), unnamed"
)
"""``corner_names_source`` of a track without hand-authored ``corner_names``."""


def resample_closed(
    x: FloatArray, y: FloatArray, alt: FloatArray
) -> tuple[FloatArray, FloatArray, FloatArray, FloatArray, float]:
    """Periodic spline through the closed polygon, resampled uniformly in arc length from the start point.

    ``x``/``y`` are metres in a plane centred on the start/finish point. Returns ``(x, y, alt_m, s_m,
    length_m)`` with ``s_m = 0`` at the spline point nearest the origin (within ``DENSE_STEP_M / 2``);
    altitude is interpolated linearly along the arc between the vertices.
    """
    xc, yc = np.r_[x, x[0]], np.r_[y, y[0]]
    u = np.r_[0.0, np.cumsum(np.hypot(np.diff(xc), np.diff(yc)))]
    from scipy.interpolate import splev, splprep  # loaded only when a circuit is built, not by every import

    tck, _ = splprep([xc, yc], u=u, per=1, s=0, k=3)
    u_dense = np.linspace(0.0, u[-1], math.ceil(u[-1] / DENSE_STEP_M) + 1)
    xd, yd = (np.asarray(v, dtype=np.float64) for v in splev(u_dense, tck))
    arc = np.r_[0.0, np.cumsum(np.hypot(np.diff(xd), np.diff(yd)))]
    length_m = float(arc[-1])
    k = int(np.argmin(np.hypot(xd[:-1], yd[:-1])))  # the start/finish point
    vertex_s = (np.interp(u[:-1], u_dense, arc) - arc[k]) % length_m
    xd, yd = np.r_[xd[k:-1], xd[: k + 1]], np.r_[yd[k:-1], yd[: k + 1]]
    arc = np.r_[arc[k:-1] - arc[k], arc[: k + 1] + (length_m - arc[k])]
    n = math.ceil(length_m / SPACING_M)
    s_m = np.arange(n, dtype=np.float64) * (length_m / n)
    alt_m = np.interp(s_m, vertex_s, alt, period=length_m)
    return np.interp(s_m, arc, xd), np.interp(s_m, arc, yd), alt_m, s_m, length_m


def gate_at(
    line: ReferenceLine, length_m: float, s: float, name: str, kind: Literal["start_finish", "split"]
) -> Gate:
    """A timing line of ``2 * GATE_HALF_WIDTH_M`` across the reference line at ``s`` (point 1 on the left)."""
    lat0, lon0 = float(line.lat_deg[0]), float(line.lon_deg[0])
    x, y = to_local_xy(line.lat_deg, line.lon_deg, lat0, lon0)
    s_closed = np.r_[line.s_m, length_m]
    xc, yc = np.r_[x, x[0]], np.r_[y, y[0]]
    px, py = float(np.interp(s, s_closed, xc)), float(np.interp(s, s_closed, yc))
    i = int(np.searchsorted(s_closed, s, side="right")) - 1
    j = (i + 1) % len(x)
    lat_a, lon_a = from_local_xy(x[i - 1], y[i - 1], lat0, lon0)
    lat_b, lon_b = from_local_xy(x[j], y[j], lat0, lon0)
    heading = float(bearing_deg(lat_a, lon_a, lat_b, lon_b))
    return gate_across(px, py, x[j] - x[i - 1], y[j] - y[i - 1], (lat0, lon0), heading, name, kind)


def gate_across(
    px: float,
    py: float,
    tx: float,
    ty: float,
    origin: tuple[float, float],
    heading_deg: float,
    name: str,
    kind: Literal["start_finish", "split"],
) -> Gate:
    """A timing line of ``2 * GATE_HALF_WIDTH_M`` through the local point (``px``, ``py``; m from ``origin``,
    degrees) square to the direction of travel (``tx``, ``ty``), point 1 on the left; ``heading_deg`` is that
    direction as a bearing (degrees clockwise from north)."""
    norm = math.hypot(tx, ty)
    nx, ny = -ty / norm * GATE_HALF_WIDTH_M, tx / norm * GATE_HALF_WIDTH_M  # left normal
    lat1, lon1 = from_local_xy(px + nx, py + ny, *origin)
    lat2, lon2 = from_local_xy(px - nx, py - ny, *origin)
    return Gate(name, kind, float(lat1), float(lon1), float(lat2), float(lon2), round(heading_deg, 2))


def gate_names(sector_names: tuple[str, ...]) -> list[str]:
    return [f"{a}/{b} split" for a, b in pairwise(sector_names)] + ["Start/finish"]


def centre_line(
    lat: FloatArray, lon: FloatArray, alt: FloatArray, lat0: float, lon0: float
) -> tuple[ReferenceLine, float, tuple[Corner, ...]]:
    """The resampled reference line of a closed polyline (degrees, metres; driving order) whose start/finish
    point is (``lat0``, ``lon0``), its length (m) and its curvature-detected corners (numbered along the lap)."""
    x, y, alt_m, s_m, length_m = resample_closed(*to_local_xy(lat, lon, lat0, lon0), alt)
    ref_lat, ref_lon = from_local_xy(x, y, lat0, lon0)
    corners = detect_corners(s_m, closed_curvature_1pm(x, y), length_m)
    return ReferenceLine(ref_lat, ref_lon, alt_m, s_m), length_m, corners


def equal_sectors(length_m: float) -> tuple[tuple[float, ...], tuple[str, ...]]:
    """Three equal sectors (ends in metres, names ``S1``–``S3``): the default where no split lines are known."""
    return (length_m / 3, 2 * length_m / 3, length_m), ("S1", "S2", "S3")


def timing_gates(
    line: ReferenceLine, length_m: float, sector_ends: tuple[float, ...], sector_names: tuple[str, ...]
) -> tuple[Gate, tuple[Gate, ...]]:
    """The start/finish line and the sector-end lines (the last one is the start/finish line)."""
    start = gate_at(line, length_m, 0.0, "Start/finish", "start_finish")
    splits = tuple(
        gate_at(line, length_m, end % length_m, name, "split")
        for end, name in zip(sector_ends, gate_names(sector_names), strict=True)
    )
    return start, splits


SPLIT_ON_TRACK_M: Final = 50.0
"""A file's split line counts for a track when its centre lies within this distance (m) of the centre line."""


def with_file_splits(track: Track, gates: Sequence[Gate]) -> Track:
    """``track`` with its sectors ended at the file's own split lines (``kind == "split"`` gates, e.g. VBO
    ``[laptiming]`` ``Split`` lines) that lie on it: each line's centre is placed on the centre line (``s_m`` of
    the nearest point) and the last sector ends at the start/finish line. Unchanged when the file has no split
    line on this track (lines of another circuit, more than :data:`SPLIT_ON_TRACK_M` away, are ignored)."""
    line = track.reference_line
    ends: list[tuple[float, Gate]] = []
    for gate in gates:
        if gate.kind != "split":
            continue
        lat, lon = (gate.lat1_deg + gate.lat2_deg) / 2, (gate.lon1_deg + gate.lon2_deg) / 2
        x, y = to_local_xy(line.lat_deg, line.lon_deg, lat, lon)
        k = int(np.argmin(np.hypot(x, y)))
        if float(np.hypot(x[k], y[k])) <= SPLIT_ON_TRACK_M and 0.0 < float(line.s_m[k]) < track.length_m:
            ends.append((float(line.s_m[k]), gate))
    if not ends:
        return track
    ends.sort(key=lambda end: end[0])
    names = tuple(f"S{i + 1}" for i in range(len(ends) + 1))
    return replace(
        track,
        sector_ends_m=(*(s for s, _ in ends), track.length_m),
        sector_gates=(*(g for _, g in ends), track.start_finish),
        extra={**track.extra, "sector_names": names, "sector_source": "file split lines"},
    )
