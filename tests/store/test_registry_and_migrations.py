"""signal_registry seed (the 54 OBD-II PIDs), registration of new names, and schema migrations."""

from __future__ import annotations

import json
from collections.abc import Callable
from contextlib import AbstractContextManager
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import polars as pl
import pytest
from polars.testing import assert_frame_equal

from pitwall import schema
from pitwall.store import BACKENDS, Store, StoreError
from pitwall.store._db import Db
from pitwall.store._sql_store import SqlStore
from pitwall.store.base import SessionRow
from pitwall.store.migrations import MIGRATIONS, OBD2_PIDS_PATH, Migration, migrate

from ..conftest import new_store
from .frames import T0

NEXT = len(MIGRATIONS) + 1
"""The version a test migration takes (after every real one)."""


def test_registry_is_seeded_with_exactly_the_54_pids(store: Store) -> None:
    registry = store.list_registry()
    assert registry.schema == pl.Schema(schema.SIGNAL_REGISTRY)
    assert registry.height == 54
    assert registry["source"].unique().to_list() == ["obd2"]
    assert registry["pid"].n_unique() == 54
    rpm = registry.filter(pl.col("pid") == "0x0C").row(0, named=True)
    assert (rpm["signal_name"], rpm["unit"], rpm["min_value"], rpm["max_value"]) == (
        "obd_engine_speed_rpm",
        "rpm",
        0.0,
        16383.75,
    )


def test_pid_file_ranges_follow_from_the_formulas() -> None:
    """Each PID's min/max is its formula at the extreme raw bytes (catches typos in formula or range)."""
    pids = json.loads(OBD2_PIDS_PATH.read_text(encoding="utf-8"))["pids"]
    assert len(pids) == 54
    assert all(0x04 <= int(p["pid"], 16) <= 0x62 for p in pids)
    raw_a, raw_b = np.meshgrid(np.arange(256), np.arange(256), indexing="ij")
    for pid in pids:
        a, b = (raw_a[:, 0], 0) if pid["bytes"] == 1 else (raw_a, raw_b)
        values = np.asarray(eval(pid["formula"], {"__builtins__": {}}, {"A": a, "B": b}), dtype=float)
        assert values.min() == pytest.approx(pid["min"], abs=1e-4), pid["pid"]
        assert values.max() == pytest.approx(pid["max"], abs=1e-4), pid["pid"]


def test_register_signals_adds_only_new_names(store: Store) -> None:
    rows = pl.DataFrame(
        {
            "signal_name": ["diff_temp_c", "diff_temp_c", "obd_engine_speed_rpm", "fuel_l"],
            "unit": ["degC", "K", "rpm?", None],
            "source": ["can", "can", "can", None],
        }
    )
    assert store.register_signals(rows) == 2
    assert store.register_signals(rows) == 0
    added = store.list_registry().filter(
        pl.col("signal_name").is_in(["diff_temp_c", "fuel_l", "obd_engine_speed_rpm"])
    )
    assert added.select("signal_name", "unit", "source").rows() == [
        ("diff_temp_c", "degC", "can"),
        ("fuel_l", "", "api"),
        ("obd_engine_speed_rpm", "rpm", "obd2"),
    ]


def test_schema_version_and_reopen_applies_nothing_twice(store: Store, tmp_path: Path) -> None:
    assert store.schema_version == len(MIGRATIONS) == 6
    backend = store.backend
    store.close()
    reopened = new_store(tmp_path, backend)
    try:
        assert reopened.schema_version == 6
        assert reopened.list_registry().height == 54
    finally:
        reopened.close()


def _write(store: Store) -> Callable[[], AbstractContextManager[Db]]:
    """The store's own write transaction (what ``open_store`` migrates with)."""
    assert isinstance(store, SqlStore)
    return store._write


def test_pending_migration_is_applied_once(store: Store) -> None:
    applied: list[int] = []

    def add_table(db: Db) -> None:
        applied.append(NEXT)
        db.execute("CREATE TABLE tyre_sets (name TEXT)")

    later = (*MIGRATIONS, Migration(NEXT, "tyre sets", add_table))
    assert migrate(_write(store), later) == NEXT
    assert migrate(_write(store), later) == NEXT
    assert applied == [NEXT]
    assert store.schema_version == NEXT


def test_failing_migration_rolls_back_and_keeps_the_version(store: Store) -> None:
    def half_done(db: Db) -> None:
        db.execute("CREATE TABLE tyre_sets (name TEXT)")
        db.insert_frame("llm_friction", pl.DataFrame({"created_at": [T0], "model": ["x"]}))
        db.execute("THIS IS NOT SQL")

    with pytest.raises(Exception, match=r"(?i)syntax|parser"):
        migrate(_write(store), (*MIGRATIONS, Migration(NEXT, "broken", half_done)))
    assert store.schema_version == len(MIGRATIONS)
    assert store.list_llm_friction().is_empty()

    def create_again(db: Db) -> None:  # fails if the broken migration's table survived
        db.execute("CREATE TABLE tyre_sets (name TEXT)")

    assert migrate(_write(store), (*MIGRATIONS, Migration(NEXT, "fixed", create_again))) == NEXT


def test_database_newer_than_the_code_is_refused(store: Store) -> None:
    with pytest.raises(StoreError, match="newer than this pitwall"):
        migrate(_write(store), ())
    with pytest.raises(ValueError, match="numbered"):
        migrate(_write(store), (MIGRATIONS[0], MIGRATIONS[0]))


@pytest.mark.parametrize("backend", BACKENDS)
def test_a_database_made_before_token_scopes_gains_the_column(tmp_path: Path, backend: str) -> None:
    """Migration 2 on a version-1 database (the table as migration 1 made it before the column existed)."""
    store = new_store(tmp_path, backend)
    assert isinstance(store, SqlStore)
    try:
        with store._write() as db:  # back to the version-1 table: no session_id column, version 1
            db.execute("DROP TABLE spectator_tokens")
            db.execute(
                "CREATE TABLE spectator_tokens (token_hash VARCHAR PRIMARY KEY, label VARCHAR, "
                "created_at TIMESTAMP, expires_at TIMESTAMP, revoked BOOLEAN)"
            )
            db.execute("DELETE FROM schema_version WHERE version >= 2")
        assert migrate(store._write) == len(MIGRATIONS)
        store.create_session(SessionRow("s1", datetime(2025, 1, 1, tzinfo=UTC)))
        store.add_spectator_token("h", datetime(2030, 1, 1, tzinfo=UTC), "x", session_id="s1")
        assert store.spectator_token_session("h") == "s1"
    finally:
        store.close()


@pytest.mark.parametrize("backend", BACKENDS)
def test_a_database_made_before_lap_clock_marks_gains_the_column(tmp_path: Path, backend: str) -> None:
    """Migration 3 on a version-2 database: its stored laps keep their rows and read ``clock_repairs`` null
    (not checked); laps stored afterwards carry the count."""
    store = new_store(tmp_path, backend)
    assert isinstance(store, SqlStore)
    try:
        store.create_session(SessionRow("old", datetime(2025, 1, 1, tzinfo=UTC)))
        with store._write() as db:  # back to the version-2 laps table
            db.execute("DROP TABLE laps")
            db.execute(
                "CREATE TABLE laps (session_id VARCHAR NOT NULL, lap INTEGER NOT NULL, t_start_s DOUBLE, "
                "t_end_s DOUBLE, duration_s DOUBLE, distance_m DOUBLE, method VARCHAR, kind VARCHAR, "
                "valid BOOLEAN, reason VARCHAR)"
            )
            db.execute(
                "INSERT INTO laps VALUES ('old', 1, 0.0, 90.0, 90.0, 2000.0, 'gps', 'flying', TRUE, NULL)"
            )
            db.execute("DELETE FROM schema_version WHERE version >= 3")
        assert migrate(store._write) == len(MIGRATIONS)
        old = store.list_laps(session_id="old").select(list(schema.LAPS))
        assert old.height == 1 and old["clock_repairs"].to_list() == [None]
        store.create_session(SessionRow("new", datetime(2025, 1, 2, tzinfo=UTC)))
        store.replace_laps("new", old.with_columns(session_id=pl.lit("new"), clock_repairs=pl.lit(2)))
        assert store.list_laps(session_id="new")["clock_repairs"].to_list() == [2]
    finally:
        store.close()


@pytest.mark.parametrize("backend", BACKENDS)
def test_a_database_made_before_session_numbers_is_numbered_and_reads_the_same(
    tmp_path: Path, backend: str
) -> None:
    """Migration 5 on a version-4 database: sessions numbered by start time, every telemetry and signal row
    carries its session's number, reads return what they returned before; new sessions continue the count."""
    store = new_store(tmp_path, backend)
    assert isinstance(store, SqlStore)
    try:
        for k, sid in enumerate(["late", "early"]):  # created out of start-time order
            store.create_session(SessionRow(sid, datetime(2025, 1, 2 - k, tzinfo=UTC)))
            store.append_telemetry(
                sid, pl.DataFrame({"t_s": [0.0, 0.1, 0.2], "speed_kph": [k + 0.0, k + 0.0, k + 1.0]})
            )
            store.append_signals(
                sid, pl.DataFrame({"signal_name": ["oil_p_bar"], "t_s": [0.1], "value": [k + 0.0]})
            )
        before = {sid: (store.read_telemetry(sid), store.read_signals(sid)) for sid in ("late", "early")}
        with store._write() as db:  # back to version 4: no numbers, SQLite indexed by session_id
            for table in ("telemetry", "telemetry_signals"):
                for statement in (
                    f"DROP INDEX IF EXISTS {table}__session_seq_{'_'.join(table_key(table))}",
                    f"ALTER TABLE {table} DROP COLUMN session_seq",
                ):
                    db.execute(statement)
            db.execute("ALTER TABLE sessions DROP COLUMN seq")
            db.execute("DELETE FROM schema_version WHERE version >= 5")
        assert migrate(store._write) == len(MIGRATIONS)
        with store._write() as db:
            assert db.fetch_rows("SELECT session_id, seq FROM sessions ORDER BY seq") == [
                ("early", 1),
                ("late", 2),
            ]
            assert db.fetch_rows(
                "SELECT DISTINCT session_id, session_seq FROM telemetry_signals ORDER BY session_seq"
            ) == [("early", 1), ("late", 2)]
        for sid, (telemetry, signals) in before.items():
            assert_frame_equal(store.read_telemetry(sid), telemetry)
            assert_frame_equal(store.read_signals(sid), signals)
            assert store.count_telemetry(sid) == 3
        store.create_session(SessionRow("next", datetime(2024, 1, 1, tzinfo=UTC)))
        store.append_telemetry("next", pl.DataFrame({"t_s": [0.0]}))
        assert store.read_telemetry("next")["frame_idx"].to_list() == [0]
        with store._write() as db:
            assert db.fetch_rows("SELECT seq FROM sessions WHERE session_id = 'next'") == [(3,)]
        store.delete_session("late")
        assert store.read_telemetry("late").is_empty() and store.count_telemetry("early") == 3
    finally:
        store.close()


def table_key(table: str) -> tuple[str, ...]:
    """The columns after the session in the table's index (``frame_idx``; ``signal_name``, ``t_s``)."""
    return ("frame_idx",) if table == "telemetry" else ("signal_name", "t_s")
