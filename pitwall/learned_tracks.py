"""Circuits that are not in the library, learnt from a recording: its logger's lap markers
(:attr:`~pitwall.formats.vbo.VboRecording.lap_marks_s`), else the crossings of the file's own start/finish gate
(VBO ``[laptiming]``, :func:`gate_lap_marks`), else — a file with no timing at all — the loop the path repeats
(:func:`loop_lap_marks`: the start line goes across the path at its fastest point, a documented default the user
can move).

The centre line is the GPS path of the recording's fastest complete lap between two consecutive lap marks, thinned to one vertex per :data:`VERTEX_SPACING_M`
and smoothed by the library's periodic spline (:func:`pitwall.trackbuild.centre_line`); the start/finish line
is where that lap started (interpolated between fixes); three equal sectors; corners numbered from the curvature. A lap that does
not come back within :data:`MAX_CLOSING_GAP_M` of where it started is not a loop and teaches nothing.

The learnt track is saved as ``<user tracks folder>/<id>.json`` (the library's format), so the next session
there is detected like any library track; ``python -m pipelines track`` and ``PATCH /track/<id>`` rename it
and move its start line.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import replace
from itertools import pairwise
from typing import Final

import numpy as np
import polars as pl

from pitwall.analysis.geo import bearing_deg, haversine_m, to_local_xy
from pitwall.analysis.laps import drop_close_crossings, lap_crossings
from pitwall.track import Gate, Track
from pitwall.trackbuild import CURVATURE_NAMES, centre_line, equal_sectors, gate_across, timing_gates

MIN_LAP_S: Final = 20.0
"""A lap between two marks shorter than this (s) is not a lap of a circuit (a mark bouncing on the line)."""

VERTEX_SPACING_M: Final = 8.0
"""Spacing (m) of the GPS fixes kept as spline vertices: GPS noise between them would read as curvature."""

MAX_CLOSING_GAP_M: Final = 60.0
"""A learnt lap must end within this distance (m) of where it started."""


def learn_track(
    telemetry: pl.DataFrame,
    lap_marks_s: Sequence[float],
    *,
    track_id: str,
    name: str,
    source_file: str,
    timed_by: str = "the logger's own lap markers",
) -> Track | None:
    """The circuit of the fastest complete lap between consecutive ``lap_marks_s`` (s, ``t_s``), or ``None``
    when the recording has no such lap or the lap is not a closed loop. ``timed_by`` says where the marks came
    from (written in the track's ``source``).

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
    (start_lat, end_lat), (start_lon, end_lon) = _positions_at(telemetry, [t0, t1])
    lat_v, lon_v = _closed_loop(lat[keep], lon[keep], (start_lat, start_lon), (end_lat, end_lon))
    line, length_m, corners = centre_line(lat_v, lon_v, alt, float(lat_v[0]), float(lon_v[0]))
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
            f"timed by {timed_by}), smoothed and resampled; start/finish where that lap "
            "started; three equal sectors. Rename it or move its start line with "
            "`python -m pipelines track` or PATCH /track/<id>."
        ),
        corner_names_source=CURVATURE_NAMES,
        extra={"sector_names": sector_names, "learnt": True},
    )


def _closed_loop(
    lat: np.ndarray, lon: np.ndarray, start: tuple[float, float], end: tuple[float, float]
) -> tuple[np.ndarray, np.ndarray]:
    """The lap's vertices (degrees) starting exactly at ``start`` (where the lap began, between two fixes) with
    the closing gap — the car crosses the line a few metres to the side of where it crossed a lap earlier — spread
    along the lap in proportion to the distance travelled, so the loop closes without a kink at the seam (a kink
    there would turn the start line and shift every later crossing)."""
    lat_v = np.r_[start[0], lat[1:], end[0]].astype(np.float64)
    lon_v = np.r_[start[1], lon[1:], end[1]].astype(np.float64)
    steps = np.asarray(haversine_m(lat_v[:-1], lon_v[:-1], lat_v[1:], lon_v[1:]), dtype=np.float64)
    frac = np.r_[0.0, np.cumsum(steps)] / max(float(np.sum(steps)), 1e-9)
    lat_v -= frac * (lat_v[-1] - lat_v[0])
    lon_v -= frac * (lon_v[-1] - lon_v[0])
    return lat_v[:-1], lon_v[:-1]


def _positions_at(telemetry: pl.DataFrame, times_s: Sequence[float]) -> tuple[list[float], list[float]]:
    """The GPS positions (latitudes, longitudes; degrees) at ``times_s`` (s), interpolated between the fixes
    either side."""
    fixes = telemetry.drop_nulls(["t_s", "lat_deg", "lon_deg"])
    t = fixes["t_s"].cast(pl.Float64).to_numpy()
    lat, lon = (np.interp(times_s, t, fixes[c].cast(pl.Float64).to_numpy()) for c in ("lat_deg", "lon_deg"))
    return [float(v) for v in lat], [float(v) for v in lon]


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


LOOP_STRETCHES: Final = 8
"""A recording without timing is cut into this many equal stretches; the fastest fix of each is tried as the
start line (the first that makes the most laps of one length wins)."""

LOOP_LENGTH_TOLERANCE: Final = 0.05
"""Laps of one circuit agree in length within this fraction of their median."""

MIN_LOOP_LAPS: Final = 2
"""A recording is a circuit when at least this many of its laps agree in length."""

MIN_LOOP_M: Final = 300.0
"""A loop shorter than this (m) is not a circuit (a car park, a skid pad)."""


def loop_lap_marks(telemetry: pl.DataFrame) -> list[float]:
    """Lap marks (s) of a recording with no timing of its own, from the loop it repeats: a start line square
    to the path at a fast point (the fastest fix of one of :data:`LOOP_STRETCHES` stretches), crossed in the
    same direction at least :data:`MIN_LAP_S` apart, by at least :data:`MIN_LOOP_LAPS` laps whose lengths agree
    within :data:`LOOP_LENGTH_TOLERANCE`; ``[]`` when the path repeats no loop (a road drive). Of the lines that
    qualify, the one with the most such laps wins, then the faster point — the default start line, which the
    user can move (``python -m pipelines track move-start``). Requires ``t_s``, ``lat_deg``, ``lon_deg``;
    uses ``speed_kph`` when present (else the speed between fixes)."""
    fixes = telemetry.drop_nulls(["t_s", "lat_deg", "lon_deg"])
    if fixes.height < 2 * LOOP_STRETCHES:
        return []
    t, lat, lon = (fixes[c].cast(pl.Float64).to_numpy() for c in ("t_s", "lat_deg", "lon_deg"))
    steps = np.nan_to_num(np.asarray(haversine_m(lat[:-1], lon[:-1], lat[1:], lon[1:]), dtype=np.float64))
    along = np.r_[0.0, np.cumsum(steps)]
    if "speed_kph" in fixes.columns:
        speed = fixes["speed_kph"].cast(pl.Float64).fill_null(0.0).to_numpy()
    else:
        speed = np.r_[0.0, steps / np.maximum(np.diff(t), 1e-9)]
    origin = (float(lat[0]), float(lon[0]))
    x, y = to_local_xy(lat, lon, *origin)
    best: tuple[int, float, list[float]] = (0, 0.0, [])
    for stretch in np.array_split(np.arange(t.size), LOOP_STRETCHES):
        k = int(stretch[np.argmax(speed[stretch])])
        a, b = max(k - 2, 0), min(k + 2, t.size - 1)
        if math.hypot(x[b] - x[a], y[b] - y[a]) < 1.0:  # standing still: no direction to square a line to
            continue
        heading = float(bearing_deg(lat[a], lon[a], lat[b], lon[b]))
        gate = gate_across(
            x[k], y[k], x[b] - x[a], y[b] - y[a], origin, heading, "Start/finish", "start_finish"
        )
        marks = drop_close_crossings(lap_crossings(t, lat, lon, None, gate), MIN_LAP_S)
        lengths = np.diff(np.interp(marks, t, along))
        median = float(np.median(lengths)) if lengths.size else 0.0
        if median < MIN_LOOP_M:
            continue
        agreeing = int(np.sum(np.abs(lengths - median) <= LOOP_LENGTH_TOLERANCE * median))
        if agreeing >= MIN_LOOP_LAPS and (agreeing, speed[k]) > best[:2]:
            best = (agreeing, float(speed[k]), [float(m) for m in marks])
    return best[2]
