"""GPX tracks (1.0 and 1.1) with time: every ``<trkpt>`` of every ``<trk>``/``<trkseg>`` in document order.

Per point: ``lat``/``lon`` attributes (WGS84 degrees), ``<time>`` (ISO 8601, UTC when it has no zone),
``<ele>`` (m), ``<sat>``, ``<course>`` (degrees) and speed in m/s — GPX 1.0's ``<speed>``, or a 1.1
extension element named ``speed`` (Garmin TrackPointExtension and others). A point without time cannot be
timed and is refused with its position in the file. The XML is parsed with :mod:`defusedxml` (uploads are
untrusted: no entity expansion, no external references).
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Final
from xml.etree.ElementTree import Element

import polars as pl
from defusedxml import ElementTree
from defusedxml.common import DefusedXmlException

from pitwall.formats.columns import Channel, assemble
from pitwall.formats.errors import ReadError
from pitwall.formats.vbo import VboRecording


def looks_like_gpx(head: bytes) -> bool:
    """Does a file starting with ``head`` look like a GPX document?"""
    return b"<gpx" in head[:4096]


def _local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]


def parse_gpx(data: bytes, *, name: str = "<bytes>") -> VboRecording:
    """Parse a GPX track (see the module doc); :class:`ReadError` names the file and what is wrong."""
    path = Path(name)
    try:
        root = ElementTree.fromstring(data)
    except (ElementTree.ParseError, DefusedXmlException) as exc:
        raise ReadError(path, f"not well-formed GPX: {exc}") from None
    if _local(root.tag) != "gpx":
        raise ReadError(path, f"root element is <{_local(root.tag)}>, not <gpx>")
    points = [el for el in root.iter() if _local(el.tag) == "trkpt"]
    if not points:
        raise ReadError(path, "no track points (<trkpt>) in the file")
    rows = [_point(el, k, path) for k, el in enumerate(points)]
    frame = pl.DataFrame(rows, orient="row", schema=_SCHEMA).sort("utc", maintain_order=True)
    frame = frame.with_columns(
        ((pl.col("utc") - pl.col("utc").first()).dt.total_microseconds() / 1e6).alias("t_s")
    )
    channels = [Channel(column=column, name=alias, unit=unit) for column, (alias, unit) in _CHANNELS.items()]
    creator = root.get("creator", "")
    track_name = next((el.text or "" for el in root.iter() if _local(el.tag) == "name"), "")
    return assemble(
        path,
        frame.select("t_s", "utc", "lat_deg", "lon_deg", *_CHANNELS),
        [c for c in channels if frame[c.column].null_count() < frame.height],
        source_format="gpx",
        created_at=frame["utc"][0],
        session_data={"device": creator, "track": track_name.strip()},
        rows_in_file=len(points),
    )


_CHANNELS: Final = {
    "alt": ("altitude", "m"),
    "sats": ("satellites", ""),
    "course": ("course", "deg"),
    "speed": ("speed", "m/s"),
}
"""Frame column → (alias-table name, unit) of the point elements ``<ele>``, ``<sat>``, ``<course>``, speed."""
_SCHEMA: Final[dict[str, pl.DataType]] = {
    "utc": pl.Datetime("us", "UTC"),
    **dict.fromkeys(("lat_deg", "lon_deg", "alt", "sats", "course", "speed"), pl.Float64()),
}


_Point = tuple[datetime, float, float, float | None, float | None, float | None, float | None]


def _point(el: Element, k: int, path: Path) -> _Point:
    """One ``<trkpt>`` as a row of :data:`_SCHEMA`."""
    values: dict[str, str] = {}
    for child in el.iter():
        tag = _local(child.tag)
        if child is not el and child.text and tag not in values:
            values[tag] = child.text.strip()
    where = f"track point {k + 1}"
    try:
        lat, lon = float(el.attrib["lat"]), float(el.attrib["lon"])
    except (KeyError, ValueError):
        raise ReadError(path, f"{where}: lat/lon attributes missing or not numbers") from None
    if "time" not in values:
        raise ReadError(path, f"{where} has no <time>: a GPX track without time cannot be timed")
    try:
        moment = datetime.fromisoformat(values["time"].replace("Z", "+00:00"))
    except ValueError:
        raise ReadError(path, f"{where}: unreadable <time> {values['time']!r}") from None
    moment = moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)

    def number(tag: str) -> float | None:
        try:
            return float(values[tag]) if tag in values else None
        except ValueError:
            raise ReadError(path, f"{where}: <{tag}> {values[tag]!r} is not a number") from None

    return moment, lat, lon, number("ele"), number("sat"), number("course"), number("speed")
