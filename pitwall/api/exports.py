"""``GET /session/<sid>/export.parquet``: stream one table of a session as Parquet, in constant memory.

Tables from ``Store.export_batches`` are re-cut into row groups of exactly :data:`ROW_GROUP_ROWS`
rows (the last one shorter) and each finished row group is sent as soon as it is written, so the bytes depend
only on the data — the same import gives byte-identical files on DuckDB and SQLite.
"""

from __future__ import annotations

from collections.abc import Generator, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Final, TypeVar

import pyarrow as pa
import pyarrow.parquet as pq
from litestar import Router, get
from litestar.datastructures import State
from litestar.response import Stream

from pitwall.api.deps import store_of
from pitwall.api.errors import ApiError
from pitwall.schema import EXPORT_TABLES
from pitwall.store import EXPORT_MEMORY_POOL, rebatch

ROW_GROUP_ROWS: Final = 50_000
"""Rows per Parquet row group (and per table read from the store)."""

READ_AHEAD_THREAD: Final = "pitwall-read-ahead"
"""Name prefix of :func:`read_ahead`'s worker threads."""

T = TypeVar("T")


class _ChunkSink:
    """A write-only file object for ``pq.ParquetWriter`` that hands out the bytes written since the last
    :meth:`drain`."""

    def __init__(self) -> None:
        self._parts: list[bytes] = []
        self._position = 0
        self.closed = False

    def write(self, data: bytes | memoryview) -> int:
        chunk = bytes(data)
        self._parts.append(chunk)
        self._position += len(chunk)
        return len(chunk)

    def tell(self) -> int:
        return self._position

    def flush(self) -> None:
        """Nothing is buffered here."""

    def writable(self) -> bool:
        return True

    def close(self) -> None:
        self.closed = True

    def drain(self) -> bytes:
        chunk = b"".join(self._parts)
        self._parts.clear()
        return chunk


def writer_options(schema: pa.Schema) -> dict[str, Any]:
    """How exports are encoded: zstd; dictionary pages only for text and 32-bit-or-narrower integer columns
    (names, gear, satellites, lap and file numbers — dictionaries of near-unique floats, times and frame
    indices cost time and bytes); BYTE_STREAM_SPLIT for floating-point columns (their bytes compress far
    better split). On a 1-h session: as fast as Polars' own writer and smaller (``benchmarks/store_write.py``)."""
    dictionary = [
        f.name
        for f in schema
        if pa.types.is_string(f.type)
        or pa.types.is_large_string(f.type)
        or (pa.types.is_integer(f.type) and f.type.bit_width <= 32)
    ]
    floats = [f.name for f in schema if pa.types.is_floating(f.type)]
    return {"compression": "zstd", "use_dictionary": dictionary, "use_byte_stream_split": floats}


def read_ahead(source: Iterable[T]) -> Iterator[T]:
    """``source``'s items in order, each fetched on one dedicated worker thread while the consumer handles the
    one before: the store's read overlaps the parquet encoding (both release the GIL). At most one item is
    fetched ahead. Every step of ``source`` — each ``next`` and its ``close`` — runs on that one thread (the
    SQLite connection and the store's read transaction live in the store's generator); closing this iterator
    early (a client that disconnects) closes ``source`` there and ends the thread. Exceptions of ``source``
    are raised here, unchanged."""
    items = iter(source)
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix=READ_AHEAD_THREAD) as worker:
        try:
            ahead = worker.submit(_step, items)
            while step := ahead.result():
                ahead = worker.submit(_step, items)
                yield step[0]
                del step  # handed out: only the item being fetched is held while the consumer works
        finally:
            worker.submit(_close, items).result()


def _step(items: Iterator[T]) -> tuple[T, ...]:
    """The next item of ``items`` as a 1-tuple, or ``()`` when there is none left."""
    for item in items:
        return (item,)
    return ()


def _close(items: Iterator[object]) -> None:
    """Close ``items`` when it is a generator (runs its ``finally`` blocks, e.g. the end of a read)."""
    if isinstance(items, Generator):
        items.close()


def parquet_chunks(
    batches: Iterable[pa.RecordBatch | pa.Table], *, rows_per_group: int = ROW_GROUP_ROWS
) -> Iterator[bytes]:
    """Parquet file bytes for ``batches`` (record batches or tables, all with one schema), yielded one row
    group at a time, each written from the chunks it was cut from (``pitwall.store.rebatch``: no copy).
    Yields nothing when there are no batches. ``batches`` are read one ahead on a worker thread
    (:func:`read_ahead`)."""
    groups = rebatch(read_ahead(batches), rows_per_group)
    group = next(groups, None)
    if group is None:
        return
    sink = _ChunkSink()
    with pq.ParquetWriter(
        sink, group.schema, memory_pool=EXPORT_MEMORY_POOL, **writer_options(group.schema)
    ) as writer:
        while group is not None:
            writer.write_table(group, row_group_size=rows_per_group)
            del group  # written: from here on only the next row group is held
            yield sink.drain()
            group = next(groups, None)
    yield sink.drain()


@get("/session/{session_id:str}/export.parquet", operation_id="export_parquet", sync_to_thread=True)
def export_parquet(state: State, session_id: str, table: str = "telemetry") -> Stream:
    """Stream one table of a session as a Parquet file (for DuckDB-wasm hydration).

    ``table``: ``telemetry`` (wide canonicals, default), ``telemetry_signals`` (tall sink), ``signal_registry``
    (stamped with the session id), ``capabilities``. Headers: ``X-Pitwall-Session``, ``X-Pitwall-Table``,
    ``X-Pitwall-Rows``. 400 bad table, 404 no rows, 503 no database. Same bytes on every backend.
    """
    if table not in EXPORT_TABLES:
        raise ApiError(400, "bad table", {"table": table, "valid": list(EXPORT_TABLES)})
    store = store_of(state)
    rows = store.export_row_count(session_id, table)
    if rows == 0:
        raise ApiError(404, "no rows", {"session_id": session_id, "table": table})
    return Stream(
        parquet_chunks(store.export_batches(session_id, table, batch_rows=ROW_GROUP_ROWS)),
        media_type="application/octet-stream",
        headers={
            "X-Pitwall-Session": session_id,
            "X-Pitwall-Table": table,
            "X-Pitwall-Rows": str(rows),
            "Content-Disposition": f'attachment; filename="{session_id}-{table}.parquet"',
        },
    )


router = Router("/", route_handlers=[export_parquet], tags=["exports"])
