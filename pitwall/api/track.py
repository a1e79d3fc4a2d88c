"""Track routes: markers, danger zones and weather of the ACTIVE track, and any library track's elevation.

``/track/markers``, ``/track/danger_zones``, ``/track/weather`` and ``/markers`` read the active track
(``--track``; 404 ``{"error": "no active track"}`` when none is loaded). ``/track/<id>/elevation`` reads
``<tracks_dir>/<id>.json``: 404 when the file is missing, 422 when it has no (or an empty) ``reference_line``
or no altitude in it.
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import replace
from datetime import UTC, datetime
from typing import Annotated, Final
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import msgspec
import numpy as np
from litestar import Router, get, patch
from litestar.datastructures import State
from litestar.params import Parameter

from pitwall.analysis.maps import elevation_profile
from pitwall.api.deps import settings_of, track_of
from pitwall.api.errors import ApiError
from pitwall.api.views import CACHE_NAME as VIEW_CACHE
from pitwall.formats.errors import ReadError
from pitwall.formats.track import load_track
from pitwall.learned_tracks import with_start_at
from pitwall.track import DangerZone, Marker, Track, WeatherPhase, turn_label

TRACK_ID: Final = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,99}$")
"""Library ids are file stems: letters, digits, ``-`` and ``_`` (no path separators)."""


class MarkerOut(msgspec.Struct):
    """A marker (``kind``, ``s_m`` metres from the start line, ``text``, ``corner`` turn number) with the
    original's keys beside: ``id`` (stable: its index along the lap among all the track's markers), ``label``
    (= ``text``), ``distance`` (= ``s_m``, m), ``corner_name`` (``"Turn 11"``), ``lat``/``lon`` (degrees, on the
    centre line at ``s_m``)."""

    kind: str
    s_m: float
    text: str
    corner: str | None
    id: str
    label: str
    distance: float
    corner_name: str | None
    lat: float
    lon: float


class MarkerFilters(msgspec.Struct):
    corner: str | None
    kind: str | None


class Markers(msgspec.Struct):
    """Markers of the active track (``s_m``: metres from the start line), optionally filtered; ``track`` (the
    name) and ``filters`` are the original's keys. ``corner_names_source`` says where the track's turn numbers
    and names come from: a public turn list (cited), or ``curvature: …`` when none was sourced and the corners
    are numbered 1..n along the lap."""

    track_id: str
    track_name: str
    corner: str | None
    kind: str | None
    count: int
    markers: list[MarkerOut]
    track: str
    filters: MarkerFilters
    corner_names_source: str


class DangerZoneOut(msgspec.Struct):
    """A danger zone with the original's keys beside ours: ``id`` (slug of ``name``), ``start_m``/``end_m``
    (= ``s_start_m``/``s_end_m``, m) and ``description`` (= ``text``)."""

    name: str
    s_start_m: float
    s_end_m: float
    severity: str
    text: str
    id: str
    start_m: float
    end_m: float
    description: str


class DangerZones(msgspec.Struct):
    track_id: str
    track_name: str
    count: int
    danger_zones: list[DangerZoneOut]
    track: str


class Weather(msgspec.Struct):
    """The weather phase covering ``hour_local`` (the track's local hour; default: now in the track's
    ``timezone``) and every phase of the track. ``phase`` is the phase's label as a string (the original's
    shape), its details in ``phase_detail``; ``coaching_note`` (= the phase's ``note``). Nulls when no phase
    covers the hour."""

    track_id: str
    track_name: str
    timezone: str
    hour_local: int
    phase: str | None
    phase_detail: WeatherPhase | None
    coaching_note: str | None
    phases: list[WeatherPhase]


class ElevationPoint(msgspec.Struct):
    s_m: float
    alt_m: float | None
    grade_pct: float | None


class ElevationSample(msgspec.Struct):
    distance_m: float
    elevation_m: float | None


class Elevation(msgspec.Struct):
    """Altitude along the reference line every ``step_m`` metres (linear interpolation), with the slope to the
    next point; ``climb_m`` sums every rise over the lap. The original's keys beside: ``name``,
    ``track_length_m``, ``elevation_source`` (``reference_line``), ``min_elevation_m``/``max_elevation_m``
    (= ``min_alt_m``/``max_alt_m``) and ``samples`` (``{distance_m, elevation_m}`` = each point's
    ``s_m``/``alt_m``)."""

    track_id: str
    track_name: str
    length_m: float
    step_m: float
    min_alt_m: float
    max_alt_m: float
    climb_m: float
    points: list[ElevationPoint]
    name: str
    track_length_m: float
    elevation_source: str
    min_elevation_m: float
    max_elevation_m: float
    samples: list[ElevationSample]


def _marker_out(track: Track, index: int, marker: Marker) -> MarkerOut:
    line = track.reference_line
    return MarkerOut(
        kind=marker.kind,
        s_m=marker.s_m,
        text=marker.text,
        corner=marker.corner,
        id=f"m{index}",
        label=marker.text,
        distance=marker.s_m,
        corner_name=None if marker.corner is None else turn_label(marker.corner),
        lat=float(np.interp(marker.s_m, line.s_m, line.lat_deg)),
        lon=float(np.interp(marker.s_m, line.s_m, line.lon_deg)),
    )


def _marker_rows(track: Track, *, corner: str | None = None, kind: str | None = None) -> Markers:
    """The track's markers along the lap; ``corner`` matches the turn number (``"11"``) or the original's
    label (``"Turn 11"``)."""
    ordered = sorted(track.markers, key=lambda m: m.s_m)
    chosen = [
        _marker_out(track, i, m)
        for i, m in enumerate(ordered)
        if (corner is None or corner in (m.corner, turn_label(m.corner or "")))
        and (kind is None or m.kind == kind)
    ]
    return Markers(
        corner_names_source=track.corner_names_source,
        track_id=track.id,
        track_name=track.name,
        corner=corner,
        kind=kind,
        count=len(chosen),
        markers=chosen,
        track=track.name,
        filters=MarkerFilters(corner=corner, kind=kind),
    )


def _zone_out(zone: DangerZone) -> DangerZoneOut:
    return DangerZoneOut(
        name=zone.name,
        s_start_m=zone.s_start_m,
        s_end_m=zone.s_end_m,
        severity=zone.severity,
        text=zone.text,
        id=re.sub(r"[^a-z0-9]+", "-", zone.name.lower()).strip("-"),
        start_m=zone.s_start_m,
        end_m=zone.s_end_m,
        description=zone.text,
    )


@get("/track/markers", operation_id="track_markers", sync_to_thread=False)
def track_markers(state: State) -> Markers:
    """Every marker of the active track (brake boards, crests, kerbs…), ordered along the lap."""
    return _marker_rows(track_of(state))


@get("/markers", operation_id="markers", sync_to_thread=False)
def markers(
    state: State,
    corner: Annotated[
        str | None, Parameter(description="only markers of this turn label (e.g. 6, 3a)")
    ] = None,
    kind: Annotated[
        str | None, Parameter(description="only markers of this kind (e.g. crest, brake_board)")
    ] = None,
) -> Markers:
    """The active track's markers filtered by ``corner`` and/or ``kind`` (an empty list when none match)."""
    return _marker_rows(track_of(state), corner=corner, kind=kind)


@get("/track/danger_zones", operation_id="track_danger_zones", sync_to_thread=False)
def danger_zones(state: State) -> DangerZones:
    """Danger zones of the active track (blind crests, run-off…), ordered along the lap, each with the
    original's ``id``, ``start_m``, ``end_m`` and ``description`` beside ours."""
    track = track_of(state)
    zones = [_zone_out(z) for z in sorted(track.danger_zones, key=lambda z: z.s_start_m)]
    return DangerZones(
        track_id=track.id, track_name=track.name, count=len(zones), danger_zones=zones, track=track.name
    )


def _covers(phase: WeatherPhase, hour: int) -> bool:
    """``hour_from`` inclusive, ``hour_to`` exclusive; a phase may wrap past midnight (22 → 6)."""
    if phase.hour_from <= phase.hour_to:
        return phase.hour_from <= hour < phase.hour_to
    return hour >= phase.hour_from or hour < phase.hour_to


def _local_hour(timezone: str) -> int:
    try:
        zone = ZoneInfo(timezone) if timezone else UTC
    except (ZoneInfoNotFoundError, ValueError):
        zone = UTC
    return datetime.now(zone).hour


@get("/track/weather", operation_id="track_weather", sync_to_thread=False)
def weather(
    state: State,
    hour_local: Annotated[
        int | None, Parameter(ge=0, le=23, description="local hour at the track, 0..23 (default: now)")
    ] = None,
) -> Weather:
    """The active track's typical conditions at ``hour_local`` (air/track temperature, wind, note)."""
    track = track_of(state)
    hour = _local_hour(track.timezone) if hour_local is None else hour_local
    phase = next((p for p in track.weather if _covers(p, hour)), None)
    return Weather(
        track_id=track.id,
        track_name=track.name,
        timezone=track.timezone or "UTC",
        hour_local=hour,
        phase=None if phase is None else phase.label,
        phase_detail=phase,
        coaching_note=None if phase is None else phase.note,
        phases=list(track.weather),
    )


def _library_track(state: State, track_id: str) -> Track:
    """``<tracks_dir>/<track_id>.json``: 400 bad id, 404 missing, 422 without a usable reference line."""
    if not TRACK_ID.fullmatch(track_id):
        raise ApiError(400, "invalid track id", track_id)
    path = settings_of(state).tracks_dir / f"{track_id}.json"
    if not path.is_file():
        raise ApiError(404, "unknown track", f"{path.name} is not in the track library")
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise ApiError(422, "unreadable track", f"{path.name}: {exc}") from exc
    line = raw.get("reference_line") if isinstance(raw, dict) else None
    if not isinstance(line, dict) or not line.get("s_m"):
        raise ApiError(422, "no reference line", f"{path.name} has no reference_line")
    try:
        return load_track(path)
    except ReadError as exc:
        raise ApiError(422, "invalid track", str(exc)) from exc


@get("/track/{track_id:str}/elevation", operation_id="track_elevation", sync_to_thread=True)
def elevation(
    state: State,
    track_id: str,
    step_m: Annotated[
        float, Parameter(ge=1, le=500, description="sampling step along the line, metres")
    ] = 10.0,
) -> Elevation:
    """Elevation profile along the centre line of ``data/tracks/<track_id>.json`` every ``step_m`` metres."""
    track = _library_track(state, track_id)
    alt = track.reference_line.alt_m
    known = alt[~np.isnan(alt)]  # NaN = altitude unknown
    if known.size == 0:
        raise ApiError(422, "no elevation", f"{track_id}: the reference line carries no altitude")
    profile = elevation_profile(track, step_m=step_m).collect()
    rises = profile["alt_m"].diff().clip(lower_bound=0.0).sum()
    points = [
        ElevationPoint(
            s_m=row["s_m"],
            alt_m=None if row["alt_m"] is None or math.isnan(row["alt_m"]) else row["alt_m"],
            grade_pct=None if row["grade_pct"] is None or math.isnan(row["grade_pct"]) else row["grade_pct"],
        )
        for row in profile.iter_rows(named=True)
    ]
    return Elevation(
        track_id=track.id,
        track_name=track.name,
        length_m=track.length_m,
        step_m=step_m,
        min_alt_m=float(known.min()),
        max_alt_m=float(known.max()),
        climb_m=float(rises),
        points=points,
        name=track.name,
        track_length_m=track.length_m,
        elevation_source="reference_line",
        min_elevation_m=float(known.min()),
        max_elevation_m=float(known.max()),
        samples=[ElevationSample(distance_m=p.s_m, elevation_m=p.alt_m) for p in points],
    )


class TrackEdit(msgspec.Struct, forbid_unknown_fields=True):
    """``PATCH /track/<id>`` body: a new ``name`` and/or a new start/finish point (``start_lat``/``start_lon``,
    WGS84 degrees, both or neither)."""

    name: Annotated[str, msgspec.Meta(min_length=1, max_length=120)] | None = None
    start_lat: Annotated[float, msgspec.Meta(ge=-90, le=90)] | None = None
    start_lon: Annotated[float, msgspec.Meta(ge=-180, le=180)] | None = None


class TrackEdited(msgspec.Struct):
    """The edited user track: id, name, length (m), start/finish line, corners (lap order) and where it is
    saved."""

    track_id: str
    name: str
    length_m: float
    start_lat: float
    start_lon: float
    n_corners: int
    saved: str | None


@patch("/track/{track_id:str}", operation_id="edit_track", sync_to_thread=True, status_code=200)
def edit_track(state: State, track_id: str, data: TrackEdit) -> TrackEdited:
    """Rename a user track (a circuit learnt from a recording) and/or move its start/finish line to the
    centre-line point nearest ``start_lat``/``start_lon``. 404: unknown track; 403: a bundled library track
    (its fields live in data/tracks/overrides); 400: nothing to change, half a point, or a point more than
    50 m from the track. Sessions on the track are re-timed on their next read."""
    library = state.get("library")
    if library is None:
        raise ApiError(503, "no track library", "the track library could not be loaded")
    if data.name is None and data.start_lat is None and data.start_lon is None:
        raise ApiError(400, "invalid request", "give name and/or start_lat with start_lon")
    if (data.start_lat is None) != (data.start_lon is None):
        raise ApiError(400, "invalid request", "start_lat and start_lon go together")
    try:
        track = library.user_track(track_id)
    except KeyError:
        raise ApiError(404, "unknown track", {"track_id": track_id}) from None
    except PermissionError as exc:
        raise ApiError(403, "bundled track", str(exc)) from None
    if data.start_lat is not None and data.start_lon is not None:
        try:
            track = with_start_at(track, data.start_lat, data.start_lon)
        except ValueError as exc:
            raise ApiError(400, "start off the track", str(exc)) from None
    if data.name is not None:
        track = replace(track, name=data.name.strip())
    saved = library.add_user_track(track)
    clear_views = state.caches.get(VIEW_CACHE)
    if clear_views is not None:
        clear_views()  # cached session views hold the old track
    return TrackEdited(
        track_id=track.id,
        name=track.name,
        length_m=track.length_m,
        start_lat=float(track.reference_line.lat_deg[0]),
        start_lon=float(track.reference_line.lon_deg[0]),
        n_corners=len(track.corners),
        saved=str(saved) if saved else None,
    )


router = Router(
    "/", route_handlers=[track_markers, markers, danger_zones, weather, elevation, edit_track], tags=["track"]
)
