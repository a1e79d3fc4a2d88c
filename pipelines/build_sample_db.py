"""``python -m pipelines sample-db [--db FILE]``: build the bundled sample database the notebooks open.

Every ``data/samples/*.vbo`` recording is imported with the real importer (:func:`pitwall.importer.import_vbo_file`,
track detected from the bundled library, laps sliced and stored) into a fresh DuckDB file, by default
:data:`SAMPLE_DB` (``data/samples/pitwall-sample.duckdb``; ``*.duckdb`` files are not committed). An existing
file at that path is replaced: the database is rebuilt in a temporary file next to it and moved into place, so
the same recordings always give the same sessions.

The driver of each session is the recording's driver code, the last ``_``-separated token of the file name when
it is 2–3 capital letters (``25IR05_RdAm_FP1_Run04_KO.vbo`` → ``KO``). In the Road America samples that token
follows the logger's own ``DriverID`` channel (``KO`` runs log DriverID 2, the ``TL`` run DriverID 1).
"""

from __future__ import annotations

import argparse
import os
import re
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from pitwall import DATA_DIR
from pitwall.formats.errors import ReadError
from pitwall.formats.track import TrackLibrary
from pitwall.importer import ImportResult, import_vbo_file
from pitwall.store import backend_for, open_store, server_lock
from pitwall.store.base import DatabaseLocked

NAME = "sample-db"
SAMPLES_DIR = DATA_DIR / "samples"
SAMPLE_DB = SAMPLES_DIR / "pitwall-sample.duckdb"
"""Where ``sample-db`` writes by default, and where the notebooks look when no database is given."""

_DRIVER_CODE = re.compile(r"[A-Z]{2,3}")


def sample_files(folder: Path = SAMPLES_DIR) -> list[Path]:
    """The VBO recordings of ``folder``, in name order."""
    return sorted(folder.glob("*.vbo"))


def driver_code(path: Path) -> str:
    """The driver code at the end of a recording's file name (``…_Run04_KO.vbo`` → ``KO``), else ``""``."""
    token = path.stem.rsplit("_", 1)[-1]
    return token if "_" in path.stem and _DRIVER_CODE.fullmatch(token) else ""


def build_sample_db(
    db: Path = SAMPLE_DB, *, files: Sequence[Path] | None = None, library: TrackLibrary | None = None
) -> list[ImportResult]:
    """Import ``files`` (default :func:`sample_files`) into a new database at ``db``, replacing any file there.

    Raises :class:`~pitwall.formats.errors.ReadError` for a recording that cannot be read (nothing is replaced
    then) and ``ValueError`` when there is no recording at all.
    """
    paths = sample_files() if files is None else list(files)
    if not paths:
        raise ValueError("no VBO recording to import")
    tracks = TrackLibrary() if library is None else library
    db = Path(db)
    refuse_if_in_use(db)
    building = db.with_name(db.name + ".building")
    _remove(building)
    store = open_store(building, backend=backend_for(db))
    try:
        results = [import_vbo_file(store, path, library=tracks, driver=driver_code(path)) for path in paths]
    except BaseException:
        store.close()
        _remove(building)
        raise
    store.close()
    _remove(db)
    os.replace(building, db)
    return results


def refuse_if_in_use(db: Path) -> None:
    """:class:`~pitwall.store.base.DatabaseLocked` when a running server (or, for DuckDB, any process) holds
    ``db``: replacing a file in use would make that process write into a deleted file."""
    if server_lock.held_by_server(db):
        raise DatabaseLocked(
            f"{db} is open in a running pitwall server; stop it first or choose another --db"
        )
    if db.exists() and backend_for(db) == "duckdb":
        open_store(db).close()  # DatabaseLocked when another process holds it


def _remove(db: Path) -> None:
    for path in (db, db.with_name(db.name + ".wal")):
        path.unlink(missing_ok=True)


def add_parser(subparsers: Any) -> None:
    """Register the ``sample-db`` job on the ``python -m pipelines`` dispatcher."""
    parser = subparsers.add_parser(NAME, help="build the notebooks' sample database from data/samples/*.vbo")
    parser.add_argument(
        "--db", type=Path, default=SAMPLE_DB, help=f"database file to write (default {SAMPLE_DB})"
    )
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    try:
        results = build_sample_db(Path(args.db))
    except (ReadError, ValueError, DatabaseLocked) as exc:
        print(f"sample-db: {exc}", file=sys.stderr)
        return 1
    for result in results:
        print(
            f"{result.session_id}: {result.vbo_source}, {result.n_frames} frames, "
            f"track {result.track or '(none)'}"
        )
    print(f"wrote {args.db} ({len(results)} sessions)")
    return 0
