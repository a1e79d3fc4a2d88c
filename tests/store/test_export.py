"""export_batches: same Arrow schema, same batches and byte-identical parquet on DuckDB and SQLite."""

from __future__ import annotations

import io
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from pitwall import schema
from pitwall.store import BACKENDS, Store, export_schema

from ..conftest import new_store
from .frames import session_import, telemetry


def _parquet(store: Store, session_id: str, table: str, batch_rows: int) -> bytes:
    sink = io.BytesIO()
    with pq.ParquetWriter(sink, export_schema(table)) as writer:
        for batch in store.export_batches(session_id, table, batch_rows=batch_rows):
            writer.write_batch(batch)
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
    exported = pa.Table.from_batches(list(store.export_batches("a", "telemetry")))
    assert exported.column("session_id").unique().to_pylist() == ["a"]
    assert exported.column("frame_idx").to_pylist() == list(range(telemetry().height))
    assert exported.schema == schema.arrow_schema(schema.TELEMETRY)


def test_registry_export_is_stamped_with_the_session(store: Store) -> None:
    store.import_session(session_import())
    exported = pa.Table.from_batches(list(store.export_batches("ra-fp1", "signal_registry")))
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
