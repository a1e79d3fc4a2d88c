"""A real recording (Road America, VBOX HD2, 25 Hz, 10,401 rows) through both backends."""

from __future__ import annotations

import io
import math
import sqlite3
from pathlib import Path

import duckdb
import polars as pl
import pyarrow.parquet as pq
import pytest
from polars.testing import assert_frame_equal

from pitwall import DATA_DIR, schema
from pitwall.formats.detect import read_recording
from pitwall.formats.vbo import VboRecording, read_vbo
from pitwall.schema import SIGNALS_SCHEMA, SignalChannels
from pitwall.store import BACKENDS, SessionImport, Store, export_schema

from ..conftest import new_store
from .frames import session_row, stored_telemetry

RUN04 = DATA_DIR / "samples" / "25IR05_RdAm_FP1_Run04_KO.vbo"
RACECAPTURE = DATA_DIR / "samples" / "rc_mk2_test.log"  # channels with gaps


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


@pytest.mark.parametrize("path", [RUN04, RACECAPTURE], ids=lambda p: p.name)
def test_channels_are_stored_as_their_tall_rows_channel_by_channel(store: Store, path: Path) -> None:
    recording = read_recording(path.read_bytes(), name=str(path))
    channels = recording.sink
    assert isinstance(channels, SignalChannels)
    _import_both(store, recording, channels)
    stored = _stored_signals(store, "channels")
    expected = pl.concat(
        part.select(signal_name=pl.lit(name), t_s="t_s", value="value") for name, part in channels.samples()
    )
    assert_frame_equal(stored, expected)  # in the order they were written: channel by channel


@pytest.mark.parametrize("odd", [-0.0, math.nan])
def test_channels_store_negative_zero_and_nan_as_tall_rows_do(store: Store, odd: float) -> None:
    """The store's float normalisation (-0.0 → 0.0, NaN → NULL on a row that stays) holds for channels too."""
    recording = read_recording(RACECAPTURE.read_bytes(), name=str(RACECAPTURE))
    channels = recording.sink
    assert isinstance(channels, SignalChannels)
    name = channels.names()[2]
    rows = channels.values[name].is_not_null().arg_true().head(3)
    odd_values = channels.values.with_columns(
        pl.when(pl.int_range(pl.len()).is_in(rows)).then(odd).otherwise(pl.col(name)).alias(name)
    )
    _import_both(store, recording, SignalChannels(channels.t_s, odd_values))
    stored = _stored_signals(store, "channels").filter(pl.col("signal_name") == name)
    assert stored["value"].head(3).cast(pl.String).to_list() == ["0.0" if odd == 0 else None] * 3


def _import_both(store: Store, recording: VboRecording, channels: SignalChannels) -> None:
    """Import ``recording`` with the tall sink ``channels`` as session ``channels`` and as their tall rows as
    session ``rows``, and check both read back the same (floats bit for bit)."""
    for session_id, sink in (("channels", channels), ("rows", channels.rows())):
        row = session_row(session_id, source=recording.source_format, vbo_source=recording.path.name)
        store.import_session(SessionImport(row, recording.telemetry, sink, recording.registry))
    as_text = [pl.col("t_s", "value").cast(pl.String)]  # -0.0 and NaN spelt out
    assert_frame_equal(
        store.read_signals("channels").drop("session_id").with_columns(as_text),
        store.read_signals("rows").drop("session_id").with_columns(as_text),
    )
    assert_frame_equal(
        store.get_capabilities("channels").drop("session_id"),
        store.get_capabilities("rows").drop("session_id"),
    )


def _stored_signals(store: Store, session_id: str) -> pl.DataFrame:
    """A session's tall rows in the order the database file holds them (the store closed to read it)."""
    sql = f"SELECT signal_name, t_s, value FROM telemetry_signals WHERE session_id = '{session_id}'"
    store.close()
    if store.backend == "duckdb":
        with duckdb.connect(store.path, read_only=True) as con:
            return con.sql(sql).pl()
    with sqlite3.connect(store.path) as con:
        return pl.DataFrame(
            con.execute(sql + " ORDER BY rowid").fetchall(), schema=SIGNALS_SCHEMA, orient="row"
        )
