"""``python -m pipelines build-tracks``: build ``data/tracks/*.json`` from the zaggyai/track_data polylines.

For every closed layout in ``--src`` (zaggyai JSON: ``pts`` with lat/lon as integers ×1e-7 and elevation in mm,
in the driving direction, starting at ``start_finish``):

1. drop the duplicated closing point, fit a periodic interpolating cubic spline (chord-length parameter) through
   the vertices in a local metric plane and resample it every ≤ 4 m (``SPACING_M``) of arc length;
2. put ``s_m = 0`` at the start/finish point and keep the source order as the direction of travel;
3. build the 30 m start/finish line perpendicular to the reference line, three equal sectors (unless known);
4. compute signed curvature, detect corners (numbered along the lap) and straights
   (:mod:`pitwall.analysis.curvature`);
5. merge ``<out>/overrides/<id>.json`` on top (hand-authored names, sectors, markers, danger zones, weather)
   and write ``<out>/<id>.json`` deterministically (same input, same bytes).

Two-point files (drag strips) are not circuits and are skipped with a message.
"""

from __future__ import annotations

import argparse
import json
import re
from dataclasses import replace
from pathlib import Path
from typing import Any, Literal, cast

import numpy as np

from pitwall import DATA_DIR, REPO_DIR
from pitwall.analysis.curvature import detect_straights
from pitwall.analysis.geo import FloatArray
from pitwall.formats.track import save_track
from pitwall.track import Corner, DangerZone, Marker, Track, WeatherPhase
from pitwall.trackbuild import CURVATURE_NAMES, centre_line, equal_sectors, timing_gates

NAME = "build-tracks"
DEFAULT_SRC = REPO_DIR.parent / "shared" / "data" / "tracks" / "zaggyai"
DEFAULT_OUT = DATA_DIR / "tracks"
ID_OVERRIDES = {"Sonoma Race": "sonoma", "Rd Amer": "road-america", "Rd Amer Alt": "road-america-alt"}
"""Track ids that are not the plain slug of the zaggyai ``short_name``."""

VENUES: dict[str, tuple[str, str]] = {
    "Athens Megara Circuit": ("GR", "Europe/Athens"),
    "Brands Hatch GP Circuit": ("GB", "Europe/London"),
    "Brands Hatch Indy Circuit": ("GB", "Europe/London"),
    "Castle Combe Circuit": ("GB", "Europe/London"),
    "Homestead-Miami Speedway": ("US", "America/New_York"),
    "Las Vegas Motor Speedway": ("US", "America/Los_Angeles"),
    "Road America": ("US", "America/Chicago"),
    "SPEEDVEGAS": ("US", "America/Los_Angeles"),
    "Sebring International Raceway": ("US", "America/New_York"),
    "Serres Racing Circuit": ("GR", "Europe/Athens"),
    "Sonoma Raceway": ("US", "America/Los_Angeles"),
    "Thruxton Motorsport Centre": ("GB", "Europe/London"),
    "Thunderhill Raceway Park": ("US", "America/Los_Angeles"),
    "WeatherTech Raceway Laguna Seca": ("US", "America/Los_Angeles"),
}
"""ISO 3166 country code and IANA time zone per venue (``name`` in the zaggyai file)."""

SOURCE_NOTE = (
    "Centre line from zaggyai/track_data (MIT, data/tracks/LICENSE.zaggyai), file {file}, layout {layout!r}; "
    "smoothed and resampled; start/finish line, corners and straights derived by pitwall build-tracks."
)


class NotACircuit(ValueError):
    """A source layout that is not a closed loop (e.g. a two-point drag strip)."""


def add_parser(subparsers: Any) -> None:
    """Register the ``build-tracks`` job on the ``python -m pipelines`` dispatcher."""
    parser = subparsers.add_parser(NAME, help="build data/tracks/*.json from zaggyai/track_data polylines")
    parser.add_argument("--src", type=Path, default=DEFAULT_SRC, help="folder of zaggyai JSON files")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="track library folder to write")
    parser.add_argument(
        "--overrides",
        type=Path,
        default=None,
        help="hand-authored overrides folder (default: <out>/overrides)",
    )
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    src, out = Path(args.src), Path(args.out)
    if not src.is_dir():
        print(f"build-tracks: source folder {src} not found (pass --src DIR with the zaggyai JSON files)")
        return 2
    written, skipped = build_library(src, out, overrides_dir=args.overrides)
    for path in written:
        print(f"wrote {path}")
    for name, reason in skipped:
        print(f"skipped {name}: {reason}")
    return 0


def build_library(
    src: Path, out: Path, *, overrides_dir: Path | None = None
) -> tuple[list[Path], list[tuple[str, str]]]:
    """Build every layout in ``src`` into ``out``; returns (written files, skipped (file, reason)).

    Overrides are read from ``overrides_dir`` (default ``out / "overrides"``) as ``<id>.json``.
    """
    out.mkdir(parents=True, exist_ok=True)
    overrides_dir = out / "overrides" if overrides_dir is None else overrides_dir
    written: list[Path] = []
    skipped: list[tuple[str, str]] = []
    for path in sorted(src.glob("*.json")):
        raw = json.loads(path.read_text(encoding="utf-8"))
        track_id = track_id_of(raw["short_name"])
        override_path = overrides_dir / f"{track_id}.json"
        overrides = json.loads(override_path.read_text(encoding="utf-8")) if override_path.exists() else {}
        try:
            track = build_track(raw, file_name=path.name, overrides=overrides)
        except NotACircuit as exc:
            skipped.append((path.name, str(exc)))
            continue
        target = out / f"{track.id}.json"
        if target in written:
            raise ValueError(f"{path.name}: track id {track.id!r} is produced twice")
        save_track(track, target)
        written.append(target)
    return written, skipped


def track_id_of(short_name: str) -> str:
    """The library id of a zaggyai layout: ``ID_OVERRIDES`` or the slug of its ``short_name``."""
    name = short_name.strip()
    return ID_OVERRIDES.get(name) or re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")


def build_track(raw: dict[str, Any], *, file_name: str, overrides: dict[str, Any]) -> Track:
    """One zaggyai layout as a :class:`Track`, with ``overrides`` merged on top of the detected fields."""
    lat, lon, alt = _vertices(raw)
    start = raw["start_finish"]
    line, length_m, corners = centre_line(lat, lon, alt, start["lat"] * 1e-7, start["lon"] * 1e-7)
    corners = _name_corners(corners, overrides.get("corner_names"))
    names_source = (
        overrides.get("corner_names_source", "hand-authored turn list (data/tracks/overrides)")
        if "corner_names" in overrides
        else CURVATURE_NAMES
    )
    country, timezone = VENUES.get(raw["name"], ("", ""))
    layout = raw["short_name"].strip()
    sector_ends, sector_names = _sectors(length_m, overrides.get("sectors"))
    authored = sorted(k for k in overrides if k not in {"source_note", "corner_names_source"})
    source = SOURCE_NOTE.format(file=file_name, layout=layout)
    if "sectors" not in overrides:
        source += " Three equal sectors (no public split points known)."
    if authored:
        source += f" Hand-authored in data/tracks/overrides: {', '.join(authored)}."
    if note := overrides.get("source_note"):
        source += f" {note}"
    straights = detect_straights(corners, length_m)
    renames = overrides.get("straight_names", {})
    start_finish, sector_gates = timing_gates(line, length_m, sector_ends, sector_names)
    return Track(
        id=track_id_of(raw["short_name"]),
        name=overrides.get("name", raw["name"].strip()),
        length_m=length_m,
        start_finish=start_finish,
        reference_line=line,
        sector_ends_m=sector_ends,
        sector_gates=sector_gates,
        corners=corners,
        straights=tuple(replace(st, name=renames.get(st.name, st.name)) for st in straights),
        markers=tuple(_marker(m, corners, length_m) for m in overrides.get("markers", [])),
        danger_zones=tuple(_danger_zone(d, corners, length_m) for d in overrides.get("danger_zones", [])),
        weather=tuple(WeatherPhase(**w) for w in overrides.get("weather", [])),
        layout=overrides.get("layout", layout),
        country=overrides.get("country", country),
        timezone=overrides.get("timezone", timezone),
        source=source,
        corner_names_source=names_source,
        extra={"sector_names": sector_names},
    )


def _vertices(raw: dict[str, Any]) -> tuple[FloatArray, FloatArray, FloatArray]:
    """Distinct vertices (closing duplicate dropped) as lat/lon degrees and elevation metres (NaN = unknown).

    zaggyai writes elevation 0 where it is unknown: at the start point when ``start_finish.elev`` is 0 (then
    interpolated from its neighbours), or everywhere (then all NaN).
    """
    pts = raw.get("pts", [])
    lat = np.array([p["lat"] for p in pts], dtype=np.float64) * 1e-7
    lon = np.array([p["lon"] for p in pts], dtype=np.float64) * 1e-7
    alt = np.array([p.get("elev", 0) for p in pts], dtype=np.float64) / 1000.0
    keep = np.r_[True, (np.diff(lat) != 0) | (np.diff(lon) != 0)]
    lat, lon, alt = lat[keep], lon[keep], alt[keep]
    if len(lat) > 1 and lat[-1] == lat[0] and lon[-1] == lon[0]:
        lat, lon, alt = lat[:-1], lon[:-1], alt[:-1]
    if len(lat) < 4:
        raise NotACircuit(f"not a closed circuit ({len(pts)} points)")
    if not np.any(alt != 0):
        alt[:] = np.nan
    elif raw["start_finish"].get("elev", 0) == 0 and alt[0] == 0:
        alt[0] = 0.5 * (alt[1] + alt[-1])
    return lat, lon, alt


def _name_corners(corners: tuple[Corner, ...], names: list[dict[str, Any]] | None) -> tuple[Corner, ...]:
    """Apply hand-authored ``[{"number", "name"}]`` in lap order; the counts must match."""
    if names is None:
        return corners
    if len(names) != len(corners):
        detected = ", ".join(f"{c.direction} at {c.s_apex_m:.0f} m" for c in corners)
        raise ValueError(f"{len(names)} corner names for {len(corners)} detected corners ({detected})")
    return tuple(
        replace(c, number=str(n["number"]), name=n.get("name")) for c, n in zip(corners, names, strict=True)
    )


def _sectors(length_m: float, spec: dict[str, Any] | None) -> tuple[tuple[float, ...], tuple[str, ...]]:
    """Sector ends: three equal sectors, or the authored ``ends_m`` scaled from ``public_length_m`` to ours."""
    if spec is None:
        return equal_sectors(length_m)
    scale = length_m / float(spec["public_length_m"])
    ends = tuple(float(e) * scale for e in spec["ends_m"])
    return ends, tuple(spec.get("names", [f"S{i + 1}" for i in range(len(ends))]))


def _position(spec: dict[str, Any], corners: tuple[Corner, ...], length_m: float) -> float:
    """``{"corner": "7", "at": "entry"|"apex"|"exit", "offset_m": -100}`` → ``s_m`` on the lap."""
    by_number = {c.number: c for c in corners}
    corner = by_number[str(spec["corner"])]
    base = {"entry": corner.s_entry_m, "apex": corner.s_apex_m, "exit": corner.s_exit_m}[spec["at"]]
    return (base + float(spec.get("offset_m", 0.0))) % length_m


def _marker(spec: dict[str, Any], corners: tuple[Corner, ...], length_m: float) -> Marker:
    return Marker(spec["kind"], _position(spec, corners, length_m), spec["text"], str(spec["corner"]))


def _danger_zone(spec: dict[str, Any], corners: tuple[Corner, ...], length_m: float) -> DangerZone:
    severity = cast(Literal["low", "medium", "high"], spec["severity"])
    return DangerZone(
        spec["name"],
        _position(spec["from"], corners, length_m),
        _position(spec["to"], corners, length_m),
        severity,
        spec["text"],
    )
