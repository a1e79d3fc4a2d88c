"""Which logger wrote a file — decided by its content, never its extension — and the one entry point that
parses any supported file into the canonical recording (:class:`~pitwall.formats.vbo.VboRecording`).

Supported: Racelogic VBO (space, comma and quoted variants, DriftBox, RaceBox…), RaceChrono CSV v3,
RaceCapture ``.log``, GPX 1.0/1.1 tracks with time. Anything else is refused with ``unsupported format (looks like …)`` naming the file.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path
from typing import Final

from pitwall.formats.errors import ReadError
from pitwall.formats.gpx import looks_like_gpx, parse_gpx
from pitwall.formats.racecapture import looks_like_racecapture, parse_racecapture
from pitwall.formats.racechrono import looks_like_racechrono, parse_racechrono
from pitwall.formats.vbo import VboRecording, parse_vbo

HEAD_BYTES: Final = 64 * 1024
"""How much of a file detection looks at."""

_VBO_SECTION: Final = re.compile(rb"^\s*\[(header|data|column names)\]\s*$", re.MULTILINE | re.IGNORECASE)

Parser = Callable[..., VboRecording]

FORMATS: Final[tuple[tuple[str, Callable[[bytes], bool], Parser], ...]] = (
    ("racechrono", looks_like_racechrono, parse_racechrono),
    ("racecapture", looks_like_racecapture, parse_racecapture),
    ("gpx", looks_like_gpx, parse_gpx),
    ("vbo", lambda head: _VBO_SECTION.search(head) is not None, parse_vbo),
)
"""(name, detector on the first :data:`HEAD_BYTES`, parser) in the order they are tried."""


def detect_format(head: bytes) -> str | None:
    """The supported format a file starting with ``head`` is in, else ``None``."""
    for name, looks, _ in FORMATS:
        if looks(head):
            return name
    return None


def describe(head: bytes) -> str:
    """What an unsupported file looks like, for the error message."""
    stripped = head.lstrip()
    if not stripped:
        return "an empty file"
    if head.startswith(b"PK\x03\x04"):
        return "a zip archive (e.g. a RaceChrono .rcz or an AiM .xrz: export CSV v3 from the app instead)"
    if b"\x00" in head[:4096]:
        return "binary data (e.g. an AiM .xrk or a native logger file)"
    if stripped[:1] in (b"{", b"["):
        return "JSON"
    if stripped.startswith(b"<"):
        return "XML (not GPX)"
    first = stripped.split(b"\n", 1)[0][:80].decode("utf-8", errors="replace").strip()
    kind = "a CSV file of unknown layout" if b"," in stripped[:4096] else "a text file"
    return f"{kind} starting {first!r}"


def read_recording(data: bytes, *, name: str = "<bytes>") -> VboRecording:
    """Parse a file of any supported format (see the module doc). Raises :class:`ReadError`:
    ``unsupported format (looks like …)`` when no reader recognises the content, else the reader's own
    error naming the file and line."""
    head = data[:HEAD_BYTES]
    for _, looks, parse in FORMATS:
        if looks(head):
            return parse(data, name=name)
    raise ReadError(Path(name), f"unsupported format (looks like {describe(head)})")
