"""Entry points: read and parse a VBO file — part of :mod:`pitwall.formats.vbo`."""

from __future__ import annotations

from pathlib import Path

from pitwall.formats.errors import ReadError
from pitwall.formats.vbo.data import _DataBlock
from pitwall.formats.vbo.gates import _parse_gates
from pitwall.formats.vbo.header import (
    _column_name_tokens,
    _column_units,
    _comment_facts,
    _created_at,
    _decode,
    _log_rate_hz,
    _quantity,
    _reject_binary,
    _resolve_names,
    _session_facts,
    _split_sections,
    _strip_trailing_commas,
    _video,
)
from pitwall.formats.vbo.recording import VboRecording
from pitwall.formats.vbo.table import _DATA_RE
from pitwall.formats.vbo.telemetry import _build_telemetry


def read_vbo(path: str | Path) -> VboRecording:
    """Read a VBO file from disk; see :func:`parse_vbo`."""
    path = Path(path)
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise ReadError(path, f"cannot read file: {exc.strerror or exc}") from exc
    return _parse(data, path)


def parse_vbo(data: bytes, *, name: str = "<bytes>") -> VboRecording:
    """Parse the bytes of a VBO file; ``name`` labels errors and :attr:`VboRecording.path`.

    Raises :class:`~pitwall.formats.errors.ReadError` (file, 1-based line, reason) for anything unreadable.
    """
    return _parse(data, Path(name))


def _parse(raw: bytes, path: Path) -> VboRecording:
    if not raw or raw.isspace():
        raise ReadError(path, "empty file")
    match = _DATA_RE.search(raw)
    if match is None:
        _reject_binary(raw, path)
        raise ReadError(path, "no [data] section")
    head = raw[: match.start()]
    _reject_binary(head, path)
    first_data_line = head.count(b"\n") + 2
    raw = _strip_trailing_commas(raw, match.end())
    sections, line_numbers, preamble = _split_sections(_decode(head))

    header = sections.get("header", [])
    tokens = _column_name_tokens(sections.get("column names"))
    block = _DataBlock.locate(raw, match.end(), first_data_line, path)
    names, long_names = _resolve_names(tokens, header, block.first_line_fields, path, first_data_line)
    units = _column_units(long_names, header, sections.get("channel units", []))
    quantities = [_quantity(name, long_name) for name, long_name in zip(names, long_names, strict=True)]
    if "time" not in quantities:
        raise ReadError(path, "no time column in [column names]/[header]", line=first_data_line)
    frame = block.read(names, quantities.index("time"), path)

    comments = _comment_facts(sections.get("comments", []))
    created_at = _created_at(preamble)
    built = _build_telemetry(frame, names, long_names, quantities, units, created_at)
    if built.telemetry.height == 0:
        reason = f"all {built.dropped_prefix} rows were logged before GPS lock (time 000000.00, position 0,0)"
        raise ReadError(path, reason, line=first_data_line)

    gate_lines = list(zip(line_numbers.get("laptiming", []), sections.get("laptiming", []), strict=True))
    gates = _parse_gates(gate_lines, built.telemetry, built.minutes, comments, path)
    return VboRecording(
        path=path,
        telemetry=built.telemetry,
        sink=built.signals,
        registry=built.registry,
        gates=gates,
        sections=sections,
        session_data=_session_facts(sections.get("session data", [])),
        comments=comments,
        created_at=created_at,
        log_rate_hz=_log_rate_hz(comments, built.telemetry),
        video=_video(sections.get("avi", [])),
        rows_in_file=block.rows_in_file,
        rows_dropped_prefix=built.dropped_prefix,
        rows_dropped_duplicate=built.dropped_duplicate,
        truncated_last_line=block.truncated,
        first_data_line=first_data_line,
    )
