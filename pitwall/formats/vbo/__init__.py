"""Read Racelogic ``.vbo`` files (VBOX loggers and the exporters that imitate them: Harry's, RaceBox…).

The small header sections are parsed in Python; the ``[data]`` section goes straight to Polars' CSV reader
(one pass over the bytes, never a Python loop over rows) and every unit conversion is a Polars expression.

Decisions (each documented where it is implemented):

* Columns are named by ``[column names]``; without it, or when its token count disagrees with the data,
  by ``[header]``. A ``[column names]`` line with more tokens than ``[header]`` names (a short name holding
  a space, e.g. ``battery vo``) is re-joined against the ``[header]`` names. Duplicate names get ``_2``,
  ``_3``… suffixes (case-insensitive). ``[channel units]`` lines belong to the LAST ``[header]`` names.
* Known channels (the alias table ``data/channels/aliases.yaml``, matched case-insensitively ignoring ``_``, ``-``, ``.`` and spaces)
  become canonical wide columns (:data:`pitwall.schema.TELEMETRY`), converted by unit; a known channel whose
  unit cannot be converted, and every other channel, goes to the tall sink with its unit in the registry.
* Latitude/longitude: decimal minutes when any |lat|, |long| or gate coordinate in the file exceeds 180,
  else signed decimal degrees (so a recording within 3° of both the equator and the prime meridian is
  ambiguous and read as degrees). Minutes are Racelogic's west-positive longitude (negated to east
  positive); signed degrees are taken as standard WGS84 (east positive). ``0, 0`` means "no fix": null.
* ``time`` is ``HHMMSS.SS`` UTC time of day, split at the decimal point; a step back of more than 12 h is a
  midnight rollover. ``utc`` is the file-creation date (the one of the previous, same or next day that puts
  the first sample nearest to ``File created on``, which loggers write in local time) plus the time of day.
* Rows before GPS lock are dropped from the start of the data: a leading run of rows whose time is
  ``000000.00``, whose position is ``0, 0``, or which are followed by a step back in time or a gap of more
  than ``_PREFIX_GAP_US`` (isolated stray rows). After that, of several consecutive rows with the same time
  only the first is kept. Both counts are reported; nothing else is dropped.
* The last line of ``[data]`` is dropped (``truncated_last_line``) when it has fewer fields than the
  columns, a cell that is not a number, or — when the file does not end with a newline — a last cell
  shorter than the one above it (VBOX loggers write fixed-width cells).
* ``[laptiming]`` gates: see :func:`_parse_gates` (Racelogic travel direction is point 2 → point 1, as
  measured on the Road America sample). A gate line whose coordinates are not numbers is an error.
* ``sats`` keeps the low 6 bits (Racelogic sets bit 6 for DGPS and bit 7 for the brake trigger).
* Lateral acceleration is taken as logged: Racelogic's positive-left equals the canonical convention.
"""

from __future__ import annotations

from pitwall.formats.vbo.header import is_canonical_channel
from pitwall.formats.vbo.parse import parse_vbo, read_vbo
from pitwall.formats.vbo.recording import VboRecording, VboVideo
from pitwall.schema import SIGNALS_SCHEMA

__all__ = ["SIGNALS_SCHEMA", "VboRecording", "VboVideo", "is_canonical_channel", "parse_vbo", "read_vbo"]
