"""Session views for HTTP handlers: a per-app LRU of :class:`~pitwall.session_view.SessionView`, the
mapping of view errors onto the JSON error shape (404 no telemetry / unknown session, 400 no complete lap),
and the helpers every ``GET /session/<sid>/…`` analysis controller shares (:func:`session_get`, :func:`rows`).

The session analysis routes (:mod:`pitwall.api.laps`, :mod:`~pitwall.api.corners`, :mod:`~pitwall.api.dynamics`,
:mod:`~pitwall.api.braking`, :mod:`~pitwall.api.video`) share one contract. Every route: 404 ``{"error": "no telemetry"}`` (or ``"unknown session"``) when the session has no telemetry, 400
``{"error": "no complete lap"}`` when it has no complete lap, 400 ``{"error": "invalid request"}`` for a query
parameter out of range. Handlers are thin: they take the cached :class:`~pitwall.session_view.SessionView` (and
its derived tables, computed once per session version), call the pure pipelines of :mod:`pitwall.analysis` and
collect. Units are in field names (``_s``, ``_m``, ``_kph``, ``_g``, ``_pct`` 0..100, ``_frac`` 0..1, ``_dps``,
``_ms``); ``s_m`` is the position along the session's track; analyses run over the complete laps."""

from __future__ import annotations

import threading
from collections.abc import Callable
from functools import wraps
from typing import Annotated, Concatenate, ParamSpec, TypeVar, cast

import msgspec
import polars as pl
from litestar import get
from litestar.datastructures import State
from litestar.params import Parameter

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


SessionId = Annotated[str, Parameter(description="session id")]

RowT = TypeVar("RowT", bound=msgspec.Struct)


def rows(df: pl.DataFrame, row_type: type[RowT]) -> list[RowT]:
    """The frame's rows as response structs (validated by msgspec)."""
    return msgspec.convert(df.to_dicts(), list[row_type])  # type: ignore[valid-type]


def session_get(route: str, operation_id: str) -> get:
    """The route decorator of a session analysis handler: ``GET /session/{session_id}/<route>``, run off the
    event loop (the pipelines and the store block)."""
    return get(f"/session/{{session_id:str}}/{route}", operation_id=operation_id, sync_to_thread=True)


def g_derived(view: SessionView) -> bool:
    """Whether the complete laps' g comes from GPS speed and course rather than an accelerometer."""
    return bool(view.driving.select(pl.col("g_derived").any()).collect().item())


P = ParamSpec("P")
R = TypeVar("R")


def per_view(body: Callable[Concatenate[SessionView, P], R]) -> Callable[Concatenate[SessionView, P], R]:
    """A route body ``body(view, *args)`` computed once per session version and arguments: kept with the view
    (:meth:`~pitwall.session_view.SessionView.memo`), so a repeated request costs the lookup and the encoding.
    Only for bodies that read nothing but the view and their arguments."""

    @wraps(body)
    def memoised(view: SessionView, *args: P.args, **kwargs: P.kwargs) -> R:
        key = (body.__module__, body.__qualname__, args, tuple(sorted(kwargs.items())))
        return view.memo(key, lambda: body(view, *args, **kwargs))

    return memoised
