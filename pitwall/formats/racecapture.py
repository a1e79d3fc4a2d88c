"""RaceCapture (Autosport Labs RaceCapture/Pro, RaceCapture/Track) ``.log`` files.

Layout: one header row of comma-separated channel declarations ``"Name"|"unit"|min|max|hz``, then one CSV row
per tick of the fastest channel; a channel only has a value on the rows of its own rate (sparse rows: empty
cells are "no sample here", never 0). Clocks: ``Utc`` (ms since the Unix epoch) when it is logged and non-zero,
else ``Interval`` (ms since the logger started). ``LapCount`` counts completed laps: the logger's own lap
boundaries (:attr:`~pitwall.formats.vbo.VboRecording.lap_marks_s`) are the ``t_s`` where it steps up.
``Latitude``/``Longitude`` are degrees; speed (``MPH`` or ``KPH``) and the other channels go through the
alias table; the IMU axes (``AccelX/Y/Z``, ``Yaw``…) depend on how the unit is mounted and stay in the tall
sink under their own names.
"""

from __future__ import annotations

import io
import re
from pathlib import Path
from typing import Final

import polars as pl

from pitwall.formats.columns import Channel, assemble
from pitwall.formats.errors import ReadError
from pitwall.formats.vbo import VboRecording

_DECLARATION: Final = re.compile(r'^"([^"]*)"\|"([^"]*)"\|[^|,]*\|[^|,]*\|[^|,]*$')
"""One header cell: ``"Name"|"unit"|min|max|hz``."""

_CLOCKS: Final = frozenset({"Interval", "Utc"})
_LAP_COUNTER: Final = "LapCount"


def looks_like_racecapture(head: bytes) -> bool:
    """Does a file starting with ``head`` look like a RaceCapture log (its first cell a declaration)?"""
    first = head.split(b"\n", 1)[0].split(b",", 1)[0].decode("utf-8", errors="replace").strip()
    return bool(_DECLARATION.match(first))


def parse_racecapture(data: bytes, *, name: str = "<bytes>") -> VboRecording:
    """Parse a RaceCapture ``.log`` (see the module doc); :class:`ReadError` names the file and line."""
    path = Path(name)
    text = data.decode("utf-8-sig", errors="replace")
    header, _, body = text.partition("\n")
    names: list[str] = []
    units: list[str] = []
    for k, cell in enumerate(header.strip().split(",")):
        match = _DECLARATION.match(cell.strip())
        if match is None:
            raise ReadError(
                path, f'header cell {k + 1} is not a "Name"|"unit"|min|max|hz declaration', line=1
            )
        names.append(match.group(1))
        units.append(match.group(2))
    if len(set(names)) != len(names):
        raise ReadError(path, "a channel is declared twice in the header", line=1)
    try:
        raw = pl.read_csv(
            io.StringIO(body),
            has_header=False,
            new_columns=names,
            schema_overrides=dict.fromkeys(names, pl.Float64),
        )
    except (pl.exceptions.ComputeError, pl.exceptions.ShapeError) as exc:
        raise ReadError(path, f"unreadable data row: {exc}", line=2) from None
    utc_ok = "Utc" in raw.columns and raw["Utc"].drop_nulls().gt(0).any()
    clock = "Utc" if utc_ok else "Interval" if "Interval" in raw.columns else None
    if clock is None:
        raise ReadError(path, "no Utc or Interval clock column", line=1)
    if "Latitude" not in raw.columns or "Longitude" not in raw.columns:
        raise ReadError(path, "no Latitude/Longitude columns", line=1)
    raw = raw.filter(pl.col(clock).is_not_null()).sort(clock, maintain_order=True)
    ms = pl.col(clock)
    no_fix = (pl.col("Latitude") == 0) & (pl.col("Longitude") == 0)
    frame = raw.with_columns(
        ((ms - ms.first()) / 1000.0).alias("t_s"),
        (ms.cast(pl.Int64).cast(pl.Datetime("ms", "UTC")) if utc_ok else pl.lit(None))
        .cast(pl.Datetime("us", "UTC"))
        .alias("utc"),
        pl.when(~no_fix).then(pl.col("Latitude")).alias("lat_deg"),
        pl.when(~no_fix).then(pl.col("Longitude")).alias("lon_deg"),
    )
    channels = [
        Channel(column=n, name=n, unit=u)
        for n, u in zip(names, units, strict=True)
        if n not in _CLOCKS and n not in ("Latitude", "Longitude")
    ]
    return assemble(
        path,
        frame,
        channels,
        source_format="racecapture",
        created_at=frame["utc"][0] if utc_ok else None,
        session_data={"device": "RaceCapture"},
        lap_marks_s=_lap_marks(frame) if _LAP_COUNTER in frame.columns else (),
        rows_in_file=raw.height,
        first_data_line=2,
    )


def _lap_marks(frame: pl.DataFrame) -> list[float]:
    """``t_s`` of the rows where ``LapCount`` steps up (a lap completed there)."""
    count = pl.col(_LAP_COUNTER).forward_fill()
    return [float(t) for t in frame.filter((count.diff() > 0).fill_null(False))["t_s"]]
