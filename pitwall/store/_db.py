"""The few primitives a backend provides; everything else is shared SQL in :mod:`pitwall.store._sql_store`.

SQL text uses ``?`` placeholders, which DuckDB and SQLite both accept. Parameters may be ``datetime``s (aware
or naive UTC); each backend adapts them to its storage.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from typing import Any, Protocol

import polars as pl
import pyarrow as pa

from pitwall.schema import SignalChannels
from pitwall.store._tables import Dialect


class Db(Protocol):
    """One connection (or cursor) of a backend."""

    dialect: Dialect

    def begin(self) -> None:
        """Start a write transaction."""

    def begin_read(self) -> None:
        """Start a read-only transaction: later queries see one snapshot and take no write lock."""

    def commit(self) -> None: ...

    def rollback(self) -> None: ...

    def execute(self, sql: str, params: Sequence[Any] = ()) -> None:
        """Run one statement that returns nothing."""

    def fetch_rows(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        """Run a query and return its rows as Python values (timestamps in storage form)."""

    def fetch_frame(
        self, sql: str, params: Sequence[Any], columns: Mapping[str, pl.DataType]
    ) -> pl.DataFrame:
        """Run a query whose result columns are ``columns`` (by name) and return them with canonical dtypes."""

    def fetch_arrow(
        self, sql: str, params: Sequence[Any], columns: Mapping[str, pl.DataType], batch_rows: int
    ) -> Iterator[pa.RecordBatch]:
        """Like :meth:`fetch_frame`, streamed as Arrow record batches of at most ``batch_rows`` rows with the
        canonical Arrow schema of ``columns`` (:func:`pitwall.schema.arrow_schema`; constant memory)."""

    def insert_frame(self, table: str, df: pl.DataFrame, constants: Mapping[str, Any] | None = None) -> None:
        """Bulk-insert a frame whose columns (names and canonical dtypes) are a subset of ``table``'s, with
        ``constants`` (column → one value for every row; the backend need not build a column of copies)."""

    def insert_channels(self, table: str, channels: SignalChannels, constants: Mapping[str, Any]) -> None:
        """Insert the tall rows of ``channels`` (``signal_name``, ``t_s``, ``value``; in their order) into
        ``table``, with ``constants`` on every row, without building them in memory first."""
