"""export_batches: same Arrow schema, same batches and byte-identical parquet on DuckDB and SQLite."""

from __future__ import annotations

import io
import sqlite3
from dataclasses import replace
from pathlib import Path

import duckdb
import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from pitwall import schema
from pitwall.store import BACKENDS, Store, export_schema, open_store, rebatch
from pitwall.store._sql_store import _window_starts

from ..conftest import new_store
from .frames import session_import, telemetry


def _parquet(store: Store, session_id: str, table: str, batch_rows: int) -> bytes:
    sink = io.BytesIO()
    with pq.ParquetWriter(sink, export_schema(table)) as writer:
        for batch in store.export_batches(session_id, table, batch_rows=batch_rows):
            writer.write_table(batch)
    return sink.getvalue()


@pytest.fixture
def both(tmp_path: Path) -> dict[str, Store]:
    stores = {}
    for backend in BACKENDS:
        stores[backend] = new_store(tmp_path, backend)
        stores[backend].import_session(session_import("ra-fp1"))
        stores[backend].append_telemetry("ra-fp1", telemetry(11))  # 23 rows in all
        stores[backend].import_session(session_import("other"))
    yield stores
    for opened in stores.values():
        opened.close()


@pytest.mark.parametrize("table", schema.EXPORT_TABLES)
def test_parquet_bytes_identical_across_backends(both: dict[str, Store], table: str) -> None:
    files = {backend: _parquet(opened, "ra-fp1", table, batch_rows=5) for backend, opened in both.items()}
    assert files["duckdb"] == files["sqlite"]
    read = pq.read_table(io.BytesIO(files["duckdb"]))
    assert read.schema == export_schema(table)
    assert read.num_rows == both["duckdb"].export_row_count("ra-fp1", table) > 0


@pytest.mark.parametrize("table", schema.EXPORT_TABLES)
def test_batches_have_the_schema_and_exact_sizes(store: Store, table: str) -> None:
    store.import_session(session_import())
    store.append_telemetry("ra-fp1", telemetry(11))
    batches = list(store.export_batches("ra-fp1", table, batch_rows=5))
    total = store.export_row_count("ra-fp1", table)
    assert [b.num_rows for b in batches] == [5] * (total // 5) + ([total % 5] if total % 5 else [])
    assert all(b.schema == export_schema(table) for b in batches)


def test_telemetry_export_is_the_session_in_frame_order(store: Store) -> None:
    store.import_session(session_import("a"))
    store.import_session(session_import("b"))
    exported = pa.concat_tables(store.export_batches("a", "telemetry"))
    assert exported.column("session_id").unique().to_pylist() == ["a"]
    assert exported.column("frame_idx").to_pylist() == list(range(telemetry().height))
    assert exported.schema == schema.arrow_schema(schema.TELEMETRY)


def test_registry_export_is_stamped_with_the_session(store: Store) -> None:
    store.import_session(session_import())
    exported = pa.concat_tables(store.export_batches("ra-fp1", "signal_registry"))
    assert exported.schema.names == ["session_id", *schema.SIGNAL_REGISTRY]
    assert set(exported.column("session_id").to_pylist()) == {"ra-fp1"}
    assert (
        exported.num_rows
        == store.list_registry().height
        == store.export_row_count("ra-fp1", "signal_registry")
    )


def test_unknown_table_and_empty_session(store: Store) -> None:
    with pytest.raises(ValueError, match="unknown export table"):
        store.export_batches("ra-fp1", "sessions")
    with pytest.raises(ValueError, match="unknown export table"):
        store.export_row_count("ra-fp1", "sessions")
    assert list(store.export_batches("nope", "telemetry")) == []
    assert store.export_row_count("nope", "telemetry") == 0


def _store_first_rows_last(path: str, backend: str, rows: int) -> None:
    """Delete the first ``rows`` frames of the file's telemetry and insert them again: stored after the rest."""
    statements = [
        f"CREATE TEMP TABLE moved AS SELECT * FROM telemetry WHERE frame_idx < {rows}",
        f"DELETE FROM telemetry WHERE frame_idx < {rows}",
        "INSERT INTO telemetry SELECT * FROM moved",
    ]
    con = duckdb.connect(str(path)) if backend == "duckdb" else sqlite3.connect(path, isolation_level=None)
    try:
        for statement in statements:
            con.execute(statement)
    finally:
        con.close()


def test_telemetry_export_is_in_frame_order_whatever_the_stored_order(tmp_path: Path) -> None:
    """Pages are read without ``ORDER BY`` and put in frame order only when they are not: rows stored out of
    order (deleted and written again) still export in frame order, in exact batches, the same on both
    backends."""
    rows, batch_rows = 23, 10
    files = {}
    for backend in BACKENDS:
        opened = new_store(tmp_path, backend)
        opened.import_session(replace(session_import(), telemetry=telemetry(rows)))
        expected = pa.concat_tables(opened.export_batches("ra-fp1", "telemetry"))
        path = opened.path
        opened.close()
        _store_first_rows_last(path, backend, 12)
        reopened = open_store(path)
        try:
            batches = list(reopened.export_batches("ra-fp1", "telemetry", batch_rows=batch_rows))
            assert [b.num_rows for b in batches] == [10, 10, 3]
            assert pa.concat_tables(batches) == expected
            assert expected.column("frame_idx").to_pylist() == list(range(rows))
            files[backend] = _parquet(reopened, "ra-fp1", "telemetry", batch_rows)
        finally:
            reopened.close()
    assert files["duckdb"] == files["sqlite"]


def test_rebatch_cuts_exact_tables_without_copying() -> None:
    table = pa.table({"x": list(range(25)), "y": [str(i) for i in range(25)]})
    ragged = [*table.slice(0, 3).to_batches(), *table.slice(3, 0).to_batches(), *table.slice(3).to_batches(7)]
    cut = list(rebatch(ragged, 10))
    assert [t.num_rows for t in cut] == [10, 10, 5]
    assert pa.concat_tables(cut) == table
    # every output chunk points into the input's own buffer (a copy would have a buffer of its own)
    source = table.column("x").chunks[0].buffers()[1].address
    assert {chunk.buffers()[1].address for t in cut for chunk in t.column("x").chunks} == {source}
    assert [t.column("x").num_chunks for t in cut] == [2, 2, 2]  # 3 + 7, 7 + 3 (of 7), 4 + 1
    whole = table.slice(0, 10)
    (passed,) = rebatch([whole, *table.slice(10, 0).to_batches()], 10)
    assert passed.column(0).chunks[0].buffers()[1].address == whole.column(0).chunks[0].buffers()[1].address
    assert list(rebatch([], 10)) == []


def _tall(rows: list[tuple[str, float, float | None]]) -> pl.DataFrame:
    return pl.DataFrame(rows, schema=["signal_name", "t_s", "value"], orient="row")


def test_tall_export_in_time_windows_is_each_signal_sorted_whole(tmp_path: Path) -> None:
    """Signals are read in time windows of about ``batch_rows`` rows, each sorted by the database: together the
    signal sorted by time then value (nulls last), also where many rows share one time at a window's edge and
    where the rate is uneven; the same rows and bytes on both backends."""
    # 16 rows from 0 to 12 s: windows start at 3, 6 and 9 s, and four rows are at 3 s
    edges = [("a", float(t), float(t % 5)) for t in range(13)] + [("a", 3.0, v) for v in (7.0, None, 2.0)]
    uneven = [("c", t / 8, float(t % 5)) for t in range(40)] + [("c", 20.0 + t, -1.0) for t in range(6)]
    single = [("b", 1.5, 4.0), ("b", 1.5, None), ("b", 1.5, 3.0)]
    signals = _tall([*reversed(uneven), *reversed(edges), *single])
    expected = (
        signals.sort(["signal_name", "t_s", "value"], nulls_last=True)
        .select(pl.lit("ra-fp1").alias("session_id"), pl.all())
        .to_arrow()
        .cast(export_schema("telemetry_signals"))
    )
    files = {}
    for backend in BACKENDS:
        opened = new_store(tmp_path, backend)
        try:
            opened.import_session(replace(session_import(), signals=signals))
            batches = list(opened.export_batches("ra-fp1", "telemetry_signals", batch_rows=4))
            assert pa.concat_tables(batches) == expected
            files[backend] = _parquet(opened, "ra-fp1", "telemetry_signals", batch_rows=4)
        finally:
            opened.close()
    assert files["duckdb"] == files["sqlite"]


@pytest.mark.parametrize(
    ("first", "last", "rows", "expected"),
    [
        (0.0, 10.0, 4, []),  # one window holds them all
        (0.0, 10.0, 5, [5.0]),
        (2.0, 14.0, 12, [6.0, 10.0]),
        (1.5, 1.5, 9, [1.5, 1.5]),  # one time: the last window takes every row
        (float("-inf"), 3.0, 9, []),  # no finite span to cut
    ],
)
def test_window_starts(first: float, last: float, rows: int, expected: list[float]) -> None:
    assert _window_starts(first, last, rows, per_window=4) == expected
