"""Frame conversions shared by both backends: canonical dtypes on the way in and out, time, re-batching."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from datetime import UTC, datetime, timedelta
from typing import Final

import polars as pl
import pyarrow as pa

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)

EXPORT_MEMORY_POOL: Final = pa.system_memory_pool()
"""Arrow memory of an export's parquet writer (the route's): the C allocator, whose freed blocks the next row
group reuses. With pyarrow's default pool (mimalloc) the export of a 4-h session peaked ~15 MB higher
(``benchmarks/README.md``, session 6)."""


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
    Two passes (this runs on every store write, live appends included): one aggregate finds the float columns
    already normalised (:func:`_clean_floats`, kept without a copy), one ``select`` conforms the rest.
    """
    wanted = {name: dtype for name, dtype in columns.items() if complete or name in df.columns}
    clean = _clean_floats(df, wanted)
    return df.select(
        [pl.col(name) if name in clean else _prepared(df, name, dtype) for name, dtype in wanted.items()]
    )


def _clean_floats(df: pl.DataFrame, columns: Mapping[str, pl.DataType]) -> set[str]:
    """The float ``columns`` of ``df`` that :func:`prepare` would not change — already of their canonical dtype,
    no NaN, no -0.0 (a zero whose reciprocal is negative) — so it keeps them as they are instead of copying them
    (an hour's telemetry and tall rows: ~20 MB). One aggregate pass; only the zeros are copied to look at."""
    floats = [name for name, dtype in columns.items() if dtype.is_float() and df.schema.get(name) == dtype]
    if not floats:
        return set()
    touched = df.select(
        (pl.col(name).is_nan().any() | (1.0 / pl.col(name).filter(pl.col(name) == 0) < 0).any()).alias(name)
        for name in floats
    ).row(0)
    return {name for name, normalised in zip(floats, touched, strict=True) if not normalised}


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


def rebatch(batches: Iterable[pa.RecordBatch | pa.Table], rows: int) -> Iterator[pa.Table]:
    """Re-cut record batches or tables (one schema) into tables of exactly ``rows`` rows (the last one may be
    shorter), made of the input's own chunks: nothing is copied.

    Backends chunk results differently; equal row counts make equal parquet row groups: pyarrow's writer gives
    the same bytes however a row group's rows are chunked (``tests/api/test_exports_api.py`` holds it to that;
    also checked with 400,000-row groups, several data pages per column). Memory is bounded by one output table
    plus the input read since it, however many batches pass: no reference to a table handed out (or to the
    rows it was cut from) is kept while the next input is read.
    """
    pending: list[pa.Table] = []
    held = 0
    for batch in batches:
        if batch.num_rows:
            pending.append(batch if isinstance(batch, pa.Table) else pa.Table.from_batches([batch]))
            held += batch.num_rows
        del batch
        while held >= rows:
            head, pending = _cut(pending, rows)
            held -= rows
            yield head
            del head
    if held:
        yield _joined(pending)


def _joined(tables: list[pa.Table]) -> pa.Table:
    """``tables`` as one table of their chunks side by side (no copy)."""
    return tables[0] if len(tables) == 1 else pa.concat_tables(tables)


def _cut(tables: list[pa.Table], rows: int) -> tuple[pa.Table, list[pa.Table]]:
    """The first ``rows`` rows of ``tables`` (which hold at least that many) and the rest."""
    joined = _joined(tables)
    return joined.slice(0, rows), [joined.slice(rows)] if joined.num_rows > rows else []
