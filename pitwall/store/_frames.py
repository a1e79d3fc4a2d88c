"""Frame conversions shared by both backends: canonical dtypes on the way in and out, time, re-batching."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from datetime import UTC, datetime, timedelta

import polars as pl

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def utc(moment: datetime) -> datetime:
    """``moment`` as an aware UTC datetime; a naive datetime is taken to be UTC already."""
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def utc_micros(moment: datetime) -> int:
    """Microseconds since the Unix epoch (how SQLite stores timestamps); exact, no float rounding."""
    return (utc(moment) - _EPOCH) // timedelta(microseconds=1)


def prepare(df: pl.DataFrame, columns: Mapping[str, pl.DataType], *, complete: bool = True) -> pl.DataFrame:
    """``df`` conformed to ``columns`` (missing → null, or left out when not ``complete``; extra dropped;
    strict casts), floats normalised.

    SQLite cannot store NaN (it reads back as NULL) nor keep the sign of -0.0 (it reads back as 0.0), so
    floats get NaN → null and -0.0 → 0.0 before either backend stores them: both keep identical values.
    Raises polars' ``InvalidOperationError`` when a value does not cast (e.g. text in a float column).
    One ``select`` (this runs on every store write, live appends included).
    """
    return df.select(
        [_prepared(df, name, dtype) for name, dtype in columns.items() if complete or name in df.columns]
    )


def _prepared(df: pl.DataFrame, name: str, dtype: pl.DataType) -> pl.Expr:
    if name not in df.columns:
        return pl.lit(None, dtype).alias(name)
    col = pl.col(name).cast(dtype)
    if dtype.is_float():
        col = pl.when(col == 0).then(pl.lit(0.0)).otherwise(col.fill_nan(None))
    return col.alias(name)


def to_canonical(df: pl.DataFrame, columns: Mapping[str, pl.DataType]) -> pl.DataFrame:
    """Select ``columns`` from a backend result and cast them to their canonical dtypes.

    Timestamps arrive as int64 microseconds (SQLite) or tz-aware datetimes in the database's zone (DuckDB)
    and leave as ``Datetime("us", "UTC")``; 0/1 integers become booleans.
    """
    return df.select([_canonical(name, df.schema[name], dtype) for name, dtype in columns.items()])


def _canonical(name: str, source: pl.DataType, target: pl.DataType) -> pl.Expr:
    col = pl.col(name)
    if isinstance(target, pl.Datetime) and target.time_zone is not None:
        if isinstance(source, pl.Datetime):
            if source.time_zone is None:
                col = col.dt.replace_time_zone(target.time_zone)
            else:
                col = col.dt.convert_time_zone(target.time_zone)
        else:
            col = col.cast(pl.Datetime(target.time_unit)).dt.replace_time_zone(target.time_zone)
    return col.cast(target).alias(name)


def rebatch(frames: Iterable[pl.DataFrame], rows: int) -> Iterator[pl.DataFrame]:
    """Re-cut a stream of frames into frames of exactly ``rows`` rows (the last one may be shorter).

    Backends chunk results differently; equal batch boundaries make equal parquet row groups. Holds at most
    one output batch plus one input frame.
    """
    pending: list[pl.DataFrame] = []
    held = 0
    for frame in frames:
        if frame.height == 0:
            continue
        pending.append(frame)
        held += frame.height
        while held >= rows:
            merged = pl.concat(pending)
            yield merged.head(rows)
            rest = merged.slice(rows)
            pending, held = [rest], rest.height
    if held:
        yield pl.concat(pending)
