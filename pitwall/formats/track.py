"""Track JSON files (``data/tracks/<id>.json``): read, write, and the library of all of them.

The schema is documented in ``data/tracks/README.md``. Reading validates every field and raises
:class:`~pitwall.formats.errors.ReadError` naming the file and the field (``corners[3].s_apex_m``).
Writing is deterministic: fixed key order, fixed rounding (coordinates 1e-7°, metres 0.01), so the same
:class:`~pitwall.track.Track` always gives the same bytes.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from itertools import pairwise
from pathlib import Path
from typing import Any, Literal

import msgspec
import numpy as np

from pitwall import DATA_DIR
from pitwall.formats.errors import ReadError
from pitwall.track import Corner, DangerZone, Gate, Marker, ReferenceLine, Straight, Track, WeatherPhase

TRACKS_DIR = DATA_DIR / "tracks"
"""The bundled track library."""

_DEG_DIGITS = 7  # 1e-7° ≈ 1.1 cm
_M_DIGITS = 2


class _GateDoc(msgspec.Struct, forbid_unknown_fields=True):
    name: str
    lat1: float
    lon1: float
    lat2: float
    lon2: float
    heading_deg: float | None = None


class _SectorDoc(msgspec.Struct, forbid_unknown_fields=True):
    name: str
    end_m: float
    gate: _GateDoc | None = None


class _CornerDoc(msgspec.Struct, forbid_unknown_fields=True):
    number: str
    name: str | None
    direction: Literal["left", "right"]
    s_entry_m: float
    s_apex_m: float
    s_exit_m: float


class _StraightDoc(msgspec.Struct, forbid_unknown_fields=True):
    name: str
    s_start_m: float
    s_end_m: float


class _MarkerDoc(msgspec.Struct, forbid_unknown_fields=True):
    kind: str
    corner: str | None
    s_m: float
    text: str


class _DangerZoneDoc(msgspec.Struct, forbid_unknown_fields=True):
    name: str
    s_start_m: float
    s_end_m: float
    severity: Literal["low", "medium", "high"]
    text: str


class _WeatherDoc(msgspec.Struct, forbid_unknown_fields=True):
    hour_from: int
    hour_to: int
    label: str
    air_temp_c: float
    track_temp_c: float
    wind_kph: float
    note: str = ""


class _LineDoc(msgspec.Struct, forbid_unknown_fields=True):
    lat: list[float]
    lon: list[float]
    alt_m: list[float | None] | None
    s_m: list[float]


class _TrackDoc(msgspec.Struct, forbid_unknown_fields=True):
    id: str
    name: str
    length_m: float
    start_finish: _GateDoc
    reference_line: _LineDoc
    layout: str = ""
    country: str = ""
    timezone: str = ""
    sectors: tuple[_SectorDoc, ...] = ()
    corners: tuple[_CornerDoc, ...] = ()
    straights: tuple[_StraightDoc, ...] = ()
    markers: tuple[_MarkerDoc, ...] = ()
    danger_zones: tuple[_DangerZoneDoc, ...] = ()
    weather: tuple[_WeatherDoc, ...] = ()
    source: str = ""
    corner_names_source: str = ""


# Key order of written files: metadata first, the long reference line last.
_KEY_ORDER = [
    "id",
    "name",
    "layout",
    "country",
    "timezone",
    "length_m",
    "start_finish",
    "sectors",
    "corners",
    "corner_names_source",
    "straights",
    "markers",
    "danger_zones",
    "weather",
    "source",
    "reference_line",
]


def load_track(path: str | Path) -> Track:
    """Read and validate one track JSON file.

    Raises :class:`ReadError` (naming the file and the field) for malformed JSON, missing or mistyped fields,
    and inconsistent values (reference-line arrays of different lengths, ``s_m`` not increasing, positions
    outside ``[0, length_m]``).
    """
    path = Path(path)
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ReadError(path, f"cannot read: {exc.strerror or exc}") from exc
    except json.JSONDecodeError as exc:
        raise ReadError(path, f"invalid JSON: {exc.msg}", line=exc.lineno) from exc
    return track_from_dict(raw, source=path)


def track_from_dict(raw: object, *, source: str | Path = "<track>") -> Track:
    """Validate a decoded track document (see :func:`load_track`); ``source`` names it in errors."""
    try:
        doc = msgspec.convert(raw, _TrackDoc)
    except msgspec.ValidationError as exc:
        raise ReadError(source, _field_message(str(exc))) from exc
    _validate(doc, source)
    line = doc.reference_line
    alt = (
        [math.nan] * len(line.lat)
        if line.alt_m is None
        else [math.nan if a is None else a for a in line.alt_m]
    )
    sector_ends = tuple(sec.end_m for sec in doc.sectors)
    sector_gates = tuple(_gate(sec.gate, "split") for sec in doc.sectors if sec.gate is not None)
    return Track(
        id=doc.id,
        name=doc.name,
        length_m=doc.length_m,
        start_finish=_gate(doc.start_finish, "start_finish"),
        reference_line=ReferenceLine(
            lat_deg=np.asarray(line.lat, dtype=np.float64),
            lon_deg=np.asarray(line.lon, dtype=np.float64),
            alt_m=np.asarray(alt, dtype=np.float64),
            s_m=np.asarray(line.s_m, dtype=np.float64),
        ),
        sector_ends_m=sector_ends,
        sector_gates=sector_gates if len(sector_gates) == len(sector_ends) else (),
        corners=tuple(
            Corner(c.number, c.direction, c.s_entry_m, c.s_apex_m, c.s_exit_m, c.name) for c in doc.corners
        ),
        straights=tuple(Straight(s.name, s.s_start_m, s.s_end_m) for s in doc.straights),
        markers=tuple(Marker(m.kind, m.s_m, m.text, m.corner) for m in doc.markers),
        danger_zones=tuple(
            DangerZone(d.name, d.s_start_m, d.s_end_m, d.severity, d.text) for d in doc.danger_zones
        ),
        weather=tuple(
            WeatherPhase(w.hour_from, w.hour_to, w.label, w.air_temp_c, w.track_temp_c, w.wind_kph, w.note)
            for w in doc.weather
        ),
        layout=doc.layout,
        country=doc.country,
        timezone=doc.timezone,
        source=doc.source,
        corner_names_source=doc.corner_names_source,
        extra={"sector_names": tuple(sec.name for sec in doc.sectors)},
    )


def track_to_dict(track: Track) -> dict[str, Any]:
    """The JSON document of a track (key order and rounding as written by :func:`save_track`)."""
    names = track.extra.get("sector_names")
    sector_names = list(names) if isinstance(names, (list, tuple)) else []
    sector_names += [f"S{i + 1}" for i in range(len(sector_names), len(track.sector_ends_m))]
    gates: Sequence[Gate | None] = track.sector_gates or [None] * len(track.sector_ends_m)
    line = track.reference_line
    alt = [None if math.isnan(a) else round(float(a), _M_DIGITS) for a in line.alt_m]
    doc = _TrackDoc(
        id=track.id,
        name=track.name,
        layout=track.layout,
        country=track.country,
        timezone=track.timezone,
        length_m=_m(track.length_m),
        start_finish=_gate_doc(track.start_finish),
        sectors=tuple(
            _SectorDoc(name, _m(end), None if gate is None else _gate_doc(gate))
            for name, end, gate in zip(sector_names, track.sector_ends_m, gates, strict=True)
        ),
        corners=tuple(
            _CornerDoc(c.number, c.name, c.direction, _m(c.s_entry_m), _m(c.s_apex_m), _m(c.s_exit_m))
            for c in track.corners
        ),
        straights=tuple(_StraightDoc(s.name, _m(s.s_start_m), _m(s.s_end_m)) for s in track.straights),
        markers=tuple(_MarkerDoc(m.kind, m.corner, _m(m.s_m), m.text) for m in track.markers),
        danger_zones=tuple(
            _DangerZoneDoc(d.name, _m(d.s_start_m), _m(d.s_end_m), d.severity, d.text)
            for d in track.danger_zones
        ),
        weather=tuple(
            _WeatherDoc(
                int(w.hour_from),
                int(w.hour_to),
                w.label,
                float(w.air_temp_c),
                float(w.track_temp_c),
                float(w.wind_kph),
                w.note,
            )
            for w in track.weather
        ),
        source=track.source,
        corner_names_source=track.corner_names_source,
        reference_line=_LineDoc(
            lat=[round(float(v), _DEG_DIGITS) for v in line.lat_deg],
            lon=[round(float(v), _DEG_DIGITS) for v in line.lon_deg],
            alt_m=None if all(a is None for a in alt) else alt,
            s_m=[_m(v) for v in line.s_m],
        ),
    )
    plain = msgspec.to_builtins(doc)
    return {key: plain[key] for key in _KEY_ORDER}


def save_track(track: Track, path: str | Path) -> None:
    """Write a track as JSON (UTF-8, 2-space indent, number arrays on one line, trailing newline)."""
    Path(path).write_text(_dump(track_to_dict(track), 0) + "\n", encoding="utf-8")


class TrackLibrary:
    """All ``*.json`` tracks in a folder (not recursive), plus the user's own tracks (circuits learnt from
    recordings, in ``user_dir`` when given and present), loaded eagerly and sorted by id."""

    def __init__(self, directory: str | Path = TRACKS_DIR, *, user_dir: str | Path | None = None) -> None:
        self.directory = Path(directory)
        self.user_dir = Path(user_dir) if user_dir is not None else None
        if not self.directory.is_dir():
            raise ReadError(self.directory, "track library folder not found")
        folders = [self.directory, *([self.user_dir] if self.user_dir and self.user_dir.is_dir() else [])]
        by_id: dict[str, Track] = {}
        for path in (p for folder in folders for p in sorted(folder.glob("*.json"))):
            track = load_track(path)
            if track.id in by_id:
                raise ReadError(path, f"field 'id': duplicate track id {track.id!r}")
            by_id[track.id] = track
        self.tracks: list[Track] = [by_id[key] for key in sorted(by_id)]
        self._by_id = by_id

    def user_track(self, track_id: str) -> Track:
        """A user track by id; ``KeyError`` when there is none, ``PermissionError`` for a bundled track
        (edit ``data/tracks/overrides`` and rebuild instead)."""
        track = self.get(track_id)
        if (self.directory / f"{track_id}.json").exists():
            raise PermissionError(
                f"{track_id!r} is a bundled library track: edit data/tracks/overrides instead"
            )
        return track

    def add_user_track(self, track: Track) -> Path | None:
        """Register a user track (e.g. one learnt from a recording) and save it as ``<user_dir>/<id>.json``
        (returned; ``None`` without a ``user_dir``: kept in memory only). Replaces a user track of the same id;
        ``ValueError`` when the id belongs to the bundled library."""
        if track.id in self._by_id and (self.directory / f"{track.id}.json").exists():
            raise ValueError(f"track id {track.id!r} belongs to the bundled library")
        saved = None
        if self.user_dir is not None:
            self.user_dir.mkdir(parents=True, exist_ok=True)
            saved = self.user_dir / f"{track.id}.json"
            temporary = saved.with_suffix(".json.tmp")
            save_track(track, temporary)
            temporary.replace(saved)  # never a half-written track file
        self._by_id[track.id] = track
        self.tracks = [self._by_id[key] for key in sorted(self._by_id)]
        return saved

    def ids(self) -> list[str]:
        """Track ids in sorted order."""
        return [t.id for t in self.tracks]

    def get(self, track_id: str) -> Track:
        """The track with this id; ``KeyError`` naming the known ids when there is none."""
        try:
            return self._by_id[track_id]
        except KeyError:
            raise KeyError(f"unknown track {track_id!r}; known: {', '.join(self.ids())}") from None

    def __len__(self) -> int:
        return len(self.tracks)


def _field_message(msgspec_message: str) -> str:
    """Rephrase msgspec's "… - at `$.corners[3].s_apex_m`" as "field 'corners[3].s_apex_m': …"."""
    reason, sep, where = msgspec_message.rpartition(" - at `$")
    if not sep:
        return msgspec_message
    return f"field '{where.rstrip('`').lstrip('.')}': {reason}"


def _validate(doc: _TrackDoc, source: str | Path) -> None:
    def fail(field: str, reason: str) -> ReadError:
        return ReadError(source, f"field '{field}': {reason}")

    length = doc.length_m
    if not length > 0:
        raise fail("length_m", f"must be positive, got {length}")
    line = doc.reference_line
    n = len(line.s_m)
    if n < 3:
        raise fail("reference_line.s_m", f"needs at least 3 points, got {n}")
    for name, values in (("lat", line.lat), ("lon", line.lon), ("alt_m", line.alt_m)):
        if values is not None and len(values) != n:
            raise fail(f"reference_line.{name}", f"has {len(values)} values, s_m has {n}")
    s = np.asarray(line.s_m)
    if s[0] != 0 or not np.all(np.diff(s) > 0) or s[-1] >= length:
        raise fail("reference_line.s_m", "must start at 0, increase strictly and stay below length_m")
    ends = [sec.end_m for sec in doc.sectors]
    if ends and (any(b <= a for a, b in pairwise(ends)) or abs(ends[-1] - length) > 1.0):
        raise fail("sectors", "end_m must increase and the last must equal length_m")
    positions: list[tuple[str, float]] = []
    for i, c in enumerate(doc.corners):
        positions += [(f"corners[{i}].{k}", getattr(c, k)) for k in ("s_entry_m", "s_apex_m", "s_exit_m")]
    for i, st in enumerate(doc.straights):
        positions += [(f"straights[{i}].{k}", getattr(st, k)) for k in ("s_start_m", "s_end_m")]
    positions += [(f"markers[{i}].s_m", m.s_m) for i, m in enumerate(doc.markers)]
    for i, d in enumerate(doc.danger_zones):
        positions += [(f"danger_zones[{i}].{k}", getattr(d, k)) for k in ("s_start_m", "s_end_m")]
    for field, value in positions:
        if not 0 <= value <= length:
            raise fail(field, f"{value} is outside [0, length_m={length}]")
    for i, w in enumerate(doc.weather):
        if not 0 <= w.hour_from < w.hour_to <= 24:
            raise fail(
                f"weather[{i}]", f"needs 0 <= hour_from < hour_to <= 24, got {w.hour_from}-{w.hour_to}"
            )


def _gate(doc: _GateDoc, kind: Literal["start_finish", "split"]) -> Gate:
    return Gate(doc.name, kind, doc.lat1, doc.lon1, doc.lat2, doc.lon2, doc.heading_deg)


def _gate_doc(gate: Gate) -> _GateDoc:
    def deg(value: float) -> float:
        return round(float(value), _DEG_DIGITS)

    heading = None if gate.heading_deg is None else _m(gate.heading_deg)
    return _GateDoc(
        gate.name, deg(gate.lat1_deg), deg(gate.lon1_deg), deg(gate.lat2_deg), deg(gate.lon2_deg), heading
    )


def _m(value: float) -> float:
    return round(float(value), _M_DIGITS)


def _dump(value: object, depth: int) -> str:
    """JSON with 2-space indentation where arrays of numbers (or of nulls) stay on one line."""
    pad, inner = "  " * depth, "  " * (depth + 1)
    if isinstance(value, dict):
        if not value:
            return "{}"
        items = (f"{inner}{json.dumps(k)}: {_dump(v, depth + 1)}" for k, v in value.items())
        return "{\n" + ",\n".join(items) + f"\n{pad}}}"
    if isinstance(value, list) and any(isinstance(v, (dict, list)) for v in value):
        return "[\n" + ",\n".join(f"{inner}{_dump(v, depth + 1)}" for v in value) + f"\n{pad}]"
    return json.dumps(value, ensure_ascii=False, allow_nan=False)
