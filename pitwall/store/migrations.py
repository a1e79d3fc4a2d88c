"""Schema migrations: an ordered list, each applied in its own transaction with its ``schema_version`` row.

A database records every applied migration in ``schema_version``; :func:`migrate` applies the pending ones in
order and returns the resulting version. Migration 1 creates the contract's tables from the declarations in
:mod:`pitwall.store._tables` and seeds ``signal_registry`` with the OBD-II PIDs of
``data/registry/obd2_pids.json``. A later schema change appends a migration (``ALTER TABLE …``) *and* updates
the declaration, so fresh and migrated databases agree.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import polars as pl

from pitwall import DATA_DIR, schema
from pitwall.store._db import Db
from pitwall.store._tables import (
    SCHEMA_VERSION_TABLE,
    SEQ_KEYED,
    SESSION_SEQ,
    TABLES,
    create_table_sql,
    index_name,
    index_sql,
)
from pitwall.store.base import LEGACY_HASH_PREFIX, StoreError

OBD2_PIDS_PATH = DATA_DIR / "registry" / "obd2_pids.json"


@dataclass(frozen=True)
class Migration:
    """One schema step; ``apply`` runs inside the transaction that records ``version``."""

    version: int
    name: str
    apply: Callable[[Db], None]


def obd2_registry(path: Path = OBD2_PIDS_PATH) -> pl.DataFrame:
    """The SAE J1979 mode-01 PIDs of ``path`` as ``signal_registry`` rows (source ``obd2``, pid ``"0x0C"``)."""
    pids = json.loads(path.read_text(encoding="utf-8"))["pids"]
    rows = pl.DataFrame(
        {
            "signal_name": [p["name"] for p in pids],
            "unit": [p["unit"] for p in pids],
            "source": ["obd2"] * len(pids),
            "description": [p["description"] for p in pids],
            "pid": [p["pid"] for p in pids],
            "min_value": [float(p["min"]) for p in pids],
            "max_value": [float(p["max"]) for p in pids],
        }
    )
    return schema.conform(rows, schema.SIGNAL_REGISTRY)


def _initial(db: Db) -> None:
    for table in TABLES.values():
        for statement in create_table_sql(table, db.dialect):
            db.execute(statement)
    db.insert_frame("signal_registry", obd2_registry())


def _columns(db: Db, table: str) -> set[str]:
    if db.dialect.name == "sqlite":
        return {str(row[1]) for row in db.fetch_rows(f"PRAGMA table_info({table})")}
    rows = db.fetch_rows("SELECT column_name FROM information_schema.columns WHERE table_name = ?", (table,))
    return {str(row[0]) for row in rows}


def _token_scope(db: Db) -> None:
    """``spectator_tokens.session_id`` (databases created before it was declared)."""
    if "session_id" not in _columns(db, "spectator_tokens"):
        db.execute("ALTER TABLE spectator_tokens ADD COLUMN session_id " + db.dialect.sql_type(pl.String()))


def _lap_clock_repairs(db: Db) -> None:
    """``laps.clock_repairs`` (databases created before it was declared; their laps read null: not checked)."""
    if "clock_repairs" not in _columns(db, "laps"):
        db.execute("ALTER TABLE laps ADD COLUMN clock_repairs " + db.dialect.sql_type(pl.Int32()))


def _telemetry_offset(db: Db) -> None:
    """``telemetry.offset_m`` (databases created before it was declared; their rows read null: positioned when
    viewed, as before)."""
    if "offset_m" not in _columns(db, "telemetry"):
        db.execute("ALTER TABLE telemetry ADD COLUMN offset_m " + db.dialect.sql_type(pl.Float64()))


def _session_seq(db: Db) -> None:
    """``sessions.seq`` (1, 2, 3… by ``started_at``, then id) and ``session_seq`` on the rows of
    :data:`~pitwall.store._tables.SEQ_KEYED`, which are then read by it (SQLite: indexed by it instead of
    ``session_id``). Databases created with the columns already have them and keep their numbers."""
    number = db.dialect.sql_type(pl.Int64())
    if "seq" not in _columns(db, "sessions"):
        db.execute(f"ALTER TABLE sessions ADD COLUMN seq {number}")
        db.execute(
            "UPDATE sessions SET seq = ranked.n FROM (SELECT session_id, "
            "ROW_NUMBER() OVER (ORDER BY started_at, session_id) AS n FROM sessions) AS ranked "
            "WHERE sessions.session_id = ranked.session_id"
        )
    for name in SEQ_KEYED:
        if SESSION_SEQ not in _columns(db, name):
            db.execute(f"ALTER TABLE {name} ADD COLUMN {SESSION_SEQ} {number}")
            db.execute(
                f"UPDATE {name} SET {SESSION_SEQ} = sessions.seq FROM sessions "
                f"WHERE sessions.session_id = {name}.session_id"
            )
        for statement in index_sql(TABLES[name], db.dialect):
            db.execute(statement)
        if db.dialect.secondary_indexes:  # the index by session_id the new one replaces
            db.execute(
                f"DROP INDEX IF EXISTS {index_name(name, ('session_id', *TABLES[name].indexes[0][1:]))}"
            )


def _legacy_hashes(db: Db) -> None:
    """Every stored ``content_hash`` marked :data:`~pitwall.store.base.LEGACY_HASH_PREFIX`: it was computed
    with the distance, which the hash no longer takes in (the importer still recognises such sessions)."""
    db.execute(
        "UPDATE sessions SET content_hash = ? || content_hash WHERE content_hash <> '' AND content_hash NOT LIKE ?",
        (LEGACY_HASH_PREFIX, LEGACY_HASH_PREFIX + "%"),
    )


MIGRATIONS: tuple[Migration, ...] = (
    Migration(1, "contract tables; signal_registry seeded with 54 OBD-II PIDs", _initial),
    Migration(2, "spectator tokens scoped to a session", _token_scope),
    Migration(3, "laps marked with the clock faults repaired inside them", _lap_clock_repairs),
    Migration(4, "telemetry keeps its track position (s_m, offset_m) from the import", _telemetry_offset),
    Migration(5, "sessions numbered; telemetry and signals read by that number", _session_seq),
    Migration(6, "content hashes of the logged samples only; older ones marked legacy", _legacy_hashes),
)
"""Every migration, in version order (1, 2, 3…)."""


def current_version(db: Db) -> int:
    """The highest applied migration version (0 for an empty database)."""
    ((version,),) = db.fetch_rows(f"SELECT COALESCE(MAX(version), 0) FROM {SCHEMA_VERSION_TABLE.name}")
    return int(version)


def migrate(
    write: Callable[[], AbstractContextManager[Db]], migrations: Sequence[Migration] = MIGRATIONS
) -> int:
    """Apply the pending ``migrations`` in order, each in one ``write()`` transaction; returns the new version.

    ``write`` opens a write transaction (committed on exit, rolled back on error), so a failing migration
    leaves the database at the previous version. Raises :class:`StoreError` when the database is newer than
    the newest known migration.
    """
    if [m.version for m in migrations] != list(range(1, len(migrations) + 1)):
        raise ValueError("migrations must be numbered 1, 2, 3… in order")
    with write() as db:
        for statement in create_table_sql(SCHEMA_VERSION_TABLE, db.dialect):
            db.execute(statement)
        version = current_version(db)
    if version > len(migrations):
        raise StoreError(
            f"database schema version {version} is newer than this pitwall knows ({len(migrations)}); upgrade pitwall"
        )
    for migration in migrations[version:]:
        with write() as db:
            if current_version(db) >= migration.version:  # another process got there first
                continue
            migration.apply(db)
            db.execute(
                f"INSERT INTO {SCHEMA_VERSION_TABLE.name} (version, name, applied_at) VALUES (?, ?, ?)",
                (migration.version, migration.name, datetime.now(UTC)),
            )
    return max(version, len(migrations))
