"""Builders for hand-made VBO files (each trap of the format in a few lines) used by the VBO tests."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from pitwall import DATA_DIR

SAMPLES = DATA_DIR / "samples"
RUN01 = SAMPLES / "25IR05_RdAm_FP1_Run01_KO.vbo"
RUN04 = SAMPLES / "25IR05_RdAm_FP1_Run04_KO.vbo"
RUN05 = SAMPLES / "25IR05_RdAm_FP1_Run05_TL.vbo"
RACEBOX = SAMPLES / "racebox-sample.vbo"
VBOX2 = SAMPLES / "vbox2-user-guide-sample.vbo"

COLUMNS = "sats time lat long velocity heading height"
LAT_MIN = 2627.797836  # Road America, decimal minutes north
LONG_MIN = 5279.38692  # decimal minutes WEST


def fix_row(
    time: str, i: int = 0, *, sats: str = "012", lat: float | None = None, long: float | None = None
) -> str:
    """One Racelogic-style row of ``COLUMNS``: the car moves south by 1e-4 minute (≈ 0.19 m) per ``i``."""
    lat = LAT_MIN - i * 1e-4 if lat is None else lat
    long = LONG_MIN if long is None else long
    return f"{sats} {time} {lat:+.8f} {long:+.8f} 058.406 176.488 +00331.70"


def fix_rows(times: Sequence[str]) -> list[str]:
    return [fix_row(t, i) for i, t in enumerate(times)]


def ticks(start_s: float, n: int, step_s: float = 0.04) -> list[str]:
    """``n`` times of day ``HHMMSS.SS`` from ``start_s`` seconds after midnight, every ``step_s``."""
    out = []
    for k in range(n):
        t = round(start_s + k * step_s, 3) % 86_400
        hh, rest = divmod(t, 3600)
        mm, ss = divmod(rest, 60)
        out.append(f"{int(hh):02d}{int(mm):02d}{ss:06.3f}")
    return out


def vbo_text(
    rows: Sequence[str],
    *,
    columns: str | None = COLUMNS,
    header: Sequence[str] | None = None,
    units: Sequence[str] | None = None,
    sections: str = "",
    created: str = "File created on 01/08/2025 @ 14:43:32",
    newline: str = "\r\n",
) -> str:
    """A VBO file: ``[header]`` (default: the column names), optional ``[channel units]``, extra ``sections``
    (text with ``\\n`` line breaks), ``[column names]`` (omitted when ``columns`` is None) and ``[data]``."""
    header = list(header) if header is not None else (columns or COLUMNS).split()
    parts = [created, "", "[header]", *header, ""]
    if units is not None:
        parts += ["[channel units]", *units, ""]
    if sections:
        parts += [*sections.strip("\n").split("\n"), ""]
    if columns is not None:
        parts += ["[column names]", columns, ""]
    parts += ["[data]", *rows, ""]
    return newline.join(parts)


def vbo_bytes(rows: Sequence[str], *, encoding: str = "utf-8", **options: Any) -> bytes:
    return vbo_text(rows, **options).encode(encoding)
