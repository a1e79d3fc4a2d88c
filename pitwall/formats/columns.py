"""Assemble the canonical recording from a column-per-channel table — shared by the CSV-like readers
(RaceChrono, RaceCapture, GPX): each reader parses its own layout, clock and position, then hands the raw
channels here to be mapped through the one alias table (:mod:`pitwall.formats.channels`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Final

import numpy as np
import polars as pl

from pitwall import schema
from pitwall.analysis.geo import cumulative_distance_m
from pitwall.formats.channels import channel_table
from pitwall.formats.errors import ReadError
from pitwall.formats.vbo import VboRecording

_INTEGER: Final = {"sats", "gear", "video_file_idx", "video_t_ms"}


@dataclass(frozen=True)
class Channel:
    """One logged channel of a table: its ``column`` in the frame, the logger's ``name`` and ``unit``, and a
    ``description`` for the signal registry."""

    column: str
    name: str
    unit: str = ""
    description: str = ""


def assemble(
    path: Path,
    frame: pl.DataFrame,
    channels: Sequence[Channel],
    *,
    source_format: str,
    created_at: datetime | None,
    session_data: dict[str, str],
    lap_marks_s: Sequence[float] = (),
    rows_in_file: int,
    first_data_line: int = 0,
) -> VboRecording:
    """The canonical recording of ``frame``.

    ``frame`` needs ``t_s`` (s since the first row, increasing), ``utc`` (UTC datetime or null), ``lat_deg``,
    ``lon_deg`` (WGS84 degrees, east positive, null without a fix) and the ``channels``' columns (Float64).
    A channel whose name the alias table knows (and whose unit it can convert) becomes its canonical column,
    the first one of each quantity winning; every other channel goes to the tall sink, unconverted, with its
    unit in the registry. ``distance_m`` is the cumulative GPS distance. Raises :class:`ReadError` when no
    row is left.
    """
    if frame.height == 0:
        raise ReadError(path, "no data rows")
    table = channel_table()
    wide: dict[str, pl.Expr] = {}
    tall: list[Channel] = []
    for channel in channels:
        quantity = table.quantity(channel.name)
        conversion = table.quantities.get(quantity) if quantity else None
        factor = conversion.factor(channel.unit) if conversion else None
        if conversion is None or factor is None or conversion.column in wide:
            tall.append(channel)
            continue
        expr = pl.col(channel.column) * factor
        if conversion.column == "heading_deg":
            expr = expr % 360.0
        elif conversion.column in _INTEGER:
            expr = expr.round()
        wide[conversion.column] = expr
    lat = frame["lat_deg"].cast(pl.Float64).to_numpy()
    lon = frame["lon_deg"].cast(pl.Float64).to_numpy()
    distance = pl.Series("distance_m", cumulative_distance_m(lat, lon))
    base = frame.with_columns(distance)
    wide |= {
        "frame_idx": pl.int_range(pl.len(), dtype=pl.Int64),
        **{name: pl.col(name) for name in ("t_s", "utc", "lat_deg", "lon_deg", "distance_m")},
    }
    telemetry = base.select(
        (wide[name] if name in wide else pl.lit(None)).cast(dtype, strict=False).alias(name)
        for name, dtype in schema.TELEMETRY.items()
    )
    signals = schema.SignalChannels(
        base["t_s"].cast(pl.Float64),
        base.select(pl.col(c.column).cast(pl.Float64).alias(c.name) for c in tall),
    )
    registry = pl.DataFrame(
        {
            "signal_name": [c.name for c in tall],
            "unit": [c.unit for c in tall],
            "source": [source_format] * len(tall),
            "description": [c.description for c in tall],
        },
        schema=dict.fromkeys(("signal_name", "unit", "source", "description"), pl.String()),
    )
    steps = np.diff(telemetry["t_s"].to_numpy())
    steps = steps[steps > 0]
    return VboRecording(
        path=path,
        telemetry=telemetry,
        sink=signals,
        registry=schema.conform(registry, schema.SIGNAL_REGISTRY),
        gates=[],
        sections={},
        session_data=session_data,
        comments={},
        created_at=created_at,
        log_rate_hz=round(1.0 / float(np.median(steps)), 3) if steps.size else None,
        video=None,
        rows_in_file=rows_in_file,
        rows_dropped_prefix=0,
        rows_dropped_duplicate=0,
        truncated_last_line=False,
        first_data_line=first_data_line,
        source_format=source_format,
        lap_marks_s=list(lap_marks_s),
    )
