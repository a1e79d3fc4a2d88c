"""A database with a parquet lake beside it (``python -m pitwall --lake DIR``): a school's or a series' results
browsable next to one's own sessions.

* A read of one session goes to the store that holds it — the database first, then the lake.
* Listings merge both: ``list_sessions`` and ``list_laps`` newest first, the leaderboard re-ranked over both (a
  driver's best lap wherever it was stored).
* Every write goes to the database; a write that names a session of the lake is refused with
  :class:`~pitwall.store.base.ReadOnlyStore` (HTTP 409), never applied to a copy.

Anything else (registry, tokens, conversations, LLM logs) is the database's.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import polars as pl

from pitwall.store._sql_store import LAP_LIST_ORDER
from pitwall.store.base import ReadOnlyStore, SessionRow, Store, UnknownSession

SESSION_READS = frozenset(
    {
        "read_telemetry",
        "count_telemetry",
        "read_signals",
        "read_video_frames",
        "get_capabilities",
        "list_coaching_notes",
        "export_batches",
        "export_row_count",
    }
)
"""Reads of one session (its id the first argument): answered by the store that holds it."""

SESSION_WRITES = frozenset(
    {
        "end_session",
        "update_session",
        "delete_session",
        "append_telemetry",
        "append_signals",
        "append_video_frames",
        "recompute_capabilities",
        "replace_laps",
        "add_lap",
        "add_coaching_note",
    }
)
"""Writes to one session (its id the first argument): the database's sessions only."""


class LayeredStore:
    """``database`` with ``lake`` (a read-only :class:`~pitwall.store.lake.LakeStore`) beside it; see the
    module doc. ``backend`` and ``path`` are the database's."""

    def __init__(self, database: Store, lake: Store) -> None:
        self.database = database
        self.lake = lake
        self.backend = database.backend
        self.path = database.path

    def close(self) -> None:
        try:
            self.database.close()
        finally:
            self.lake.close()

    def holder(self, session_id: str) -> Store | None:
        """The store that holds ``session_id`` (the database first); ``None`` when neither does."""
        for store in (self.database, self.lake):
            try:
                store.get_session(session_id)
            except UnknownSession:
                continue
            return store
        return None

    def __getattr__(self, name: str) -> Any:
        method = getattr(self.database, name)
        if name in SESSION_READS:
            return self._read(name)
        if name in SESSION_WRITES:
            return self._write(name, method)
        return method

    def _read(self, name: str) -> Callable[..., Any]:
        def read(session_id: str, *args: Any, **kwargs: Any) -> Any:
            # an unknown id gets the database's own answer (an error or an empty result)
            store = self.holder(session_id) or self.database
            return getattr(store, name)(session_id, *args, **kwargs)

        return read

    def _write(self, name: str, method: Callable[..., Any]) -> Callable[..., Any]:
        def write(session_id: str, *args: Any, **kwargs: Any) -> Any:
            if self.holder(session_id) is self.lake:
                raise ReadOnlyStore(
                    f"session {session_id} is in the parquet lake {self.lake.path}, read-only"
                )
            return method(session_id, *args, **kwargs)

        return write

    # listings over both ------------------------------------------------------------------------------------
    def list_sessions(self, *, limit: int = 50, active_only: bool = False) -> pl.DataFrame:
        """Both stores' sessions, newest first (``started_at``), at most ``limit``."""
        frames = [s.list_sessions(limit=limit, active_only=active_only) for s in (self.database, self.lake)]
        return _newest(frames, "started_at", limit)

    def list_laps(self, *, session_id: str | None = None, limit: int = 20) -> pl.DataFrame:
        """One session's laps (from the store that holds it), or both stores' laps merged in the stores' own
        order (:data:`~pitwall.store._sql_store.LAP_LIST_ORDER`: newest session first, wherever it is stored)."""
        if session_id is not None:
            store = self.holder(session_id) or self.database  # the database's answer for an unknown id
            return store.list_laps(session_id=session_id, limit=limit)
        frames = [s.list_laps(limit=limit) for s in (self.database, self.lake)]
        merged = pl.concat(frames, how="vertical_relaxed")
        return merged.sort(
            list(LAP_LIST_ORDER), descending=list(LAP_LIST_ORDER.values()), nulls_last=True
        ).head(limit)

    def leaderboard(self, *, track: str | None = None, limit: int = 50) -> pl.DataFrame:
        """Best valid flying lap per (driver, car, track) over both stores, fastest first, ranked from 1."""
        boards = [s.leaderboard(track=track, limit=limit) for s in (self.database, self.lake)]
        merged = pl.concat(boards, how="vertical_relaxed").sort("best_lap_s", "started_at", "driver")
        best = merged.unique(["driver", "car", "track"], keep="first", maintain_order=True).head(limit)
        return best.drop("rank").with_row_index("rank", offset=1).with_columns(pl.col("rank").cast(pl.Int64))

    def get_session(self, session_id: str) -> SessionRow:
        """The session row from the database, else the lake; :class:`UnknownSession` when neither has it."""
        try:
            return self.database.get_session(session_id)
        except UnknownSession:
            return self.lake.get_session(session_id)


def _newest(frames: list[pl.DataFrame], column: str, limit: int) -> pl.DataFrame:
    present = [f for f in frames if f.height]
    if not present:
        return frames[0]
    return pl.concat(present, how="vertical_relaxed").sort(column, descending=True).head(limit)
