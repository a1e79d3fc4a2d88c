"""The one channel alias table (``data/channels/aliases.yaml``): logger channel names → quantities →
canonical columns with unit factors. Every reader maps its channels through it, so a name learnt once (e.g.
Harry's LapTimer ``GasPedalPosition`` → throttle) works in every format. A channel without an alias, or with a
unit the table does not list, stays in the tall signal sink unconverted; a channel the file does not carry stays
null ("not logged"), never 0.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any, Final

import yaml

from pitwall import DATA_DIR, schema

ALIASES_FILE: Final = DATA_DIR / "channels" / "aliases.yaml"
"""The alias table."""

POSITION_AND_TIME: Final = frozenset({"time", "lat", "lon"})
"""Quantities every reader handles itself (clock and coordinate formats differ between loggers)."""


@dataclass(frozen=True)
class Conversion:
    """A quantity's canonical ``column`` and its ``units`` (logger unit, lower case without spaces → factor to
    the column's unit; ``None``: the unit is fixed by the format and ignored)."""

    column: str
    units: dict[str, float] | None

    def factor(self, unit: str) -> float | None:
        """The factor from ``unit`` to the column's unit; ``None`` when the unit is not known."""
        if self.units is None:
            return 1.0
        return self.units.get(unit_key(unit))


@dataclass(frozen=True)
class ChannelTable:
    """``names``: normalised channel name → quantity; ``quantities``: quantity → :class:`Conversion`."""

    names: dict[str, str]
    quantities: dict[str, Conversion]

    def quantity(self, name: str) -> str | None:
        """The quantity of a logger channel called ``name`` (``None``: no alias)."""
        return self.names.get(normalised_name(name))

    @property
    def units(self) -> frozenset[str]:
        """Every unit the table knows (non-empty), e.g. to split ``velocity kmh`` into name and unit."""
        return frozenset(u for c in self.quantities.values() if c.units for u in c.units if u)


def normalised_name(name: str) -> str:
    """``Lap_Number`` → ``lapnumber``: lower case without ``_``, ``-``, ``.`` and white space."""
    return re.sub(r"[\s_\-.]+", "", name.lower())


def unit_key(unit: str) -> str:
    """A unit as the table spells it: lower case, no spaces (``"m/s "`` → ``"m/s"``)."""
    return unit.strip().lower().replace(" ", "")


def load_channel_table(path: Path = ALIASES_FILE) -> ChannelTable:
    """Read and check the alias table: every alias names a quantity the table defines (or time/lat/lon) and
    every quantity maps to a canonical column. Raises ``ValueError`` naming the file and the entry."""
    raw: dict[str, Any] = yaml.safe_load(path.read_text(encoding="utf-8"))
    quantities = {
        name: Conversion(
            column=str(entry["column"]),
            units=None if entry["units"] is None else {str(k): float(v) for k, v in entry["units"].items()},
        )
        for name, entry in raw["quantities"].items()
    }
    for name, conversion in quantities.items():
        if conversion.column not in schema.TELEMETRY:
            raise ValueError(f"{path}: quantity {name!r} maps to unknown column {conversion.column!r}")
    names = {str(k): str(v) for k, v in raw["names"].items()}
    for alias, quantity in names.items():
        if quantity not in quantities and quantity not in POSITION_AND_TIME:
            raise ValueError(f"{path}: alias {alias!r} names unknown quantity {quantity!r}")
        if alias != normalised_name(alias):
            raise ValueError(
                f"{path}: alias {alias!r} is not normalised (expected {normalised_name(alias)!r})"
            )
    return ChannelTable(names=names, quantities=quantities)


@cache
def channel_table() -> ChannelTable:
    """The bundled alias table, read once."""
    return load_channel_table()
