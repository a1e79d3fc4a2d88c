"""Close live sessions that a killed process left open (run at server start, before a new live session).

A live or simulated session is ended by the live service when its stream stops; a process killed with
SIGKILL (or a power cut) cannot do that, and the session would stay "active" forever with a stale duration. At
startup every session whose ``source`` is ``live`` or ``simulator`` and whose ``ended_at`` is null is closed
from what was stored: ``ended_at`` = the last stored frame's time (``utc``, else ``started_at`` + its ``t_s``),
``n_frames``, ``duration_s`` (s) and ``distance_m`` (m, the largest cumulative distance) from the telemetry,
and ``meta.recovered`` records that the close was a repair. One server per database file is assumed (DuckDB
enforces it; for SQLite it is the documented rule).
"""

from __future__ import annotations

from datetime import timedelta
from typing import Final

import polars as pl

from pitwall.store.base import Store

LIVE_SOURCES: Final = ("live", "simulator")
"""Session sources recorded by a live process (a live CAN reader or the simulator)."""


def close_orphaned_sessions(store: Store) -> list[str]:
    """End every open live/simulated session (see the module doc); returns their ids."""
    open_rows = store.list_sessions(limit=10_000, active_only=True).filter(
        pl.col("source").is_in(LIVE_SOURCES)
    )
    closed = []
    for session_id in open_rows["session_id"].to_list():
        row = store.get_session(session_id)
        frames = store.read_telemetry(session_id, columns=["t_s", "utc", "distance_m"])
        last_t = float(frames["t_s"].max()) if frames.height else 0.0  # type: ignore[arg-type]
        last_utc = frames["utc"].drop_nulls().max() if frames.height else None
        ended = last_utc if last_utc is not None else row.started_at + timedelta(seconds=last_t)
        distance = frames["distance_m"].max() if frames.height else None
        store.update_session(
            session_id,
            n_frames=frames.height,
            duration_s=last_t,
            distance_m=float(distance) if distance is not None else row.distance_m,  # type: ignore[arg-type]
            meta={
                **row.meta,
                "recovered": "closed at startup: the recording process ended without closing it",
            },
        )
        store.end_session(session_id, at=ended)  # type: ignore[arg-type]
        closed.append(session_id)
    return closed
