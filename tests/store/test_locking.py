"""A database file held by another process gives DatabaseLocked naming the file (real second process)."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import polars as pl
import pytest

from pitwall.store import DatabaseLocked, open_store
from pitwall.store.sqlite import SQLiteStore

from .frames import session_row

# Each script takes the lock the way a running server would, says "ready", and holds it until stdin closes.
_HOLD_DUCKDB = (
    "import duckdb, sys; con = duckdb.connect(sys.argv[1]); print('ready', flush=True); sys.stdin.read()"
)
_HOLD_SQLITE_WRITE = (
    "import sqlite3, sys; con = sqlite3.connect(sys.argv[1], isolation_level=None); "
    "con.execute('BEGIN IMMEDIATE'); print('ready', flush=True); sys.stdin.read()"
)


@contextmanager
def _held(script: str, path: Path) -> Iterator[None]:
    holder = subprocess.Popen(
        [sys.executable, "-c", script, str(path)], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    )
    assert holder.stdin is not None and holder.stdout is not None
    try:
        assert holder.stdout.readline().strip() == "ready"
        yield
    finally:
        holder.stdin.close()
        holder.wait(timeout=20)


def test_duckdb_file_held_by_another_process(tmp_path: Path) -> None:
    path = tmp_path / "pitwall.duckdb"
    open_store(path).close()
    with _held(_HOLD_DUCKDB, path), pytest.raises(DatabaseLocked, match=str(path)):
        open_store(path)
    reopened = open_store(path)  # the lock goes with the process
    reopened.close()


def test_sqlite_writer_in_another_process(tmp_path: Path) -> None:
    path = tmp_path / "pitwall.sqlite"
    store = SQLiteStore(path, busy_timeout_s=0.2)
    store.create_session(session_row())
    try:
        with _held(_HOLD_SQLITE_WRITE, path):
            assert (
                store.get_session("ra-fp1").driver == "Taha"
            )  # WAL: reads go on while another process writes
            with pytest.raises(DatabaseLocked, match=str(path)):
                store.append_telemetry("ra-fp1", pl.DataFrame({"t_s": [0.0]}))
            with pytest.raises(DatabaseLocked, match=str(path)):
                SQLiteStore(path, busy_timeout_s=0.2)
        assert store.append_telemetry("ra-fp1", pl.DataFrame({"t_s": [0.0]})).to_list() == [0]
    finally:
        store.close()
