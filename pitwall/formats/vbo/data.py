"""[data] (large: Polars CSV reader on the byte slice) — part of :mod:`pitwall.formats.vbo`."""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import NoReturn

import polars as pl

from pitwall.formats.errors import ReadError
from pitwall.formats.vbo.table import _BLANK_LINES_RE, _COMMA_PADDING_RE, _LINE_EDGES_RE, _SPACE_RUNS_RE, _US


@dataclass
class _DataBlock:
    """The ``[data]`` rows: ``raw[start:end]`` of the file, ``first_line`` the 1-based line of ``start``.

    Fast path: one Polars CSV read of the byte slice with every column Float64. Only when that fails or
    leaves holes (a missing cell, padding, blank lines) is the slice normalised and read again; only when
    that fails too are the lines walked in Python to name the first bad line and column.
    """

    raw: bytes
    start: int
    end: int
    first_line: int
    sep: bytes
    first_line_fields: int
    truncated: bool = False
    rows_in_file: int = 0
    """Non-blank lines of ``[data]``, a truncated last line included (set by :meth:`read`)."""

    @classmethod
    def locate(cls, raw: bytes, start: int, first_line: int, path: Path) -> _DataBlock:
        end = len(raw)
        while end > start and raw[end - 1] in b" \t\r\n":
            end -= 1
        if end == start:
            raise ReadError(path, "[data] section has no rows", line=first_line)
        first = _first_row(raw, start, end)
        if first is None:  # blank but for whitespace ``end`` keeps (form feed, vertical tab)
            raise ReadError(path, "[data] section has no rows", line=first_line)
        sep = b"," if b"," in first else b" "
        return cls(raw, start, end, first_line, sep, len(_cells(first, sep)))

    def read(self, names: list[str], time_idx: int, path: Path) -> pl.DataFrame:
        """Every complete row, every column Float64, plus ``__tod`` (Int64, last): the time of day in µs from
        :func:`_time_of_day_us`, computed while the rows are parsed."""
        end = self.end
        cut = self.raw.rfind(b"\n", self.start, end)
        last = self.raw[max(cut + 1, self.start) : end].strip()
        previous = (
            self.raw[max(self.raw.rfind(b"\n", self.start, cut) + 1, self.start) : cut].strip()
            if cut >= 0
            else None
        )
        ends_without_newline = b"\n" not in self.raw[end:]
        if _is_truncated(last, previous, len(names), time_idx, self.sep, ends_without_newline):
            self.truncated = True
            end = max(cut, self.start)
            while end > self.start and self.raw[end - 1] in b" \t\r\n":
                end -= 1
            if end == self.start:
                raise ReadError(path, "[data] section has no complete rows", line=self.first_line)
        # Rows running to the end of the file are read in place (no copy of the bytes); the comma variant
        # needs the slice to count its separators.
        in_place = self.sep == b" " and self.raw[end:] in (b"", b"\n", b"\r\n")
        frame = self._read_csv(self.raw, names, time_idx, self.first_line - 1) if in_place else None
        if frame is None:
            body = self.raw[self.start : end]
            frame = None if in_place else self._read_csv(body, names, time_idx)
            if frame is None:
                frame = self._read_csv(_normalise(body, self.sep), names, time_idx)
        if frame is None:
            self._diagnose(names, time_idx, path, "rows do not match the columns")
        if "__tod" in names:  # a channel of that name: replaced, as the rows are complete
            frame = frame.with_columns(_time_of_day_us(names[time_idx]).alias("__tod"))
        if frame.get_column("__tod").null_count():
            self._diagnose(names, time_idx, path, "invalid time of day")
        self.rows_in_file = frame.height + self.truncated
        return frame

    def _read_csv(
        self, body: bytes, names: list[str], time_idx: int, skip_lines: int = 0
    ) -> pl.DataFrame | None:
        """Parse ``body`` after its first ``skip_lines`` lines (split at ``\\n`` only, quotes ignored), with
        ``__tod`` computed in the same parallel pass; ``None`` when Polars rejects it or a row has the wrong
        number of cells."""
        rows = pl.scan_csv(
            body,
            skip_lines=skip_lines,
            separator=self.sep.decode(),
            has_header=False,
            schema=dict.fromkeys(names, pl.Float64()),
            encoding="utf8-lossy",
            quote_char='"',
        )
        if "__tod" not in names:
            rows = rows.with_columns(_time_of_day_us(names[time_idx]).alias("__tod"))
        try:
            frame = rows.collect(engine="streaming")
        except pl.exceptions.PolarsError:
            return None
        if self.sep == b" ":  # a space-separated cell is never empty: a null is a short row or blank line
            complete = sum(frame.null_count().row(0)[: len(names)]) == 0  # ``__tod`` is last
        else:  # empty cells are missing values: count separators instead
            complete = (
                body.count(b",") == frame.height * (len(names) - 1) and body.count(b"\n") + 1 == frame.height
            )
        return frame if complete else None

    def _diagnose(self, names: list[str], time_idx: int, path: Path, cause: str) -> NoReturn:
        """Walk the lines (error path only) and raise for the first bad one, with its exact line number."""
        rows = [
            (self.first_line + i, line.strip())
            for i, line in enumerate(self.raw[self.start : self.end].split(b"\n"))
            if line.strip()
        ]
        if self.truncated:
            rows = rows[:-1]
        for number, line in rows:
            cells = _cells(line, self.sep)
            if len(cells) != len(names):
                raise ReadError(
                    path, f"row has {len(cells)} fields but there are {len(names)} columns", line=number
                )
            for i, (name, cell) in enumerate(zip(names, cells, strict=True)):
                if not _valid_cell(cell, is_time=i == time_idx, sep=self.sep):
                    what = "time of day (HHMMSS.SS)" if i == time_idx else "number"
                    shown = cell.decode("latin-1")[:24]
                    raise ReadError(path, f"column {name!r}: {shown!r} is not a valid {what}", line=number)
        raise ReadError(path, f"cannot parse [data]: {cause}", line=self.first_line)


def _line_end(raw: bytes, pos: int, end: int) -> int:
    found = raw.find(b"\n", pos, end)
    return end if found < 0 else found


def _first_row(raw: bytes, start: int, end: int) -> bytes | None:
    """The first non-blank line of ``raw[start:end]`` (split at ``\\n``), stripped; ``None`` when there is
    none. Reads no further than that line."""
    pos = start
    while pos <= end:
        stop = _line_end(raw, pos, end)
        if line := raw[pos:stop].strip():
            return line
        pos = stop + 1
    return None


def _normalise(data: bytes, sep: bytes) -> bytes:
    """Single separators, no padding around cells, no blank lines."""
    data = _COMMA_PADDING_RE.sub(b",", data) if sep == b"," else _SPACE_RUNS_RE.sub(b" ", data)
    return _BLANK_LINES_RE.sub(b"", _LINE_EDGES_RE.sub(b"", data))


def _cells(line: bytes, sep: bytes) -> list[bytes]:
    if sep == b" ":
        return line.split()
    return [cell.strip().strip(b'"') for cell in line.split(b",")]


def _valid_cell(cell: bytes, *, is_time: bool, sep: bytes) -> bool:
    """A number Polars would parse (a time of day in range for ``time``); empty only in the comma variant."""
    if not cell:
        return sep == b"," and not is_time
    if b"_" in cell:
        return False
    try:
        value = float(cell)
    except ValueError:
        return False
    return _valid_time_of_day(value) if is_time else True


def _valid_time_of_day(value: float) -> bool:
    whole = math.floor(value) if math.isfinite(value) else -1
    return 0 <= whole < 240_000 and whole // 100 % 100 < 60 and whole % 100 < 60


def _is_truncated(
    last: bytes, previous: bytes | None, n_columns: int, time_idx: int, sep: bytes, ends_without_newline: bool
) -> bool:
    """Is the last ``[data]`` line cut short (see module docstring)?"""
    cells = _cells(last, sep)
    if len(cells) != n_columns:
        return len(cells) < n_columns
    if not all(_valid_cell(cell, is_time=i == time_idx, sep=sep) for i, cell in enumerate(cells)):
        return True
    if ends_without_newline and previous is not None:
        above = _cells(previous, sep)
        return len(above) == n_columns and len(cells[-1]) < len(above[-1])
    return False


def _time_of_day_us(column: str) -> pl.Expr:
    """Microseconds since midnight (UTC) of a ``HHMMSS.SS`` column; null where it is not a valid time of day
    (HH < 24, MM < 60, SS < 60, non-negative, finite).

    The digits before the decimal point are HHMMSS and the fraction is sub-seconds: the integer part of the
    parsed number is exactly those digits, and the fraction is exact to the microsecond (< 2^53, ≤ 9
    decimals), so splitting the number at the decimal point equals splitting the text there. The arithmetic
    stays in Float64, where every intermediate is an integer below 2^53 and therefore exact (and cheaper than
    Int64 division and modulo): ``HH*3600 + MM*60 + SS = HHMMSS - 40*(HHMMSS // 100) - 2400*(HHMMSS // 10_000)``
    and ``MMSS = HHMMSS - 10_000*HH``, ``SS = HHMMSS - 100*(HHMMSS // 100)``.
    """
    value = pl.col(column)
    whole = value.floor()
    hhmm, hh = (whole / 100.0).floor(), (whole / 10_000.0).floor()  # exact: integers below 2^53
    valid = (value >= 0) & (value < 240_000) & (whole - 10_000.0 * hh < 6_000) & (whole - 100.0 * hhmm < 60)
    seconds = whole - 40.0 * hhmm - 2400.0 * hh
    return pl.when(valid).then(seconds * _US + ((value - whole) * _US).round()).cast(pl.Int64)
