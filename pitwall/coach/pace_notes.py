"""Rally-style pace notes from the track's corners and markers (pure): "128, T6 The Carousel, left, …"."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from pitwall.track import Corner, Track


@dataclass(frozen=True)
class PaceNote:
    """The note for the next corner: ``distance_m`` from the car to the corner's first marker (or its entry)
    along the lap (``None`` when the car's position is unknown), and the marker texts read out."""

    corner: str
    corner_name: str | None
    direction: str
    distance_m: float | None
    markers: tuple[str, ...]
    text: str

    def to_dict(self) -> dict[str, Any]:
        return {
            "corner": self.corner,
            "corner_name": self.corner_name,
            "direction": self.direction,
            "distance_m": self.distance_m,
            "markers": list(self.markers),
            "text": self.text,
        }


def next_corner(track: Track, *, s_m: float | None = None, after_corner: str | None = None) -> Corner | None:
    """The corner ahead: the next entry after ``s_m`` (m along the lap) when given, else the corner after
    ``after_corner`` (the last one driven, in track order), else the first corner; ``None`` without corners."""
    corners = sorted(track.corners, key=lambda c: c.s_entry_m)
    if not corners:
        return None
    if s_m is not None:
        return min(corners, key=lambda c: (c.s_entry_m - s_m) % track.length_m)
    numbers = [c.number for c in corners]
    if after_corner in numbers:
        return corners[(numbers.index(after_corner) + 1) % len(corners)]
    return corners[0]


def pace_note(track: Track, *, s_m: float | None = None, after_corner: str | None = None) -> PaceNote | None:
    """The pace note for the corner ahead (see :func:`next_corner`); ``None`` when the track has no corners."""
    corner = next_corner(track, s_m=s_m, after_corner=after_corner)
    if corner is None:
        return None
    markers = sorted((m for m in track.markers if m.corner == corner.number), key=lambda m: m.s_m)
    first_s = markers[0].s_m if markers and markers[0].s_m < corner.s_entry_m else corner.s_entry_m
    distance = None if s_m is None else round((first_s - s_m) % track.length_m)
    label = f"T{corner.number} {corner.name}" if corner.name else f"T{corner.number}"
    parts = [str(distance)] if distance is not None else []
    parts += [label, corner.direction, *(m.text for m in markers)]
    return PaceNote(
        corner=corner.number,
        corner_name=corner.name,
        direction=corner.direction,
        distance_m=None if distance is None else float(distance),
        markers=tuple(m.text for m in markers),
        text=", ".join(parts),
    )
