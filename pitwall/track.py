"""The track model: pure, immutable data (no I/O). ``pitwall.formats.track`` reads and writes it as JSON.

Coordinates are WGS84 degrees (east positive); distances along the lap (``s_m``) are metres from the
start/finish line in the direction of travel.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

import numpy as np
import numpy.typing as npt

GateKind = Literal["start_finish", "split", "finish"]


@dataclass(frozen=True)
class Gate:
    """A timing line between two points across the track.

    ``heading_deg`` is the direction of travel across the line (degrees clockwise from north); a crossing
    counts only when the car moves within ±90° of it. ``None`` accepts both directions.
    """

    name: str
    kind: GateKind
    lat1_deg: float
    lon1_deg: float
    lat2_deg: float
    lon2_deg: float
    heading_deg: float | None = None


@dataclass(frozen=True)
class Corner:
    """A corner between ``s_entry_m`` and ``s_exit_m``; ``number`` is the public turn label ("6", "3a")."""

    number: str
    direction: Literal["left", "right"]
    s_entry_m: float
    s_apex_m: float
    s_exit_m: float
    name: str | None = None


def turn_label(number: str) -> str:
    """The corner's label as the original clients name it: ``"Turn 11"`` for number ``"11"``."""
    return f"Turn {number}"


@dataclass(frozen=True)
class Straight:
    name: str
    s_start_m: float
    s_end_m: float


@dataclass(frozen=True)
class Marker:
    """A point of interest along the lap (brake board, crest, apex kerb…), usable in pace notes."""

    kind: str
    s_m: float
    text: str
    corner: str | None = None


@dataclass(frozen=True)
class DangerZone:
    name: str
    s_start_m: float
    s_end_m: float
    severity: Literal["low", "medium", "high"]
    text: str


@dataclass(frozen=True)
class WeatherPhase:
    """Typical conditions between ``hour_from`` (inclusive) and ``hour_to`` (exclusive), local time."""

    hour_from: int
    hour_to: int
    label: str
    air_temp_c: float
    track_temp_c: float
    wind_kph: float
    note: str = ""


@dataclass(frozen=True, eq=False)
class ReferenceLine:
    """The track centre line as parallel arrays; ``s_m`` is cumulative and starts at 0 on the start line."""

    lat_deg: npt.NDArray[np.float64]
    lon_deg: npt.NDArray[np.float64]
    alt_m: npt.NDArray[np.float64]
    s_m: npt.NDArray[np.float64]

    def __len__(self) -> int:
        return int(self.s_m.shape[0])


@dataclass(frozen=True, eq=False)
class Track:
    """A circuit layout.

    ``sector_ends_m`` are the ``s_m`` values where each sector ends; the last equals ``length_m``.
    ``sector_gates`` are the split lines at those positions (optional; ``s_m`` boundaries are used for timing).
    """

    id: str
    name: str
    length_m: float
    start_finish: Gate
    reference_line: ReferenceLine
    sector_ends_m: tuple[float, ...] = ()
    sector_gates: tuple[Gate, ...] = ()
    corners: tuple[Corner, ...] = ()
    straights: tuple[Straight, ...] = ()
    markers: tuple[Marker, ...] = ()
    danger_zones: tuple[DangerZone, ...] = ()
    weather: tuple[WeatherPhase, ...] = ()
    layout: str = ""
    country: str = ""
    timezone: str = ""
    source: str = ""
    corner_names_source: str = ""
    extra: dict[str, object] = field(default_factory=dict)
