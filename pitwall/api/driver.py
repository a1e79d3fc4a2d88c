"""Driver routes: ``GET /driver/<driver_id>/profile`` and ``GET /driver/<driver_id>/evolution?track=``.

Both are event-sourced from what is stored (sessions, laps, coaching notes; :mod:`pitwall.coach.profile`):
nothing about a driver is stored on its own. A driver is the ``driver`` of the sessions.
"""

from __future__ import annotations

from dataclasses import asdict
from typing import Annotated, Any

import msgspec
import polars as pl
from litestar import Response, Router, get
from litestar.datastructures import State
from litestar.params import Parameter

from pitwall.api.coach import corner_stack
from pitwall.api.deps import store_of
from pitwall.api.errors import ApiError
from pitwall.coach.profile import (
    MIN_EVOLUTION_SESSIONS,
    biggest_corner_gain,
    driver_profile,
    evolution,
    session_bests,
)
from pitwall.schema import LAPS
from pitwall.store.base import Store

MAX_SESSIONS = 10_000


def _driver_sessions(store: Store, driver_id: str) -> pl.DataFrame:
    sessions = store.list_sessions(limit=MAX_SESSIONS).filter(pl.col("driver") == driver_id)
    if sessions.height == 0:
        raise ApiError(404, "unknown driver", f"no session has driver {driver_id!r}")
    return sessions


def _laps(store: Store, session_ids: list[str]) -> pl.DataFrame:
    frames = [store.list_laps(session_id=sid, limit=100_000).select(list(LAPS)) for sid in session_ids]
    return pl.concat(frames) if frames else pl.DataFrame(schema=LAPS)


@get("/driver/{driver_id:str}/profile", operation_id="driver_profile", sync_to_thread=True)
def profile(
    state: State,
    driver_id: str,
    events: Annotated[int, Parameter(ge=1, le=500, description="newest timeline events")] = 20,
) -> dict[str, Any]:
    """The driver's profile, recomputed from the stored events: totals (sessions, valid laps, driving time s,
    distance m), per track (sessions, best and last best lap s), cars, and the newest ``events`` of the
    timeline (sessions, personal bests, coaching notes). 404 when no session has this driver."""
    store = store_of(state)
    sessions = _driver_sessions(store, driver_id)
    ids = sessions["session_id"].to_list()
    notes = [store.list_coaching_notes(sid, limit=50) for sid in ids]
    notes_frame = pl.concat(notes) if notes else pl.DataFrame()
    return msgspec.to_builtins(
        driver_profile(driver_id, sessions, _laps(store, ids), notes_frame, recent=events)
    )


@get("/driver/{driver_id:str}/evolution", operation_id="driver_evolution", sync_to_thread=True)
def driver_evolution(
    state: State,
    driver_id: str,
    track: Annotated[
        str | None, Parameter(max_length=200, description="track id or name (default: most driven)")
    ] = None,
) -> Response[dict[str, Any] | None]:
    """The driver's best lap per session at one track over time (``series``, oldest first), summary deltas
    (first, last and best-ever best lap, ``delta_s`` = last − first, s; ``improvement_pct``) and the corner with
    the biggest gain (its mean time against the reference, first session vs last, s). 204 (no body) with fewer
    than 5 sessions at that track; 404 unknown driver."""
    store = store_of(state)
    sessions = _driver_sessions(store, driver_id)
    if track is None:
        track_id = (
            sessions.group_by("track_id")
            .len()
            .sort("len", "track_id", descending=[True, False])["track_id"][0]
        )
    else:
        matching = sessions.filter((pl.col("track_id") == track) | (pl.col("track") == track))
        track_id = matching["track_id"][0] if matching.height else track
    at_track = sessions.filter(pl.col("track_id") == track_id)
    if at_track.height < MIN_EVOLUTION_SESSIONS:
        return Response(content=None, status_code=204)
    ids = at_track["session_id"].to_list()
    bests = session_bests(at_track, _laps(store, ids))
    order = bests["session_id"].to_list()
    stack, _, _, _ = corner_stack(state, order)
    gain = biggest_corner_gain(stack, order)
    body = {
        "driver_id": driver_id,
        "track_id": track_id,
        **evolution(bests),
        "biggest_corner_gain": None if gain is None else asdict(gain),
    }
    return Response(content=msgspec.to_builtins(body))


router = Router("/", route_handlers=[profile, driver_evolution], tags=["driver"])
