"""Storage: :func:`open_store` opens (creating and migrating) a DuckDB or SQLite database behind one protocol."""

from __future__ import annotations

from pathlib import Path
from typing import Final

from pitwall.config import backend_for
from pitwall.store._frames import EXPORT_MEMORY_POOL, prepare, rebatch
from pitwall.store._sql_store import export_schema, session_frame
from pitwall.store.base import (
    DatabaseLocked,
    SessionExists,
    SessionImport,
    SessionRow,
    Store,
    StoreError,
    UnknownSession,
)

BACKENDS: Final = ("duckdb", "sqlite")


def open_store(path: str | Path, *, backend: str | None = None, lake: str | Path | None = None) -> Store:
    """Open the database at ``path`` (parent folders and file created, migrations applied).

    ``backend`` is ``"duckdb"`` or ``"sqlite"``; ``None`` infers it from the suffix (:func:`backend_for`), or
    opens a folder holding a parquet lake (:mod:`pitwall.lake`) read-only (``"lake"``). ``lake``: a parquet lake
    (folder or fsspec URL) opened read-only *beside* the database (:mod:`pitwall.store.layered`).
    Raises :class:`DatabaseLocked` when another process holds the file, ``ValueError`` for an unknown backend.
    """
    if lake is not None:
        from pitwall.store.lake import LakeStore
        from pitwall.store.layered import LayeredStore

        database = open_store(path, backend=backend)
        try:
            return LayeredStore(database, LakeStore(lake))
        except BaseException:
            database.close()
            raise
    path = Path(path).expanduser()
    from pitwall.store.lake import LakeStore, is_lake

    if backend == "lake" or (backend is None and is_lake(path)):
        return LakeStore(path)
    name = backend or backend_for(path)
    if name not in BACKENDS:
        raise ValueError(f"unknown storage backend {name!r}; expected one of {', '.join(BACKENDS)}")
    path.parent.mkdir(parents=True, exist_ok=True)
    if name == "sqlite":
        from pitwall.store.sqlite import SQLiteStore

        return SQLiteStore(path)
    from pitwall.store.duckdb import DuckDBStore

    return DuckDBStore(path)


__all__ = [
    "BACKENDS",
    "EXPORT_MEMORY_POOL",
    "DatabaseLocked",
    "SessionExists",
    "SessionImport",
    "SessionRow",
    "Store",
    "StoreError",
    "UnknownSession",
    "backend_for",
    "export_schema",
    "open_store",
    "prepare",
    "rebatch",
    "session_frame",
]
