"""RaceChrono CSV v3 exports (RaceChrono Pro "Export → CSV v3").

Layout: a preamble of ``key,value`` lines (``Format,3``, ``Session title``, ``Track name``, ``Driver name``,
``Created,DD/MM/YYYY,HH:MM``) and a blank line; then three header rows — channel names (names repeat when
several sources log the same quantity, e.g. ``speed`` from GPS, calculation and OBD), units, and sources
(``100: gps``, ``calc``, ``200: obd``…) — and one data row per sample. A repeated name keeps its first
occurrence (the GPS one in RaceChrono's column order); the others are kept as ``<name> (<source>)``.

Clock: ``elapsed_time`` (s, session elapsed) gives ``t_s``, ``timestamp`` (Unix s) gives ``utc``.
``lap_number`` counts laps; RaceChrono writes an interpolated row exactly where a lap starts, so the
logger's own lap boundaries (:attr:`~pitwall.formats.vbo.VboRecording.lap_marks_s`) are the ``t_s`` of the
first row of each new lap number. ``lateral_acc`` is positive to the left and ``longitudinal_acc`` positive
forward, as Pitwall's (checked against the GPS path of the sample files).
"""

from __future__ import annotations

import io
from pathlib import Path
from typing import Final

import polars as pl

from pitwall.formats.columns import Channel, assemble
from pitwall.formats.errors import ReadError
from pitwall.formats.vbo import VboRecording

SIGNATURE: Final = b"RaceChrono"
"""RaceChrono names itself on the first line of its CSV exports."""

_BOOKKEEPING: Final = frozenset(
    {"timestamp", "fragment_id", "lap_number", "elapsed_time", "distance_traveled"}
)
"""Columns that are the clock, the lap counter or RaceChrono's own distance, not channels."""


def looks_like_racechrono(head: bytes) -> bool:
    """Does a file starting with ``head`` look like a RaceChrono CSV export?"""
    first = head.split(b"\n", 1)[0]
    return SIGNATURE in first and b"Format,3" in head[:4096]


def parse_racechrono(data: bytes, *, name: str = "<bytes>") -> VboRecording:
    """Parse a RaceChrono CSV v3 export (see the module doc). Raises :class:`ReadError` naming the file and
    line for anything that is not one."""
    path = Path(name)
    text = data.decode("utf-8-sig", errors="replace")
    lines = text.splitlines()
    try:
        blank = lines.index("")
    except ValueError:
        raise ReadError(path, "no blank line after the RaceChrono preamble") from None
    preamble = dict(_key_value(line) for line in lines[:blank] if "," in line)
    if preamble.get("Format") != "3":
        raise ReadError(
            path, f"RaceChrono CSV format {preamble.get('Format')!r}: only v3 is supported", line=2
        )
    if len(lines) < blank + 5:
        raise ReadError(path, "no data rows after the three header rows", line=blank + 2)
    names, units, sources = (lines[blank + k].split(",") for k in (1, 2, 3))
    for row, cells in ((blank + 3, units), (blank + 4, sources)):  # 1-based lines of the unit and source rows
        if len(cells) != len(names):
            reason = f"header row has {len(cells)} cells, the channel-name row {len(names)}"
            raise ReadError(path, reason, line=row)
    labels = _labels(names, sources)
    first_data_line = blank + 5
    try:
        raw = pl.read_csv(
            io.StringIO("\n".join(lines[blank + 4 :])),
            has_header=False,
            new_columns=labels,
            schema_overrides=dict.fromkeys(labels, pl.Float64),
        )
    except (pl.exceptions.ComputeError, pl.exceptions.ShapeError) as exc:
        raise ReadError(path, f"unreadable data row: {exc}", line=first_data_line) from None
    for needed in ("elapsed_time", "timestamp", "latitude", "longitude"):
        if needed not in raw.columns:
            raise ReadError(path, f"no {needed} column", line=blank + 2)
    raw = raw.filter(pl.col("elapsed_time").is_not_null()).sort("elapsed_time", maintain_order=True)
    t0 = raw["elapsed_time"][0]
    frame = raw.with_columns(
        (pl.col("elapsed_time") - t0).alias("t_s"),
        (pl.col("timestamp") * 1_000_000).cast(pl.Int64).cast(pl.Datetime("us", "UTC")).alias("utc"),
        pl.col("latitude").alias("lat_deg"),
        pl.col("longitude").alias("lon_deg"),
    )
    channels = [
        Channel(column=label, name=label, unit=unit.strip(), description=source.strip())
        for label, unit, source in zip(labels, units, sources, strict=True)
        if label not in _BOOKKEEPING and label not in ("latitude", "longitude")
    ]
    return assemble(
        path,
        frame,
        channels,
        source_format="racechrono",
        created_at=frame["utc"][0] if frame["utc"].null_count() < frame.height else None,
        session_data={
            "device": lines[0].split("(")[0].replace("This file is created using", "").strip(),
            "track": preamble.get("Track name", ""),
            "session": preamble.get("Session title", ""),
            "driver": preamble.get("Driver name", ""),
        },
        lap_marks_s=_lap_marks(frame) if "lap_number" in frame.columns else (),
        rows_in_file=raw.height,
        first_data_line=first_data_line,
    )


def _key_value(line: str) -> tuple[str, str]:
    key, _, value = line.partition(",")
    return key.strip(), value.strip().strip('"')


def _labels(names: list[str], sources: list[str]) -> list[str]:
    """Unique column labels: the first occurrence of a name keeps it, repeats become ``name (source)``."""
    seen: set[str] = set()
    labels = []
    for name, source in zip(names, sources, strict=True):
        label = name.strip()
        if label in seen:
            label = f"{label} ({source.strip() or 'calc'})"
            k = 2
            while label in seen:
                label, k = f"{name.strip()} ({source.strip()} {k})", k + 1
        seen.add(label)
        labels.append(label)
    return labels


def _lap_marks(frame: pl.DataFrame) -> list[float]:
    """``t_s`` of the first row of every lap number after the first one logged (the lap starts)."""
    lap = pl.col("lap_number")
    starts = frame.filter(lap.is_not_null() & (lap != lap.forward_fill().shift(1)).fill_null(False))
    return [float(t) for t in starts["t_s"]]
