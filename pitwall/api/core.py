"""``GET /health``: liveness with storage, track, live-CAN status and the active session."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from litestar import Router, get
from litestar.datastructures import State

from pitwall import __version__
from pitwall.api.deps import live_of
from pitwall.api.schemas import CanStatus, Health, SimulatorStatus, iso_utc
from pitwall.store.base import Store


def _can_status(live: Any) -> CanStatus | None:
    if live is None:
        return None
    stats: dict[str, Any] = live.stats()
    return CanStatus(
        connected=bool(stats.get("connected")), fps=stats.get("fps"), frames_total=stats.get("frames_total")
    )


def _simulator_status(state: State) -> SimulatorStatus | None:
    settings = state.get("settings")
    if settings is None:
        return None
    live = live_of(state)
    return SimulatorStatus(
        enabled=bool(settings.simulate),
        running=bool(settings.simulate and live is not None and getattr(live, "running", False)),
        lap_seconds=float(settings.simulate_lap_seconds),
        speed_multiplier=float(settings.simulate_speed),
    )


@get("/health", operation_id="health", sync_to_thread=True)
def health(state: State) -> Health:
    """Liveness probe. ``duckdb`` is true when the store is open (also for the SQLite backend, per contract);
    ``engine`` is null (no ML engine is loaded); ``coach`` is ``"rule"`` while the rule coach runs (its
    concepts loaded), else null; ``active_session_id`` is the newest session without ``ended_at``; ``can`` is
    null when no live reader runs; ``simulator``: whether the built-in simulator is enabled and running, its lap
    seconds and speed multiplier."""
    store: Store | None = state.get("store")
    track = state.get("track")
    return Health(
        status="ok",
        version=__version__,
        engine=None,
        coach=state.get("coach_engine"),
        track=None if track is None else track.name,
        duckdb=store is not None,
        active_session_id=None if store is None else store.active_session_id(),
        can=_can_status(live_of(state)),
        timestamp=iso_utc(datetime.now(UTC).replace(microsecond=0)),
        simulator=_simulator_status(state),
    )


router = Router("/", route_handlers=[health], tags=["health"])
