"""Session views for HTTP handlers: a per-app LRU of :class:`~pitwall.session_view.SessionView` and the
mapping of view errors onto the JSON error shape (404 no telemetry / unknown session, 400 no complete lap)."""

from __future__ import annotations

import threading
from typing import cast

from litestar.datastructures import State

from pitwall.api.deps import store_of
from pitwall.api.errors import ApiError
from pitwall.session_view import NoTelemetry, SessionView, SessionViewCache, SessionViewError, TrackLookup
from pitwall.store.base import UnknownSession
from pitwall.track import Track

CACHE_NAME = "session_view"
"""The name under which the view cache registers its ``clear`` in ``app.state.caches``."""

_state_lock = threading.Lock()


def view_cache_of(state: State) -> SessionViewCache:
    """The app's view cache, created on first use and registered in ``state.caches`` (name → clear callable)."""
    with _state_lock:
        cache = state.get("session_view_cache")
        if cache is None:
            cache = SessionViewCache()
            state.session_view_cache = cache
            caches = state.get("caches")
            if isinstance(caches, dict):
                caches[CACHE_NAME] = cache.clear
        return cast(SessionViewCache, cache)


def track_library_of(state: State) -> TrackLookup | None:
    """The track library kept on ``app.state`` (``None`` when the app has none)."""
    return cast("TrackLookup | None", state.get("library"))


def view_of(state: State, session_id: str, *, require_complete_lap: bool = True) -> SessionView:
    """The (cached) view of a session for an HTTP handler; errors become :class:`ApiError` (404/400/503).

    With ``require_complete_lap`` (the contract's analytics rule) a session without a complete lap is a 400.
    """
    store = store_of(state)
    try:
        n_frames = store.count_telemetry(session_id)
        if n_frames == 0:
            store.get_session(session_id)  # unknown session → 404 "unknown session" below
            raise NoTelemetry(session_id, "the session has no telemetry rows")
        view = view_cache_of(state).get_or_load(
            (session_id, n_frames),
            lambda: SessionView.load(
                store, session_id, track_library_of(state), cast("Track | None", state.get("track"))
            ),
        )
        if require_complete_lap:
            view.require_complete_lap()
    except UnknownSession as exc:
        raise ApiError(404, "unknown session", session_id) from exc
    except SessionViewError as exc:
        raise ApiError(exc.status, exc.error, str(exc)) from exc
    return view
