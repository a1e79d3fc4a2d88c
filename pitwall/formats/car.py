"""Car configuration YAML (``data/cars/<id>.yaml``): what a DBC cannot say about a car.

Identity, the dash logger, the CAN bus, each frame's broadcast rate, each channel's role and its mapping to a
canonical telemetry column (or the tall sink) with unit conversion, known-dead channels, and the drivetrain and
performance figures used to derive gear and to simulate a lap. See ``data/cars/bmw_e46_m3.yaml`` for the
annotated format.
"""

from __future__ import annotations

import contextlib
import itertools
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

import numpy as np
import numpy.typing as npt
import yaml

from pitwall.formats.errors import ReadError
from pitwall.schema import TELEMETRY


@dataclass(frozen=True)
class Conversion:
    """An affine unit conversion ``out = value * scale + offset``."""

    name: str
    scale: float
    offset: float

    def apply(self, values: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
        """Source units → Pitwall units."""
        return values * self.scale + self.offset

    def invert(self, values: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
        """Pitwall units → source units (used to encode simulated frames)."""
        return (values - self.offset) / self.scale


CONVERSIONS: Final[dict[str, Conversion]] = {
    c.name: c
    for c in (
        Conversion("none", 1.0, 0.0),
        Conversion("mph_to_kph", 1.609344, 0.0),  # international mile
        Conversion("psi_to_bar", 0.0689475729317831, 0.0),
        Conversion("degf_to_degc", 5.0 / 9.0, -160.0 / 9.0),  # (°F − 32) × 5/9
        Conversion("gal_to_l", 3.785411784, 0.0),  # US gallon
        Conversion("negate", -1.0, 0.0),
    )
}
"""Unit conversions a car YAML may name in a channel's ``convert``."""


@dataclass(frozen=True)
class Channel:
    """One signal of a frame. ``name`` is where it lands: the canonical column, else the tall signal name."""

    signal: str  # DBC signal name
    frame_id: int
    role: str
    canonical: str | None
    name: str
    conversion: Conversion
    dead: str | None = None  # why the channel carries no information (None = alive)


@dataclass(frozen=True)
class Frame:
    """A CAN frame the car sends: DBC message name, broadcast rate (Hz) and channels."""

    frame_id: int
    message: str
    rate_hz: float
    core: bool
    channels: tuple[Channel, ...]


@dataclass(frozen=True)
class DashLogger:
    make: str
    model: str
    protocol: str
    total_frames: int
    total_channels: int


@dataclass(frozen=True)
class CanBus:
    name: str
    bitrate_bps: int
    frame_format: str
    id_width: int


@dataclass(frozen=True)
class Drivetrain:
    """Gearbox ratios (1st first), final drive, driven-tyre rolling circumference (m), idle and redline rpm."""

    gear_ratios: tuple[float, ...]
    final_drive: float
    tyre_circumference_m: float
    idle_rpm: float
    redline_rpm: float


@dataclass(frozen=True)
class Performance:
    """Envelope for lap simulation: mass (kg, with driver), engine power (kW), tyre friction coefficient,
    full-brake deceleration (g), brake line pressure at full braking (bar), drag area Cd·A (m²), wheelbase (m),
    steering ratio (steering-wheel angle per road-wheel angle)."""

    mass_kg: float
    power_kw: float
    mu: float
    brake_g: float
    max_brake_bar: float
    drag_area_m2: float
    wheelbase_m: float
    steering_ratio: float


@dataclass(frozen=True)
class CarConfig:
    """A parsed car YAML; ``id`` is the file stem."""

    id: str
    path: Path
    make: str
    model: str
    chassis: str
    year: int
    engine: str
    dash_logger: DashLogger
    can_bus: CanBus
    frames: tuple[Frame, ...]
    drivetrain: Drivetrain | None = None
    performance: Performance | None = None

    @property
    def channels(self) -> tuple[Channel, ...]:
        """Every channel of every frame, in file order."""
        return tuple(ch for frame in self.frames for ch in frame.channels)

    @property
    def live_channels(self) -> tuple[Channel, ...]:
        """Channels that carry information (not marked dead)."""
        return tuple(ch for ch in self.channels if ch.dead is None)

    @property
    def display_name(self) -> str:
        """E.g. ``"BMW M3 (E46)"`` as sessions and leaderboards name the car."""
        return f"{self.make} {self.model} ({self.chassis})"

    def frame(self, frame_id: int) -> Frame:
        """The frame with this id (``KeyError`` if the car does not send it)."""
        for frame in self.frames:
            if frame.frame_id == frame_id:
                return frame
        raise KeyError(f"{self.id} does not send frame 0x{frame_id:X}")

    def to_api_dict(self, loaded: bool) -> dict[str, Any]:
        """The car as ``GET /cars`` serves it (contract shape, snake_case keys)."""
        return {
            "id": self.id,
            "loaded": loaded,
            "make": self.make,
            "model": self.model,
            "chassis": self.chassis,
            "year": self.year,
            "engine": self.engine,
            "dash_logger": {
                "make": self.dash_logger.make,
                "model": self.dash_logger.model,
                "protocol": self.dash_logger.protocol,
                "total_frames": self.dash_logger.total_frames,
                "total_channels": self.dash_logger.total_channels,
            },
            "can_bus": {
                "name": self.can_bus.name,
                "bitrate_bps": self.can_bus.bitrate_bps,
                "frame_format": self.can_bus.frame_format,
                "id_width": self.can_bus.id_width,
            },
            "frame_count": len(self.frames),
            "channel_count": len(self.channels),
            "channels": [
                {
                    "name": ch.signal,
                    "frame_id": f"0x{frame.frame_id:X}",
                    "rate_hz": _json_number(frame.rate_hz),
                    "role": ch.role,
                }
                for frame in self.frames
                for ch in frame.channels
            ],
        }


def _json_number(x: float) -> int | float:
    return int(x) if float(x).is_integer() else x


class _Fields:
    """Typed access to one YAML mapping, raising :class:`ReadError` that names the file and the key path."""

    def __init__(self, path: Path, where: str, data: object) -> None:
        if not isinstance(data, Mapping):
            raise ReadError(path, f"{where or 'top level'}: expected a mapping, got {type(data).__name__}")
        self.path, self.where, self.data = path, where, data

    def _key(self, key: str) -> str:
        return f"{self.where}.{key}" if self.where else key

    def raw(self, key: str, default: object = ...) -> object:
        if key not in self.data:
            if default is ...:
                raise ReadError(self.path, f"missing key {self._key(key)!r}")
            return default
        return self.data[key]

    def text(self, key: str, default: str | None = None) -> str:
        value = self.raw(key, ... if default is None else default)
        if not isinstance(value, str) or not value:
            raise ReadError(self.path, f"{self._key(key)}: expected a non-empty string, got {value!r}")
        return value

    def opt_text(self, key: str) -> str | None:
        value = self.raw(key, None)
        return None if value is None else self.text(key)

    def integer(self, key: str) -> int:
        value = self.raw(key)
        if isinstance(value, str):
            with contextlib.suppress(ValueError):
                value = int(value, 0)
        if not isinstance(value, int) or isinstance(value, bool):
            raise ReadError(self.path, f"{self._key(key)}: expected an integer, got {value!r}")
        return value

    def number(self, key: str) -> float:
        value = self.raw(key)
        if not isinstance(value, int | float) or isinstance(value, bool) or not np.isfinite(value):
            raise ReadError(self.path, f"{self._key(key)}: expected a number, got {value!r}")
        return float(value)

    def positive(self, key: str) -> float:
        value = self.number(key)
        if value <= 0:
            raise ReadError(self.path, f"{self._key(key)}: must be > 0, got {value!r}")
        return value

    def sub(self, key: str) -> _Fields:
        return _Fields(self.path, self._key(key), self.raw(key))

    def items(self, key: str) -> list[_Fields]:
        value = self.raw(key)
        if not isinstance(value, list) or not value:
            raise ReadError(self.path, f"{self._key(key)}: expected a non-empty list")
        return [_Fields(self.path, f"{self._key(key)}[{i}]", item) for i, item in enumerate(value)]


def _channel(f: _Fields, frame_id: int) -> Channel:
    signal = f.text("signal")
    canonical = f.opt_text("canonical")
    if canonical is not None and canonical not in TELEMETRY:
        raise ReadError(f.path, f"{f.where}.canonical: {canonical!r} is not a canonical telemetry column")
    tall = f.opt_text("tall")
    if canonical is not None and tall is not None:
        raise ReadError(f.path, f"{f.where}: give either 'canonical' or 'tall', not both")
    convert = f.text("convert", "none")
    if convert not in CONVERSIONS:
        raise ReadError(
            f.path, f"{f.where}.convert: unknown conversion {convert!r} (known: {sorted(CONVERSIONS)})"
        )
    return Channel(
        signal=signal,
        frame_id=frame_id,
        role=f.text("role"),
        canonical=canonical,
        name=canonical or tall or signal,
        conversion=CONVERSIONS[convert],
        dead=f.opt_text("dead"),
    )


def _frame(f: _Fields) -> Frame:
    frame_id = f.integer("id")
    if not 0 <= frame_id <= 0x1FFFFFFF:
        raise ReadError(f.path, f"{f.where}.id: 0x{frame_id:X} is not a CAN identifier")
    core = f.raw("core", False)
    if not isinstance(core, bool):
        raise ReadError(f.path, f"{f.where}.core: expected true or false, got {core!r}")
    return Frame(
        frame_id=frame_id,
        message=f.text("message"),
        rate_hz=f.positive("rate_hz"),
        core=core,
        channels=tuple(_channel(c, frame_id) for c in f.items("channels")),
    )


def _drivetrain(f: _Fields) -> Drivetrain:
    ratios = f.raw("gear_ratios")
    if (
        not isinstance(ratios, list)
        or not ratios
        or not all(isinstance(r, int | float) and r > 0 for r in ratios)
    ):
        raise ReadError(f.path, f"{f.where}.gear_ratios: expected a list of positive numbers")
    if any(a <= b for a, b in itertools.pairwise(ratios)):
        raise ReadError(f.path, f"{f.where}.gear_ratios: must decrease from 1st gear up")
    return Drivetrain(
        gear_ratios=tuple(float(r) for r in ratios),
        final_drive=f.positive("final_drive"),
        tyre_circumference_m=f.positive("tyre_circumference_m"),
        idle_rpm=f.positive("idle_rpm"),
        redline_rpm=f.positive("redline_rpm"),
    )


def _performance(f: _Fields) -> Performance:
    return Performance(
        mass_kg=f.positive("mass_kg"),
        power_kw=f.positive("power_kw"),
        mu=f.positive("mu"),
        brake_g=f.positive("brake_g"),
        max_brake_bar=f.positive("max_brake_bar"),
        drag_area_m2=f.positive("drag_area_m2"),
        wheelbase_m=f.positive("wheelbase_m"),
        steering_ratio=f.positive("steering_ratio"),
    )


def load_car(path: Path) -> CarConfig:
    """Parse and validate one car YAML; any problem is a :class:`ReadError` naming the file and key."""
    path = Path(path)
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise ReadError(path, "car config not found") from exc
    except (yaml.YAMLError, UnicodeDecodeError) as exc:
        mark = getattr(exc, "problem_mark", None)
        raise ReadError(
            path, f"not valid YAML: {exc}", line=mark.line + 1 if mark is not None else None
        ) from exc
    top = _Fields(path, "", data)
    frames = tuple(_frame(f) for f in top.items("frames"))
    ids = [fr.frame_id for fr in frames]
    if len(set(ids)) != len(ids):
        raise ReadError(path, "frames: a frame id is listed twice")
    signals = [ch.signal for fr in frames for ch in fr.channels]
    if len(set(signals)) != len(signals):
        raise ReadError(path, "frames: a signal is listed twice")
    canon = [ch.canonical for fr in frames for ch in fr.channels if ch.canonical and ch.dead is None]
    if len(set(canon)) != len(canon):
        raise ReadError(path, "frames: two live channels map to the same canonical column")
    dash, bus = top.sub("dash_logger"), top.sub("can_bus")
    return CarConfig(
        id=path.stem,
        path=path,
        make=top.text("make"),
        model=top.text("model"),
        chassis=top.text("chassis"),
        year=top.integer("year"),
        engine=top.text("engine"),
        dash_logger=DashLogger(
            make=dash.text("make"),
            model=dash.text("model"),
            protocol=dash.text("protocol"),
            total_frames=dash.integer("total_frames"),
            total_channels=dash.integer("total_channels"),
        ),
        can_bus=CanBus(
            name=bus.text("name"),
            bitrate_bps=bus.integer("bitrate_bps"),
            frame_format=bus.text("frame_format"),
            id_width=bus.integer("id_width"),
        ),
        frames=frames,
        drivetrain=_drivetrain(top.sub("drivetrain")) if "drivetrain" in top.data else None,
        performance=_performance(top.sub("performance")) if "performance" in top.data else None,
    )


def list_cars(directory: Path) -> list[CarConfig]:
    """Every ``*.yaml`` / ``*.yml`` car in ``directory``, sorted by id. A bad file raises :class:`ReadError`."""
    directory = Path(directory)
    if not directory.is_dir():
        raise ReadError(directory, "cars directory not found")
    paths = sorted(p for p in directory.iterdir() if p.suffix.lower() in {".yaml", ".yml"} and p.is_file())
    return sorted((load_car(p) for p in paths), key=lambda c: c.id)
