"""SQLite backend (stdlib ``sqlite3``) for devices where DuckDB does not build; same behaviour as DuckDB.

Storage: booleans as 0/1 ``INTEGER``, timestamps as ``INTEGER`` microseconds since the Unix epoch (UTC);
reads convert back to canonical dtypes. The file runs in WAL mode, so a pool of read connections reads
committed data while the single writer (one connection, ``check_same_thread=False``, under the store's write
lock) ingests. Each write is one ``BEGIN IMMEDIATE`` transaction; a writer in another process that holds the
file longer than the busy timeout (:data:`BUSY_TIMEOUT_S`) raises :class:`~pitwall.store.base.DatabaseLocked`.
"""

from __future__ import annotations

import queue
import sqlite3
import threading
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import Any, Final

import polars as pl
import pyarrow as pa

from pitwall.schema import SignalChannels, arrow_schema
from pitwall.store._frames import to_canonical, utc_micros
from pitwall.store._sql_store import SqlStore
from pitwall.store._tables import Dialect
from pitwall.store.base import DatabaseLocked

BUSY_TIMEOUT_S: Final = 10.0
"""Default wait for another connection's lock before failing, seconds."""

INSERT_CHUNK_ROWS: Final = 50_000
"""Rows converted to Python values at a time by :meth:`_SQLiteDb.insert_frame` (bounds memory)."""

DIALECT: Final = Dialect(
    name="sqlite",
    types={
        pl.String: "TEXT",
        pl.Int64: "INTEGER",
        pl.Int32: "INTEGER",
        pl.Float64: "REAL",
        pl.Boolean: "INTEGER",  # 0 / 1
        pl.Datetime: "INTEGER",  # microseconds since 1970-01-01T00:00:00Z
    },
    id_column="id INTEGER PRIMARY KEY",
    uses_sequences=False,
    secondary_indexes=True,
)


def _stored_dtype(dtype: pl.DataType) -> pl.DataType:
    """The dtype SQLite returns a canonical column as."""
    return pl.Int64() if isinstance(dtype, pl.Datetime | pl.Boolean) else dtype


def _adapt(value: Any) -> Any:
    return utc_micros(value) if isinstance(value, datetime) else value


def _frame(
    rows: list[tuple[Any, ...]], names: Sequence[str], columns: Mapping[str, pl.DataType]
) -> pl.DataFrame:
    values: list[Sequence[Any]] = list(zip(*rows, strict=True)) if rows else [[] for _ in names]
    stored = pl.DataFrame(
        [
            pl.Series(name, list(column), dtype=_stored_dtype(columns[name]))
            for name, column in zip(names, values, strict=True)
        ]
    )
    return to_canonical(stored, columns)


class _SQLiteDb:
    """:class:`~pitwall.store._db.Db` over one sqlite3 connection in autocommit mode (explicit transactions)."""

    dialect = DIALECT

    def __init__(self, con: sqlite3.Connection, path: str, busy_timeout_s: float) -> None:
        self._con = con
        self._path = path
        self._busy_timeout_s = busy_timeout_s

    def begin(self) -> None:
        try:
            self._con.execute("BEGIN IMMEDIATE")
        except sqlite3.OperationalError as err:
            if "locked" in str(err) or "busy" in str(err):
                raise DatabaseLocked(
                    f"{self._path} is locked by another writer for more than {self._busy_timeout_s:g} s: {err}"
                ) from err
            raise

    def begin_read(self) -> None:
        self._con.execute("BEGIN")  # deferred: a WAL read snapshot from the first query, no write lock

    def commit(self) -> None:
        self._con.execute("COMMIT")

    def rollback(self) -> None:
        self._con.execute("ROLLBACK")

    def execute(self, sql: str, params: Sequence[Any] = ()) -> None:
        self._con.execute(sql, [_adapt(p) for p in params])

    def fetch_rows(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        return self._con.execute(sql, [_adapt(p) for p in params]).fetchall()

    def fetch_frame(
        self, sql: str, params: Sequence[Any], columns: Mapping[str, pl.DataType]
    ) -> pl.DataFrame:
        cursor = self._con.execute(sql, [_adapt(p) for p in params])
        try:
            return _frame(cursor.fetchall(), [d[0] for d in cursor.description], columns)
        finally:
            cursor.close()

    def fetch_arrow(
        self, sql: str, params: Sequence[Any], columns: Mapping[str, pl.DataType], batch_rows: int
    ) -> Iterator[pa.RecordBatch]:
        target = arrow_schema(dict(columns))
        cursor = self._con.execute(sql, [_adapt(p) for p in params])
        names = [d[0] for d in cursor.description]
        try:
            while rows := cursor.fetchmany(batch_rows):
                yield from _frame(rows, names, columns).to_arrow().cast(target).combine_chunks().to_batches()
        finally:
            cursor.close()

    def insert_frame(self, table: str, df: pl.DataFrame, constants: Mapping[str, Any] | None = None) -> None:
        """``executemany`` over the frame's Arrow columns (and ``constants``) as Python values, in chunks,
        inside the caller's transaction."""
        if df.height == 0:
            return
        df = df.with_columns(pl.lit(value).alias(name) for name, value in (constants or {}).items())
        stored = df.with_columns(
            [
                pl.col(name).dt.epoch("us")
                for name, dtype in df.schema.items()
                if isinstance(dtype, pl.Datetime)
            ]
            + [
                pl.col(name).cast(pl.Int64)
                for name, dtype in df.schema.items()
                if isinstance(dtype, pl.Boolean)
            ]
        )
        sql = f"INSERT INTO {table} ({', '.join(df.columns)}) VALUES ({', '.join('?' * df.width)})"
        for chunk in stored.iter_slices(INSERT_CHUNK_ROWS):
            arrow = chunk.to_arrow()
            self._con.executemany(sql, zip(*(column.to_pylist() for column in arrow.columns), strict=True))

    def insert_channels(self, table: str, channels: SignalChannels, constants: Mapping[str, Any]) -> None:
        """Each channel's samples by :meth:`insert_frame`, its name a constant."""
        for name, rows in channels.samples():
            self.insert_frame(table, rows, {"signal_name": name, **constants})


def _connect(path: str, *, writer: bool, busy_timeout_s: float) -> sqlite3.Connection:
    con = sqlite3.connect(path, timeout=busy_timeout_s, isolation_level=None, check_same_thread=False)
    try:
        if writer:
            con.execute("PRAGMA journal_mode = WAL")
            con.execute(
                "PRAGMA synchronous = NORMAL"
            )  # durable at checkpoints; safe against corruption in WAL
        else:
            con.execute("PRAGMA query_only = ON")
    except sqlite3.OperationalError as err:
        con.close()
        if "locked" in str(err) or "busy" in str(err):
            raise DatabaseLocked(f"{path} is locked by another process: {err}") from err
        raise
    return con


class SQLiteStore(SqlStore):
    """The :class:`~pitwall.store.base.Store` on a SQLite file (created, switched to WAL and migrated on open).

    ``busy_timeout_s``: how long to wait for another process's write lock before :class:`DatabaseLocked`.
    """

    backend = "sqlite"

    def __init__(self, path: Path, *, busy_timeout_s: float = BUSY_TIMEOUT_S) -> None:
        self._busy_timeout_s = busy_timeout_s
        self._writer_con = _connect(str(path), writer=True, busy_timeout_s=busy_timeout_s)
        self._idle: queue.SimpleQueue[sqlite3.Connection] = queue.SimpleQueue()
        self._readers: list[sqlite3.Connection] = []
        self._readers_lock = threading.Lock()
        try:
            super().__init__(path, _SQLiteDb(self._writer_con, str(path), busy_timeout_s))
        except BaseException:
            self._writer_con.close()
            raise

    @contextmanager
    def _read(self) -> Iterator[_SQLiteDb]:
        """A pooled read-only connection (opened on demand; one per concurrent reader)."""
        try:
            con = self._idle.get_nowait()
        except queue.Empty:
            con = _connect(self.path, writer=False, busy_timeout_s=self._busy_timeout_s)
            with self._readers_lock:
                self._readers.append(con)
        try:
            yield _SQLiteDb(con, self.path, self._busy_timeout_s)
        finally:
            self._idle.put(con)

    def close(self) -> None:
        with self._readers_lock:
            for con in self._readers:
                con.close()
            self._readers.clear()
        self._writer_con.close()
