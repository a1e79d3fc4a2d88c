"""DuckDB backend (default): one ``.duckdb`` file, bulk writes from Arrow, reads on per-call cursors.

DuckDB allows one process per database file; opening a file another process holds raises
:class:`~pitwall.store.base.DatabaseLocked`. Within the process, writes share one connection under the store's
write lock and every read gets its own ``cursor()`` (a connection to the same database), so reads see the last
committed state and never wait for an ingest in progress.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Final

import duckdb
import polars as pl
import pyarrow as pa

from pitwall.schema import SignalChannels, arrow_schema
from pitwall.store._frames import to_canonical
from pitwall.store._sql_store import SqlStore
from pitwall.store._tables import Dialect
from pitwall.store.base import DatabaseLocked

DIALECT: Final = Dialect(
    name="duckdb",
    types={
        pl.String: "VARCHAR",
        pl.Int64: "BIGINT",
        pl.Int32: "INTEGER",
        pl.Float64: "DOUBLE",
        pl.Boolean: "BOOLEAN",
        pl.Datetime: "TIMESTAMPTZ",
    },
    id_column="id BIGINT PRIMARY KEY DEFAULT nextval('{seq}')",
    uses_sequences=True,
    secondary_indexes=False,  # zone maps serve session_id filters; ART indexes only slow bulk inserts
)


ROW_GROUP_ROWS: Final = 122_880
"""Rows in a DuckDB row group (its default size, which the store's files keep)."""

INSERT_SLICE_ROWS: Final = 16_384
"""Rows per ``INSERT`` statement for a frame shorter than a row group (:func:`_insert_slices`); each statement
costs ~2 ms, so an hour's telemetry (72,000 rows) takes ~8 ms longer than in one."""


class _DuckDb:
    """:class:`~pitwall.store._db.Db` over one DuckDB connection or cursor."""

    dialect = DIALECT

    def __init__(self, con: duckdb.DuckDBPyConnection) -> None:
        self._con = con

    def begin(self) -> None:
        self._con.begin()

    def begin_read(self) -> None:
        self._con.begin()

    def commit(self) -> None:
        self._con.commit()

    def rollback(self) -> None:
        self._con.rollback()

    def execute(self, sql: str, params: Sequence[Any] = ()) -> None:
        self._con.execute(sql, list(params))

    def fetch_rows(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        return self._con.execute(sql, list(params)).fetchall()

    def _relation(self, sql: str, params: Sequence[Any]) -> duckdb.DuckDBPyRelation:
        relation = self._con.sql(sql, params=list(params) or None)
        if relation is None:
            raise ValueError(f"not a query: {sql}")
        return relation

    def fetch_frame(
        self, sql: str, params: Sequence[Any], columns: Mapping[str, pl.DataType]
    ) -> pl.DataFrame:
        return to_canonical(self._relation(sql, params).pl(), columns)

    def fetch_arrow(
        self, sql: str, params: Sequence[Any], columns: Mapping[str, pl.DataType], batch_rows: int
    ) -> Iterator[pa.RecordBatch]:
        """DuckDB's Arrow result cast straight to the canonical schema, without a Polars frame between: the
        casts are what :func:`to_canonical` does (the UTC zone on timestamps that are UTC instants already;
        text to large strings), and the Polars round trip kept more memory resident (``benchmarks/README.md``)."""
        target = arrow_schema(dict(columns))
        for batch in self._relation(sql, params).to_arrow_reader(batch_rows):
            yield batch.select(target.names).cast(target)

    def insert_frame(self, table: str, df: pl.DataFrame, constants: Mapping[str, Any] | None = None) -> None:
        """``INSERT … SELECT`` from the frame's Arrow table (no per-row round trips; one statement per
        :func:`_insert_slices` slice), which DuckDB finds by its local name (a replacement scan: no
        register/unregister of a view per insert); ``constants`` are statement parameters (a session id is not
        copied onto every row of the Arrow table). Text goes as Arrow string views, Polars' own layout, which
        DuckDB reads as they are: a ``large_string`` export copies every string first (~10 MB for an hour's
        tall signal names)."""
        given = constants or {}
        names = ", ".join([*df.columns, *given])
        values = ", ".join([*df.columns, *("?" * len(given))])
        for part in _insert_slices(df):
            _pitwall_staging = _arrow_table(part)  # read by name below
            self._con.execute(
                f"INSERT INTO {table} ({names}) SELECT {values} FROM _pitwall_staging",
                list(given.values()) or None,
            )

    def insert_channels(self, table: str, channels: SignalChannels, constants: Mapping[str, Any]) -> None:
        """One ``INSERT … SELECT`` of a ``UNION ALL`` of each channel's samples, the name a statement parameter,
        from the channels' Arrow table (columns ``t_s``, ``c0``, ``c1``…: no copy); DuckDB keeps the order of
        a ``UNION ALL`` in an insert. Tall rows built in Polars took ~18 MB more at the import's peak for an
        hour's 576,000 rows, most of it their names; an ``INSERT`` per channel took more, not less."""
        names = channels.names()
        if not names:
            return
        values = channels.values
        _pitwall_channels = _arrow_table(  # read by name below
            pl.DataFrame(
                [
                    channels.t_s.alias("t_s"),
                    *(values.get_column(n).alias(f"c{i}") for i, n in enumerate(names)),
                ]
            )
        )
        given = ", ".join("?" * len(constants))
        parts = " UNION ALL ".join(
            f"SELECT ?, t_s, c{i}, {given} FROM _pitwall_channels WHERE c{i} IS NOT NULL"
            for i in range(len(names))
        )
        self._con.execute(
            f"INSERT INTO {table} (signal_name, t_s, value, {', '.join(constants)}) {parts}",
            [value for name in names for value in (name, *constants.values())],
        )


def _arrow_table(df: pl.DataFrame) -> pa.Table:
    """``df`` as an Arrow table without a copy: each column's own chunks, in Polars' newest layout (text as
    string views). ``DataFrame.to_arrow`` cuts record batches, so columns chunked differently — an imported
    session's CSV columns come in the reader's chunks, its computed ones in one — were first copied into one
    chunk each; Arrow's reader splits the batches at every column's chunk boundary instead (zero-copy)."""
    level = pl.CompatLevel.newest()
    return pa.table(
        {
            name: pa.chunked_array(
                [chunk.to_arrow(compat_level=level) for chunk in column.get_chunks()],
                type=column.slice(0, 0).to_arrow(compat_level=level).type,
            )
            for name, column in df.to_dict().items()
        }
    )


def _insert_slices(df: pl.DataFrame) -> Iterator[pl.DataFrame]:
    """The pieces :meth:`_DuckDb.insert_frame` inserts ``df`` in, in order (views of its rows, no copy): the
    whole frame when it fills a row group (DuckDB writes each full row group to disk as the insert goes),
    else :data:`INSERT_SLICE_ROWS` rows at a time. DuckDB's parallel insert of fewer rows than a row group
    collects them on their own and then copies them into the transaction, so the rows were in memory twice
    (an hour's telemetry: ~15 MB more at once); a slice at a time, one slice is."""
    if df.height >= ROW_GROUP_ROWS:
        yield df
    else:
        yield from df.iter_slices(INSERT_SLICE_ROWS)


def _connect(path: Path) -> duckdb.DuckDBPyConnection:
    try:
        return duckdb.connect(str(path))
    except duckdb.IOException as err:
        if "lock" in str(err).lower():
            raise DatabaseLocked(
                f"{path} is in use by another process (a running pitwall server?); stop it or use another --db. "
                f"DuckDB said: {err}"
            ) from err
        raise


class DuckDBStore(SqlStore):
    """The :class:`~pitwall.store.base.Store` on a DuckDB file (created and migrated on open)."""

    backend = "duckdb"

    def __init__(self, path: Path) -> None:
        self._con = _connect(path)
        self._cursor_lock = threading.Lock()
        try:
            super().__init__(path, _DuckDb(self._con))
        except BaseException:
            self._con.close()
            raise

    @contextmanager
    def _read(self) -> Iterator[_DuckDb]:
        with self._cursor_lock:  # cursor() registers the child on the parent connection
            cursor = self._con.cursor()
        try:
            yield _DuckDb(cursor)
        finally:
            cursor.close()

    def close(self) -> None:
        self._con.close()
