"""A parquet lake (:mod:`pitwall.lake`) opened read-only as a :class:`~pitwall.store.base.Store`.

The lake's ``sessions.parquet``, every partition's ``telemetry.parquet`` and ``laps.parquet`` become views of
an in-memory DuckDB database; the other tables are empty. Every read of the DuckDB backend works unchanged (the
same SQL), so the server (``python -m pitwall --db LAKE_DIR``) and the notebooks browse a school's lake as they
browse a database file. Every write raises :class:`ReadOnlyStore`.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from pitwall.lake import MANIFEST, SESSIONS_FILE, Lake
from pitwall.store._db import Db
from pitwall.store.base import ReadOnlyStore
from pitwall.store.duckdb import DuckDBStore


def is_lake(path: str | Path) -> bool:
    """Whether ``path`` is a folder holding a lake manifest."""
    return Path(path).is_dir() and (Path(path) / MANIFEST).is_file()


class LakeStore(DuckDBStore):
    """The read-only store over the lake at ``url`` (a folder or an fsspec URL)."""

    backend = "lake"
    seq_keyed = ()  # the lake's files carry no session numbers; their statistics prune by session_id

    def __init__(self, url: str | Path) -> None:
        super().__init__(Path(":memory:"))
        lake = Lake.open(str(url))
        lake.read_manifest()  # refuses another layout version
        self.path = str(url)
        if not lake.is_local:
            self._con.register_filesystem(lake.fs)
        root = str(url).rstrip("/") if not lake.is_local else lake.root
        with super()._write() as db:
            self._view(db, "sessions", f"{root}/{SESSIONS_FILE}", lake.exists(SESSIONS_FILE))
            for table in ("telemetry", "laps"):
                found = bool(lake.fs.glob(lake.path("*", "*", "*", "*", f"{table}.parquet")))
                self._view(db, table, f"{root}/*/*/*/*/{table}.parquet", found)
        self._read_only = True

    @staticmethod
    def _view(db: Db, table: str, pattern: str, present: bool) -> None:
        """Replace the empty ``table`` with a view of the parquet files at ``pattern`` (kept empty if none)."""
        if not present:
            return
        quoted = pattern.replace("'", "''")
        numbered = (
            ", ROW_NUMBER() OVER (ORDER BY started_at, session_id) AS seq" if table == "sessions" else ""
        )
        db.execute(f"DROP TABLE {table}")
        db.execute(
            f"CREATE VIEW {table} AS SELECT *{numbered} FROM read_parquet('{quoted}', hive_partitioning = false, "
            "union_by_name = true)"
        )

    @contextmanager
    def _write(self) -> Iterator[Db]:
        if getattr(self, "_read_only", False):
            raise ReadOnlyStore(f"{self.path} is a parquet lake, opened read-only")
        with super()._write() as db:
            yield db
