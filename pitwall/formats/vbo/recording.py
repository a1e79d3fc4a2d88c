"""Public result: the parsed recording — part of :mod:`pitwall.formats.vbo`."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

import polars as pl

from pitwall.schema import TallSink, tall_rows
from pitwall.track import Gate


@dataclass
class VboVideo:
    """The ``[avi]`` section: video files are ``<base_name><avifileindex:04d>.<extension>``."""

    base_name: str
    extensions: list[str]

    def file_name(self, index: int, extension: int = 0) -> str:
        """The video file holding samples with ``video_file_idx == index`` (``extension``-th camera)."""
        suffix = f".{self.extensions[extension]}" if self.extensions else ""
        return f"{self.base_name}{index:04d}{suffix}"


@dataclass
class VboRecording:
    """One parsed logger file — the canonical recording every reader produces (VBO and the formats of
    :func:`pitwall.formats.detect.read_recording`).

    ``telemetry`` has exactly the :data:`pitwall.schema.TELEMETRY` columns (``session_id``, ``s_m`` and
    ``lap`` null). ``sink`` is the tall sink (``signal_name``, ``t_s`` s, ``value`` in the unit given by
    ``registry``) as it is kept (:data:`pitwall.schema.TallSink`: the readers keep channels, a clock repair tall
    rows); :attr:`signals` gives its rows. ``rows_in_file`` counts the non-blank lines of ``[data]``; the
    telemetry keeps ``rows_in_file - rows_dropped_prefix - rows_dropped_duplicate - truncated_last_line`` rows.
    """

    path: Path
    telemetry: pl.DataFrame
    sink: TallSink
    registry: pl.DataFrame
    gates: list[Gate]
    sections: dict[str, list[str]]
    session_data: dict[str, str]
    comments: dict[str, str]
    created_at: datetime | None
    log_rate_hz: float | None
    video: VboVideo | None
    rows_in_file: int
    rows_dropped_prefix: int
    rows_dropped_duplicate: int
    truncated_last_line: bool
    first_data_line: int = 0  # 1-based line of the first row of [data]
    source_format: str = "vbo"  # the reader that produced it: vbo | racechrono | racecapture | gpx
    lap_marks_s: list[float] = field(default_factory=list)  # the logger's own lap boundaries, s (t_s)

    @property
    def signals(self) -> pl.DataFrame:
        """The tall sink's rows (:data:`pitwall.schema.SIGNALS_SCHEMA`), built from its channels at each call
        when it keeps channels (the importer works on :attr:`sink` instead)."""
        return tall_rows(self.sink)

    def line_of_row(self, row: int) -> int | None:
        """The 1-based file line of ``telemetry`` row ``row`` (``None`` when duplicate rows were dropped and
        the mapping is not exact)."""
        if self.rows_dropped_duplicate or not self.first_data_line:
            return None
        return self.first_data_line + self.rows_dropped_prefix + row
