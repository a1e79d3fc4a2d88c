"""Wire compatibility with the original Pitwall clients (the PWA and the CAN ingest pipeline).

Their key names and units are declared in ONE data file, ``data/compat/frame_aliases.yaml`` (original key →
canonical column or tall signal, ``canonical = original × scale + offset``). This module reads it and applies
it; nothing here knows a key name. Pure: no I/O beyond reading that table, no state.

* :func:`split_frames` — incoming wide frames with original or canonical keys → canonical wide frames plus
  tall samples (declared signals and any other numeric key) and the keys that were not stored;
* :func:`rebase_epoch` — frames clocked in Unix epoch seconds → session seconds (``t_s``) plus ``utc``;
* :func:`video_frames` — the original ``/video_frames`` body → the canonical video-frame columns;
* :func:`stream_exprs` — the original keys the telemetry stream sends beside the canonical ones.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import cache
from pathlib import Path
from typing import Any, Final

import polars as pl
import yaml

from pitwall import DATA_DIR, schema

ALIASES_PATH: Final = DATA_DIR / "compat" / "frame_aliases.yaml"
EPOCH_MIN_S: Final = 946_684_800.0
"""A frame time at or after 2000-01-01 (s) is taken as Unix epoch seconds, not session seconds."""
EPOCH_MAX_S: Final = 4_102_444_800.0
"""Frame times beyond 2100-01-01 (s) are refused (neither session nor plausible epoch seconds)."""
MAX_SIGNAL_NAME: Final = 128
"""Longest key stored as a tall signal name (longer keys are not stored)."""

Value = float | int | str | None
"""A cell of an incoming frame as decoded from JSON."""


class AliasError(ValueError):
    """A frame value that cannot be converted (a non-number for a numeric channel): HTTP 400."""


@dataclass(frozen=True)
class Alias:
    """One original key: stored in ``column`` (wide) or as tall ``signal``, or not stored (``ignore``: why).
    ``unit`` is the original's unit; the canonical value is ``value × scale + offset``."""

    key: str
    column: str | None = None
    signal: str | None = None
    ignore: str | None = None
    unit: str = ""
    scale: float = 1.0
    offset: float = 0.0

    def convert(self, value: float | int) -> float | int:
        """The canonical value (an ``int`` stays an ``int`` when the conversion is the identity)."""
        if self.scale == 1.0 and self.offset == 0.0:
            return value
        return value * self.scale + self.offset


@dataclass(frozen=True)
class AliasTable:
    """The parsed alias file: ``frame`` and ``video_frame`` aliases by original key, and the telemetry
    stream's original keys (key → canonical column, or ``("hypot", a, b)`` for a derived magnitude)."""

    frame: Mapping[str, Alias]
    video_frame: Mapping[str, Alias]
    stream: Mapping[str, str | tuple[str, str, str]]


def load_aliases(path: Path) -> AliasTable:
    """Read and check an alias file (``ValueError`` naming the entry when a column is not canonical)."""
    raw = yaml.safe_load(path.read_text())

    def section(name: str, columns: Mapping[str, Any]) -> dict[str, Alias]:
        out = {}
        for key, spec in (raw.get(name) or {}).items():
            alias = Alias(key=str(key), **spec)
            if sum(x is not None for x in (alias.column, alias.signal, alias.ignore)) != 1:
                raise ValueError(f"{path}: {name}.{key} needs exactly one of column, signal, ignore")
            if alias.column is not None and alias.column not in columns:
                raise ValueError(f"{path}: {name}.{key}: {alias.column!r} is not a canonical column")
            out[str(key)] = alias
        return out

    stream: dict[str, str | tuple[str, str, str]] = {}
    for key, spec in (raw.get("stream") or {}).items():
        if isinstance(spec, dict) and list(spec) == ["hypot"]:
            a, b = spec["hypot"]
            stream[str(key)] = ("hypot", str(a), str(b))
        elif isinstance(spec, str) and spec in schema.TELEMETRY:
            stream[str(key)] = spec
        else:
            raise ValueError(f"{path}: stream.{key}: expected a canonical column or {{hypot: [a, b]}}")
    return AliasTable(
        frame=section("frame", schema.TELEMETRY),
        video_frame=section("video_frame", schema.VIDEO_FRAMES),
        stream=stream,
    )


@cache
def default_aliases() -> AliasTable:
    """The bundled table (:data:`ALIASES_PATH`), read once."""
    return load_aliases(ALIASES_PATH)


def _number(value: Value) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


@dataclass(frozen=True)
class SplitFrames:
    """Incoming frames sorted out: ``wide`` frames with canonical keys only (same order and length as the
    input), ``tall`` samples ``(signal_name, frame index, value)`` and the keys not stored (``ignored``,
    sorted: declared ``ignore`` keys and non-numeric values of keys without a canonical column)."""

    wide: list[dict[str, Value]]
    tall: list[tuple[str, int, float]] = field(default_factory=list)
    ignored: list[str] = field(default_factory=list)


def split_frames(
    frames: Sequence[Mapping[str, Value]], canonical: Mapping[str, Any], table: AliasTable
) -> SplitFrames:
    """Map incoming frames onto ``canonical`` columns (the columns a client may send) through ``table.frame``.

    A canonical key is kept as sent and wins over an alias of the same column in the same frame; an alias
    is converted (its value must be a number or null: :class:`AliasError`); any other key with a finite
    numeric value becomes a tall sample under its own name (but a server-assigned column such as
    ``frame_idx``, which is ignored). Values are not otherwise validated here.
    """
    wide: list[dict[str, Value]] = []
    tall: list[tuple[str, int, float]] = []
    ignored: set[str] = set()
    for i, frame in enumerate(frames):
        row: dict[str, Value] = {key: value for key, value in frame.items() if key in canonical}
        for key, value in frame.items():
            if key in canonical:
                continue
            alias = table.frame.get(key)
            if alias is not None and alias.ignore is not None:
                ignored.add(key)
            elif value is None:
                continue
            elif alias is not None and alias.column is not None:
                if not _number(value):
                    raise AliasError(f"frame {i}: {key} ({alias.column}) expects a number, got {value!r}")
                row.setdefault(alias.column, alias.convert(value))  # type: ignore[arg-type]
            elif _number(value) and 0 < len(key) <= MAX_SIGNAL_NAME and key not in schema.TELEMETRY:
                sink = alias if alias is not None and alias.signal is not None else Alias(key=key, signal=key)
                tall.append((str(sink.signal), i, float(sink.convert(value))))  # type: ignore[arg-type]
            else:
                ignored.add(key)
        wide.append(row)
    return SplitFrames(wide=wide, tall=tall, ignored=sorted(ignored))


def first_epoch_s(t_s: pl.Series) -> float | None:
    """The earliest frame time that is Unix epoch seconds (≥ :data:`EPOCH_MIN_S`), or ``None``."""
    epoch = t_s.filter(t_s >= EPOCH_MIN_S)
    return None if epoch.is_empty() else float(epoch.min())  # type: ignore[arg-type]


def rebase_epoch(wide: pl.DataFrame, started_at: datetime) -> pl.DataFrame:
    """Frames whose ``t_s`` is Unix epoch seconds get ``t_s`` = seconds since ``started_at`` and, where
    ``utc`` is null, ``utc`` = that instant. Other rows are unchanged. Needs ``t_s``; adds ``utc``."""
    start_s = started_at.astimezone(UTC).timestamp()
    epoch = pl.col("t_s") >= EPOCH_MIN_S
    utc_from_t = (pl.col("t_s") * 1e6).round().cast(pl.Int64).cast(pl.Datetime("us", "UTC"))
    utc = pl.col("utc") if "utc" in wide.columns else pl.lit(None, dtype=pl.Datetime("us", "UTC"))
    return wide.with_columns(
        pl.when(epoch & utc.is_null()).then(utc_from_t).otherwise(utc).alias("utc"),
        pl.when(epoch).then(pl.col("t_s") - start_s).otherwise(pl.col("t_s")).alias("t_s"),
    )


def video_frames(frames: Sequence[Mapping[str, Value]], table: AliasTable) -> pl.DataFrame:
    """Video-frame rows (``t_s``, ``video_file``, ``video_t_ms``, ``frame_no``) from objects with canonical
    or original (``table.video_frame``) keys; the first key of a column present in a frame wins.
    :class:`AliasError` for an unknown key, a missing ``t_s``/``video_file``/``video_t_ms`` or a wrong type."""
    names = ("t_s", "video_file", "video_t_ms", "frame_no")
    rows: list[dict[str, Any]] = []
    for i, frame in enumerate(frames):
        row: dict[str, Any] = {}
        for key, value in frame.items():
            alias = table.video_frame.get(key, Alias(key=key, column=key) if key in names else None)
            if alias is None:
                raise AliasError(
                    f"frame {i}: unknown key {key!r}; allowed: {sorted({*names, *table.video_frame})}"
                )
            if alias.column is None or value is None or alias.column in row:
                continue
            dtype = schema.VIDEO_FRAMES[alias.column]
            if dtype == pl.String:
                if not isinstance(value, str) or not value:
                    raise AliasError(f"frame {i}: {key} expects a non-empty string, got {value!r}")
                row[alias.column] = value
            elif not _number(value):
                raise AliasError(f"frame {i}: {key} expects a number, got {value!r}")
            else:
                converted = alias.convert(value)  # type: ignore[arg-type]
                row[alias.column] = round(converted) if dtype == pl.Int64 else float(converted)
        missing = [name for name in names[:3] if name not in row]
        if missing:
            raise AliasError(f"frame {i}: missing {missing}")
        rows.append(row)
    if not rows:
        raise AliasError("no frames")
    return pl.DataFrame(rows, schema={name: schema.VIDEO_FRAMES[name] for name in names})


def stream_exprs(table: AliasTable) -> list[pl.Expr]:
    """Expressions adding the original keys of ``table.stream`` to canonical telemetry rows, each converted
    back to the original's unit (the inverse of the ``frame`` alias of that column; identity without one)."""
    inverse = {a.column: a for a in table.frame.values() if a.column is not None}
    exprs = []
    for key, source in table.stream.items():
        if isinstance(source, tuple):
            _, a, b = source
            exprs.append((pl.col(a).pow(2) + pl.col(b).pow(2)).sqrt().alias(key))
            continue
        alias = inverse.get(source)
        expr = pl.col(source)
        if alias is not None and (alias.scale != 1.0 or alias.offset != 0.0):
            expr = (expr - alias.offset) / alias.scale
        exprs.append(expr.alias(key))
    return exprs
