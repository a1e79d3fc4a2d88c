"""export.parquet: parsed back with pyarrow, headers, errors, and identical bytes on DuckDB and SQLite."""

from __future__ import annotations

import io
import threading
from collections.abc import Iterator
from pathlib import Path

import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from litestar import Litestar
from litestar.testing import TestClient

from pitwall import schema
from pitwall.api.app import create_app
from pitwall.api.exports import READ_AHEAD_THREAD, ROW_GROUP_ROWS, parquet_chunks, read_ahead
from pitwall.formats.vbo import read_vbo
from pitwall.store import Store, export_schema
from tests.api.conftest import RUN04, make_settings
from tests.store.frames import session_import, telemetry

Imported = tuple[TestClient[Litestar], str]


def test_telemetry_export_round_trips(imported: Imported) -> None:
    client, sid = imported
    response = client.get(f"/session/{sid}/export.parquet")
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/octet-stream"
    assert response.headers["x-pitwall-session"] == sid
    assert response.headers["x-pitwall-table"] == "telemetry"
    n_frames = client.get(f"/session/{sid}").json()["session"]["n_frames"]
    assert response.headers["x-pitwall-rows"] == str(n_frames)
    parquet = pq.ParquetFile(io.BytesIO(response.content))
    assert parquet.metadata.num_rows == n_frames
    assert [parquet.metadata.row_group(i).num_rows for i in range(parquet.metadata.num_row_groups)] == [
        n_frames
    ]
    table = parquet.read()
    assert table.schema.equals(schema.arrow_schema(schema.TELEMETRY))
    assert table.column("frame_idx").to_pylist() == list(range(n_frames))
    assert set(table.column("session_id").to_pylist()) == {sid}


@pytest.mark.parametrize("table", schema.EXPORT_TABLES)
def test_every_table_exports_with_its_row_count(imported: Imported, table: str) -> None:
    client, sid = imported
    response = client.get(f"/session/{sid}/export.parquet?table={table}")
    assert response.status_code == 200, response.text
    parsed = pq.read_table(io.BytesIO(response.content))
    assert parsed.num_rows == int(response.headers["x-pitwall-rows"]) > 0
    assert response.headers["x-pitwall-table"] == table
    assert "session_id" in parsed.column_names
    assert set(parsed.column("session_id").to_pylist()) == {sid}


def test_export_errors(imported: Imported) -> None:
    client, sid = imported
    bad = client.get(f"/session/{sid}/export.parquet?table=sessions")
    assert bad.status_code == 400
    assert bad.json() == {
        "error": "bad table",
        "detail": {"table": "sessions", "valid": list(schema.EXPORT_TABLES)},
    }
    assert client.get("/session/nope/export.parquet").status_code == 404
    empty = client.post("/session/start", json={}).json()["session_id"]
    no_rows = client.get(f"/session/{empty}/export.parquet?table=telemetry_signals")
    assert no_rows.status_code == 404 and no_rows.json()["error"] == "no rows"


def test_same_import_gives_identical_bytes_on_both_backends(tmp_path: Path) -> None:
    exports: dict[str, dict[str, bytes]] = {}
    for backend in ("duckdb", "sqlite"):
        (tmp_path / backend).mkdir()
        with TestClient(create_app(make_settings(tmp_path / backend, backend))) as client:
            sid = client.post("/session/import", json={"vbo_path": str(RUN04), "session_id": "rdam"}).json()
            assert sid["session_id"] == "rdam"
            exports[backend] = {
                table: client.get(f"/session/rdam/export.parquet?table={table}").content
                for table in schema.EXPORT_TABLES
            }
    for table in schema.EXPORT_TABLES:
        assert exports["duckdb"][table] == exports["sqlite"][table], table


def test_parquet_chunks_cut_exact_row_groups_whatever_the_batches() -> None:
    table = pa.table({"a": list(range(2 * ROW_GROUP_ROWS + 7)), "b": [0.5] * (2 * ROW_GROUP_ROWS + 7)})
    chunks = list(parquet_chunks(table.to_batches(max_chunksize=7_777)))
    assert len(chunks) >= 4  # one chunk per row group, then the footer
    data = b"".join(chunks)
    assert data == b"".join(parquet_chunks(table.to_batches(max_chunksize=ROW_GROUP_ROWS)))
    meta = pq.ParquetFile(io.BytesIO(data)).metadata
    assert [meta.row_group(i).num_rows for i in range(meta.num_row_groups)] == [
        ROW_GROUP_ROWS,
        ROW_GROUP_ROWS,
        7,
    ]
    assert pq.read_table(io.BytesIO(data)).equals(table)
    assert list(parquet_chunks([])) == []


@pytest.mark.parametrize("table", ["telemetry", "telemetry_signals"])
def test_a_row_group_written_from_pieces_is_the_same_bytes(table: str) -> None:
    """Row groups are written from the pieces they were cut from (no join): the file must not depend on where
    the pieces end. A real recording's rows (Run04, every column of the export), repeated past two row groups,
    written whole and cut at odd places."""
    recording = read_vbo(RUN04)
    frame = recording.telemetry if table == "telemetry" else recording.signals
    rows = frame.with_columns(session_id=pl.lit("rdam")).select(export_schema(table).names)
    repeats = (2 * ROW_GROUP_ROWS + 123) // rows.height + 1
    whole = pl.concat([rows] * repeats).head(2 * ROW_GROUP_ROWS + 123).to_arrow().cast(export_schema(table))
    expected = b"".join(parquet_chunks([whole.combine_chunks().to_batches()[0]]))
    for size in (7_777, 1_001, 49_999):
        assert b"".join(parquet_chunks(whole.to_batches(max_chunksize=size))) == expected, size


class _Source:
    """A generator of ``items`` (raising ``error`` after them, if given) that records the thread of every
    step — each item, and its ``finally`` — and how many items it has produced."""

    def __init__(self, items: list[int], error: Exception | None = None) -> None:
        self.items, self.error = items, error
        self.threads: list[threading.Thread] = []
        self.produced = 0
        self.closed_on: threading.Thread | None = None

    def __iter__(self) -> Iterator[int]:
        try:
            for item in self.items:
                self.threads.append(threading.current_thread())
                self.produced += 1
                yield item
            if self.error is not None:
                raise self.error
        finally:
            self.closed_on = threading.current_thread()


def test_read_ahead_keeps_the_order_one_item_ahead_on_one_worker_thread() -> None:
    source = _Source(list(range(6)))
    received = []
    for item in read_ahead(source):
        received.append(item)
        assert source.produced <= len(received) + 1  # at most one item fetched ahead
    assert received == list(range(6))
    (worker,) = set(source.threads)
    assert worker is not threading.current_thread() and source.closed_on is worker
    assert not worker.is_alive()


def test_read_ahead_closed_early_closes_the_source_on_its_thread_and_ends_it() -> None:
    source = _Source(list(range(100)))
    ahead = read_ahead(source)
    assert next(ahead) == 0
    ahead.close()  # e.g. the client disconnected
    (worker,) = set(source.threads)
    assert source.closed_on is worker and not worker.is_alive()
    assert source.produced <= 2


def test_read_ahead_raises_the_source_error_after_its_items() -> None:
    source = _Source([1, 2], ValueError("bad page"))
    received = []
    with pytest.raises(ValueError, match="bad page"):
        for item in read_ahead(source):
            received.append(item)
    assert received == [1, 2]
    assert source.closed_on is not None and not source.closed_on.is_alive()
    assert list(read_ahead([])) == []


def test_export_stopped_after_its_first_row_group_ends_the_read(store: Store) -> None:
    """The route's stream closed early (a client that disconnects) ends the store's read on the worker thread:
    the next full export is the same file as before."""
    store.import_session(session_import())
    store.append_telemetry("ra-fp1", telemetry(11))
    whole = b"".join(
        parquet_chunks(store.export_batches("ra-fp1", "telemetry", batch_rows=5), rows_per_group=5)
    )
    chunks = parquet_chunks(store.export_batches("ra-fp1", "telemetry", batch_rows=5), rows_per_group=5)
    assert whole.startswith(next(chunks))
    chunks.close()
    assert not [t for t in threading.enumerate() if t.name.startswith(READ_AHEAD_THREAD)]
    again = parquet_chunks(store.export_batches("ra-fp1", "telemetry", batch_rows=5), rows_per_group=5)
    assert b"".join(again) == whole
