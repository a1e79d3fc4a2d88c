"""A real recording (Road America, VBOX HD2, 25 Hz, 10,401 rows) through both backends."""

from __future__ import annotations

import io
from pathlib import Path

import polars as pl
import pyarrow.parquet as pq
import pytest
from polars.testing import assert_frame_equal

from pitwall import DATA_DIR, schema
from pitwall.formats.vbo import VboRecording, read_vbo
from pitwall.store import BACKENDS, SessionImport, Store, export_schema

from ..conftest import new_store
from .frames import session_row, stored_telemetry

RUN04 = DATA_DIR / "samples" / "25IR05_RdAm_FP1_Run04_KO.vbo"


@pytest.fixture(scope="module")
def recording() -> VboRecording:
    return read_vbo(RUN04)


def _import(store: Store, recording: VboRecording) -> None:
    row = session_row("run04", source="vbo", vbo_source=RUN04.name)
    store.import_session(SessionImport(row, recording.telemetry, recording.signals, recording.registry))


def test_real_import_round_trips(store: Store, recording: VboRecording) -> None:
    _import(store, recording)
    assert store.count_telemetry("run04") == recording.telemetry.height == 10_401
    expected = stored_telemetry("run04", recording.telemetry.drop("session_id", "frame_idx"))
    assert_frame_equal(store.read_telemetry("run04"), expected)
    assert store.read_signals("run04").height == recording.signals.height
    registered = store.list_registry().filter(pl.col("source") == "vbo")
    assert sorted(registered["signal_name"]) == sorted(recording.registry["signal_name"])

    caps = {row["signal_name"]: row for row in store.get_capabilities("run04").iter_rows(named=True)}
    assert caps["speed_kph"]["mean_hz"] == pytest.approx(25.0, rel=0.01)
    assert caps["speed_kph"]["useful"]
    assert {"corners", "laps"} <= set(caps["speed_kph"]["coaches"].split(","))
    assert caps["brake_bar"]["coaches"] == "braking,pedal_behavior,trail_brake"
    assert caps["rpm"]["coaches"] == "shift_points"
    assert "g_lat" not in caps  # this logger recorded no accelerations: no friction circle
    assert caps["Vehicle_Speed"]["n_samples"] == 10_401


def test_real_export_is_byte_identical_across_backends(tmp_path: Path, recording: VboRecording) -> None:
    files: dict[str, dict[str, bytes]] = {}
    for backend in BACKENDS:
        store = new_store(tmp_path, backend)
        try:
            _import(store, recording)
            files[backend] = {}
            for table in schema.EXPORT_TABLES:
                sink = io.BytesIO()
                with pq.ParquetWriter(sink, export_schema(table)) as writer:
                    for batch in store.export_batches("run04", table):
                        writer.write_table(batch)
                files[backend][table] = sink.getvalue()
        finally:
            store.close()
    for table in schema.EXPORT_TABLES:
        assert files["duckdb"][table] == files["sqlite"][table], table
    signals = pq.read_table(io.BytesIO(files["sqlite"]["telemetry_signals"]))
    assert signals.num_rows == recording.signals.height
    assert (
        pq.ParquetFile(io.BytesIO(files["sqlite"]["telemetry_signals"])).metadata.num_row_groups == 4
    )  # 50k rows each
