"""Circuits that are not in the library, learnt from a recording that carries its own timing: the logger's lap
markers (:attr:`~pitwall.formats.vbo.VboRecording.lap_marks_s`), else the crossings of the file's own
start/finish gate (VBO ``[laptiming]``, :func:`gate_lap_marks`).

The centre line is the GPS path of the recording's fastest complete lap between two consecutive lap marks, thinned to one vertex per :data:`VERTEX_SPACING_M`
and smoothed by the library's periodic spline (:func:`pitwall.trackbuild.centre_line`); the start/finish line
is where the logger started that lap; three equal sectors; corners numbered from the curvature. A lap that does
not come back within :data:`MAX_CLOSING_GAP_M` of where it started is not a loop and teaches nothing.

The learnt track is saved as ``<user tracks folder>/<id>.json`` (the library's format), so the next session
there is detected like any library track; ``python -m pipelines track`` and ``PATCH /track/<id>`` rename it
and move its start line.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import replace
from itertools import pairwise
from typing import Final

import numpy as np
import polars as pl

from pitwall.analysis.geo import haversine_m, to_local_xy
from pitwall.analysis.laps import drop_close_crossings, lap_crossings
from pitwall.track import Gate, Track
from pitwall.trackbuild import CURVATURE_NAMES, centre_line, equal_sectors, timing_gates

MIN_LAP_S: Final = 20.0
"""A lap between two marks shorter than this (s) is not a lap of a circuit (a mark bouncing on the line)."""

VERTEX_SPACING_M: Final = 8.0
"""Spacing (m) of the GPS fixes kept as spline vertices: GPS noise between them would read as curvature."""

MAX_CLOSING_GAP_M: Final = 60.0
"""A learnt lap must end within this distance (m) of where it started."""


def learn_track(
    telemetry: pl.DataFrame, lap_marks_s: Sequence[float], *, track_id: str, name: str, source_file: str
) -> Track | None:
    """The circuit of the fastest complete lap between consecutive ``lap_marks_s`` (s, ``t_s``), or ``None``
    when the recording has no such lap or the lap is not a closed loop.

    Requires ``t_s`` (s), ``lat_deg``, ``lon_deg`` (degrees) and ``alt_m`` (m, may be null) in ``telemetry``.
    """
    laps = [(a, b) for a, b in pairwise(lap_marks_s) if b - a >= MIN_LAP_S]
    if not laps:
        return None
    t0, t1 = min(laps, key=lambda lap: lap[1] - lap[0])
    fixes = telemetry.filter(pl.col("t_s").is_between(t0, t1)).drop_nulls(["lat_deg", "lon_deg"])
    if fixes.height < 10:
        return None
    lat = fixes["lat_deg"].to_numpy()
    lon = fixes["lon_deg"].to_numpy()
    if float(haversine_m(lat[0], lon[0], lat[-1], lon[-1])) > MAX_CLOSING_GAP_M:
        return None
    keep = _thin(lat, lon)
    alt = fixes["alt_m"].cast(pl.Float64).fill_null(float("nan")).to_numpy()[keep]
    line, length_m, corners = centre_line(lat[keep], lon[keep], alt, float(lat[0]), float(lon[0]))
    sector_ends, sector_names = equal_sectors(length_m)
    start_finish, sector_gates = timing_gates(line, length_m, sector_ends, sector_names)
    return Track(
        id=track_id,
        name=name,
        length_m=length_m,
        start_finish=start_finish,
        reference_line=line,
        sector_ends_m=sector_ends,
        sector_gates=sector_gates,
        corners=corners,
        layout="learnt",
        source=(
            f"Learnt by Pitwall from {source_file}: the GPS path of its fastest complete lap ({t1 - t0:.3f} s, "
            f"timed by the logger's own lap markers), smoothed and resampled; start/finish where the logger "
            "started that lap; three equal sectors. Rename it or move its start line with "
            "`python -m pipelines track` or PATCH /track/<id>."
        ),
        corner_names_source=CURVATURE_NAMES,
        extra={"sector_names": sector_names, "learnt": True},
    )


def gate_lap_marks(telemetry: pl.DataFrame, gates: Sequence[Gate]) -> list[float]:
    """Lap marks (s) from the file's own start/finish gate (a VBO ``[laptiming]`` start line): the times the
    path crosses the first start gate it crosses at all, at least :data:`MIN_LAP_S` apart. Requires ``t_s``,
    ``lat_deg``, ``lon_deg`` (``heading_deg`` used when present)."""
    fixes = telemetry.drop_nulls(["t_s", "lat_deg", "lon_deg"])
    if fixes.height < 2:
        return []
    heading = (
        fixes["heading_deg"].cast(pl.Float64).fill_null(float("nan")).to_numpy()
        if "heading_deg" in fixes.columns
        else None
    )
    t, lat, lon = (fixes[c].cast(pl.Float64).to_numpy() for c in ("t_s", "lat_deg", "lon_deg"))
    for gate in (g for g in gates if g.kind == "start_finish"):
        times = drop_close_crossings(lap_crossings(t, lat, lon, heading, gate), MIN_LAP_S)
        if times.size:
            return [float(v) for v in times]
    return []


def learnt_track_id(name: str, taken: Sequence[str]) -> str:
    """A library id for a learnt circuit called ``name``: its slug (``circuit`` when empty), with ``-2``,
    ``-3``… when ``taken`` already holds it."""
    base = re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-") or "circuit"
    candidate, k = base, 2
    while candidate in taken:
        candidate, k = f"{base}-{k}", k + 1
    return candidate


def _thin(lat: np.ndarray, lon: np.ndarray) -> np.ndarray:
    """Indices of the fixes at least :data:`VERTEX_SPACING_M` apart along the path (the first always kept;
    the last dropped when it closes onto the first)."""
    steps = np.r_[0.0, np.asarray(haversine_m(lat[:-1], lon[:-1], lat[1:], lon[1:]), dtype=np.float64)]
    along = np.cumsum(np.nan_to_num(steps))
    bins = np.floor(along / VERTEX_SPACING_M)
    keep = np.flatnonzero(np.r_[True, np.diff(bins) > 0])
    closing = float(haversine_m(lat[keep[-1]], lon[keep[-1]], lat[0], lon[0]))
    return keep[:-1] if closing < VERTEX_SPACING_M / 2 else keep


MAX_START_OFFSET_M: Final = 50.0
"""A new start line must be within this distance (m) of the circuit's centre line."""


def with_start_at(track: Track, lat_deg: float, lon_deg: float) -> Track:
    """``track`` with its start/finish line moved to the centre-line point nearest (``lat_deg``, ``lon_deg``):
    the reference line is re-based there (``s_m = 0``), corners renumbered from it, sectors equal thirds.
    ``ValueError`` when the point is more than :data:`MAX_START_OFFSET_M` from the line."""
    line = track.reference_line
    x, y = to_local_xy(line.lat_deg, line.lon_deg, lat_deg, lon_deg)
    k = int(np.argmin(np.hypot(x, y)))
    off = float(np.hypot(x[k], y[k]))
    if off > MAX_START_OFFSET_M:
        raise ValueError(f"the point is {off:.0f} m from the track (at most {MAX_START_OFFSET_M:.0f} m)")
    lat, lon = np.roll(line.lat_deg, -k), np.roll(line.lon_deg, -k)
    alt = np.roll(np.asarray(line.alt_m, dtype=np.float64), -k)
    new_line, length_m, corners = centre_line(lat, lon, alt, float(lat[0]), float(lon[0]))
    sector_ends, sector_names = equal_sectors(length_m)
    start_finish, sector_gates = timing_gates(new_line, length_m, sector_ends, sector_names)
    return replace(
        track,
        length_m=length_m,
        start_finish=start_finish,
        reference_line=new_line,
        sector_ends_m=sector_ends,
        sector_gates=sector_gates,
        corners=corners,
        straights=(),
        markers=(),
        danger_zones=(),
        extra={**track.extra, "sector_names": sector_names},
    )
