"""[laptiming] gates — part of :mod:`pitwall.formats.vbo`."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Literal

import numpy as np
import polars as pl

from pitwall.analysis.geo import (
    bearing_deg,
    from_local_xy,
    haversine_m,
    segment_crossings,
    to_local_xy,
)
from pitwall.formats.errors import ReadError
from pitwall.formats.vbo.table import _GATE_HALF_WIDTH_M, _GATE_KINDS, _GATE_RE
from pitwall.track import Gate, GateKind

_GateEncoding = Literal["lon_lat_along", "lat_lon_across"]


def _parse_gates(
    lines: list[tuple[int, str]], telemetry: pl.DataFrame, minutes: bool, comments: dict[str, str], path: Path
) -> list[Gate]:
    """``[laptiming]`` lines → gates in degrees.

    Racelogic/Harry's (``lon_lat_along``): two points ALONG the direction of travel; the gate is the line
    through point 1 perpendicular to them, ±15 m wide, endpoint 1 on the left of the direction of travel. The
    direction of travel is point 2 → point 1: on the Road America recording the car crosses the start line
    at 178.5° while point 1 → 2 bears 359.2°.
    RaceBox (``lat_lon_across``): the two points are the line's endpoints; the heading is derived from the
    recording's crossings of the line (majority direction), ``None`` when it never crosses.
    The encoding is chosen by which reading puts the first gate nearer the recording's median position
    (without positions: RaceBox when ``[comments]`` name it, else Racelogic).
    """
    parsed: list[tuple[GateKind, str, tuple[float, float, float, float]]] = []
    for number, line in lines:
        found = _GATE_RE.match(line)
        if found is None:
            continue
        try:
            coords = tuple(float(v) for v in found.groups()[1:5])
        except ValueError:
            raise ReadError(
                path, f"[laptiming] coordinates are not numbers: {line.strip()!r}", line=number
            ) from None
        if not all(math.isfinite(v) for v in coords):
            raise ReadError(path, f"[laptiming] coordinates are not finite: {line.strip()!r}", line=number)
        keyword = found.group(1).lower()
        label = found.group(6).strip().lstrip("¬Â").strip() or found.group(1)
        parsed.append((_GATE_KINDS[keyword], label, (coords[0], coords[1], coords[2], coords[3])))
    if not parsed:
        return []
    minutes = minutes or any(abs(v) > 180 for _, _, c in parsed for v in c)
    encoding = _gate_encoding(parsed[0][2], telemetry, minutes, comments)
    return [_gate(kind, label, coords, encoding, minutes, telemetry) for kind, label, coords in parsed]


def _to_degrees(lat: float, lon: float, minutes: bool) -> tuple[float, float]:
    return (lat / 60, -lon / 60) if minutes else (lat, lon)


def _gate_encoding(
    coords: tuple[float, float, float, float],
    telemetry: pl.DataFrame,
    minutes: bool,
    comments: dict[str, str],
) -> _GateEncoding:
    fixes = telemetry.select("lat_deg", "lon_deg").drop_nulls()
    if fixes.height == 0:
        racebox = any("racebox" in f"{k} {v}".lower() for k, v in comments.items())
        return "lat_lon_across" if racebox else "lon_lat_along"
    lat0, lon0 = float(np.median(fixes["lat_deg"].to_numpy())), float(np.median(fixes["lon_deg"].to_numpy()))

    def distance(lat: float, lon: float) -> float:
        return float(haversine_m(lat0, lon0, lat, lon)) if abs(lat) <= 90 else math.inf

    along = distance(*_to_degrees(coords[1], coords[0], minutes))
    across = distance(*_to_degrees(coords[0], coords[1], minutes))
    return "lat_lon_across" if across < along else "lon_lat_along"


def _gate(
    kind: GateKind,
    label: str,
    coords: tuple[float, float, float, float],
    encoding: _GateEncoding,
    minutes: bool,
    telemetry: pl.DataFrame,
) -> Gate:
    if encoding == "lon_lat_along":
        lat1, lon1 = _to_degrees(coords[1], coords[0], minutes)
        lat2, lon2 = _to_degrees(coords[3], coords[2], minutes)
        travel = float(bearing_deg(lat2, lon2, lat1, lon1))
        across = math.radians(travel + 90.0)
        dx, dy = _GATE_HALF_WIDTH_M * math.sin(across), _GATE_HALF_WIDTH_M * math.cos(across)
        (a_lat, b_lat), (a_lon, b_lon) = from_local_xy([-dx, dx], [-dy, dy], lat1, lon1)
        return Gate(label, kind, float(a_lat), float(a_lon), float(b_lat), float(b_lon), heading_deg=travel)
    lat1, lon1 = _to_degrees(coords[0], coords[1], minutes)
    lat2, lon2 = _to_degrees(coords[2], coords[3], minutes)
    return Gate(
        label, kind, lat1, lon1, lat2, lon2, heading_deg=_crossing_heading(lat1, lon1, lat2, lon2, telemetry)
    )


def _crossing_heading(
    lat1: float, lon1: float, lat2: float, lon2: float, telemetry: pl.DataFrame
) -> float | None:
    """Direction of travel across the line A→B from the recording: the normal on the side most crossings go."""
    fixes = telemetry.select("lat_deg", "lon_deg").drop_nulls()
    if fixes.height < 2:
        return None
    x, y = to_local_xy(fixes["lat_deg"].to_numpy(), fixes["lon_deg"].to_numpy(), lat1, lon1)
    bx, by = to_local_xy(lat2, lon2, lat1, lon1)
    _, _, side = segment_crossings(x, y, 0.0, 0.0, float(bx), float(by))
    vote = float(np.sum(side))
    if vote == 0:
        return None
    line = float(bearing_deg(lat1, lon1, lat2, lon2))
    return (line - 90.0) % 360.0 if vote > 0 else (line + 90.0) % 360.0
