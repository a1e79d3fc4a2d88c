"""The channel table and the format's constants — part of :mod:`pitwall.formats.vbo`."""

from __future__ import annotations

import re
from typing import Final

import polars as pl

from pitwall.formats.channels import channel_table
from pitwall.track import GateKind

_CHANNELS: Final = channel_table()
"""The one alias table (``data/channels/aliases.yaml``): channel name → quantity → column and unit factors."""

_HEADER_UNITS: Final = _CHANNELS.units
"""Units recognised as the last word of a ``[header]`` name, e.g. ``velocity kmh``."""

_INTEGER_COLUMNS: Final = {
    "sats": pl.Int32(),
    "gear": pl.Int32(),
    "video_file_idx": pl.Int32(),
    "video_t_ms": pl.Int64(),
}
_SATS_MASK: Final = 0x3F
_US: Final = 1_000_000
_DAY_US: Final = 86_400 * _US
_PREFIX_GAP_US: Final = 10 * _US
"""A row followed by a gap longer than this at the start of the data is an isolated pre-session row."""
_STALE_PREFIX_FRACTION: Final = 0.1
_STALE_PREFIX_MIN_ROWS: Final = 500
_STALE_JUMP_US: Final = 300 * _US
"""A clock jump of more than 5 minutes (either way) within the first
``max(_STALE_PREFIX_MIN_ROWS, _STALE_PREFIX_FRACTION × rows)`` rows ends a stale pre-lock clock (the last
session's time, kept until the receiver locks): the rows before it are dropped (counted in
``rows_dropped_prefix``). Smaller or later jumps are clock faults, repaired on import
(:mod:`pitwall.analysis.clock`)."""
_GATE_HALF_WIDTH_M: Final = 15.0

_TRAILING_COMMA_RE: Final = re.compile(rb",[ \t]*(?=\r?$)", re.MULTILINE)
_DATA_RE: Final = re.compile(rb"^[ \t]*\[data\][ \t]*(?:\r?\n|\Z)", re.IGNORECASE | re.MULTILINE)
_SECTION_RE: Final = re.compile(r"^\s*\[([^\[\]]+)\]\s*$")
_CREATED_RE: Final = re.compile(
    r"File created on\s+(\d{1,2})/(\d{1,2})/(\d{4})\s*(?:@|at)?\s*(\d{1,2}):(\d{2})(?::(\d{2}))?"
    r"(?:\s*([AP])\.?M\.?\b)?",
    re.IGNORECASE,
)
_KEY_VALUE_RE: Final = re.compile(r"^\s*([^:]*[^:\s])\s*:\s+(.*?)\s*$")
_GATE_RE: Final = re.compile(r"^\s*(start|split|finish)\s+(\S+)\s+(\S+)\s+(\S+)\s+(\S+)(.*)$", re.IGNORECASE)
_GATE_KINDS: Final[dict[str, GateKind]] = {"start": "start_finish", "split": "split", "finish": "finish"}
_SPACE_RUNS_RE: Final = re.compile(rb"[ \t]+")
_COMMA_PADDING_RE: Final = re.compile(rb"[ \t]*,[ \t]*")
_LINE_EDGES_RE: Final = re.compile(rb"^[ \t]+|[ \t]+(?=\r?$)", re.MULTILINE)
_BLANK_LINES_RE: Final = re.compile(rb"^[ \t]*\r?\n", re.MULTILINE)
