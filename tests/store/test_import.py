"""import_session: one transaction for session, telemetry, signals, registry and capabilities (both backends)."""

from __future__ import annotations

from dataclasses import replace

import polars as pl
import pytest
from polars.testing import assert_frame_equal

from pitwall.store import SessionImport, Store, UnknownSession

from .frames import registry, session_import, signals, stored_telemetry, telemetry


def _assert_nothing_left(store: Store, session_id: str, registry_before: pl.DataFrame) -> None:
    with pytest.raises(UnknownSession):
        store.get_session(session_id)
    assert store.list_sessions().is_empty()
    assert store.count_telemetry(session_id) == 0
    assert store.read_signals(session_id).is_empty()
    assert store.get_capabilities(session_id).is_empty()
    assert_frame_equal(store.list_registry(), registry_before)


def test_import_writes_every_table(store: Store) -> None:
    store.import_session(session_import())
    assert_frame_equal(store.read_telemetry("ra-fp1"), stored_telemetry("ra-fp1", telemetry()))
    assert store.read_signals("ra-fp1").height == signals().height
    entries = store.list_registry().filter(
        pl.col("signal_name").is_in(["oil_temp_c", "obd_ambient_air_temp_c"])
    )
    # oil_temp_c comes from the import's registry; the ambient PID was seeded by the first migration
    assert entries.select("signal_name", "unit", "source").rows() == [
        ("obd_ambient_air_temp_c", "degC", "obd2"),
        ("oil_temp_c", "degC", "vbo"),
    ]
    assert store.get_capabilities("ra-fp1").height > 0


def test_failed_telemetry_insert_rolls_back_the_session_row(store: Store) -> None:
    before = store.list_registry()
    bad = telemetry().with_columns(
        pl.lit("fast").alias("speed_kph")
    )  # wrong dtype, caught after the session row
    with pytest.raises(ValueError, match="canonical dtypes"):
        store.import_session(SessionImport(session_import().session, bad, signals(), registry()))
    _assert_nothing_left(store, "ra-fp1", before)


def test_failure_after_rows_were_written_rolls_back_everything(store: Store) -> None:
    """The tall rows fail after the session row and the registry's rows were written."""
    before = store.list_registry()
    bad_signals = signals().with_columns(
        pl.when(pl.col("t_s") > 1).then(pl.col("signal_name")).alias("signal_name")
    )
    with pytest.raises(ValueError, match="must be set"):
        store.import_session(SessionImport(session_import().session, telemetry(), bad_signals, registry()))
    _assert_nothing_left(store, "ra-fp1", before)
    # the id is free again: the same import now succeeds
    store.import_session(session_import())
    assert store.count_telemetry("ra-fp1") == telemetry().height


def test_bad_telemetry_is_reported_before_bad_signals(store: Store) -> None:
    """The telemetry is stored after the tall rows, but checked before them: its error is the one raised."""
    bad = telemetry().with_columns(pl.lit("fast").alias("speed_kph"))
    bad_signals = signals().with_columns(signal_name=pl.lit(None, pl.String))
    with pytest.raises(ValueError, match="telemetry: values do not match"):
        store.import_session(SessionImport(session_import().session, bad, bad_signals, registry()))
    assert store.list_sessions().is_empty()


def test_import_counts_frames_itself(store: Store) -> None:
    data = session_import()
    store.import_session(replace(data, session=replace(data.session, n_frames=999)))
    assert store.get_session("ra-fp1").n_frames == telemetry().height


def test_capabilities_after_import(store: Store) -> None:
    store.import_session(session_import())
    caps = store.get_capabilities("ra-fp1")
    by_name = {row["signal_name"]: row for row in caps.iter_rows(named=True)}
    # all-null canonical columns and bookkeeping columns are no signals
    assert not {"g_vert", "brake_pct", "session_id", "frame_idx", "t_s", "utc"} & set(by_name)
    assert by_name["speed_kph"]["n_samples"] == telemetry().height
    assert by_name["speed_kph"]["mean_hz"] == pytest.approx(10.0)
    assert by_name["speed_kph"]["coaches"] == "corners,laps"
    assert by_name["brake_bar"]["coaches"] == "braking,pedal_behavior,trail_brake"
    assert by_name["lap"]["useful"] is False  # constant
    assert by_name["oil_temp_c"]["useful"] is True and by_name["oil_temp_c"]["coaches"] == ""
    assert by_name["obd_ambient_air_temp_c"]["mean_hz"] == pytest.approx(0.5)
    assert by_name["obd_ambient_air_temp_c"]["useful"] is False
    assert_frame_equal(store.recompute_capabilities("ra-fp1"), caps)
    with pytest.raises(UnknownSession):
        store.recompute_capabilities("nope")
