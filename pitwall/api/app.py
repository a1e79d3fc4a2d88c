"""The HTTP application: :func:`create_app` wires routers, resources and the one error shape.

Resources live on ``app.state`` (see :mod:`pitwall.api.deps`): ``settings``, ``store`` (``None`` when the
database cannot be opened — every DB route then answers 503), ``store_error``, ``track`` (the active track or
``None``), ``library`` (the track library or ``None``), ``cars`` (car configs, ``None`` when the cars folder
is missing), ``live`` (the live service; ``None`` until one is wired) and ``caches`` (name → ``clear()``
callable, emptied by ``POST /session/reset``).

To add routes, append your ``Router`` to :data:`ROUTE_HANDLERS`; to own a resource for the app's lifetime,
append an async context manager ``(app) -> AsyncIterator[None]`` to :data:`LIFESPANS` (entered in order).
"""

from __future__ import annotations

import gc
import json
import logging
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from functools import partial
from pathlib import Path
from typing import Any, Final, TypeVar, cast

import anyio.to_thread
from litestar import Litestar, Request, Response
from litestar.config.cors import CORSConfig
from litestar.datastructures import Headers, MutableScopeHeaders, State
from litestar.openapi import OpenAPIConfig
from litestar.openapi.plugins import RedocRenderPlugin
from litestar.types import ControllerRouterHandler, ExceptionHandlersMap, Message, Scope

from pitwall import __version__
from pitwall.api import (
    ask,
    braking,
    cars,
    coach,
    core,
    corners,
    diagnostics,
    driver,
    dynamics,
    exports,
    laps,
    leaderboard,
    live_diagnostics,
    realtime,
    replay,
    sessions,
    signals,
    track,
    video,
    web,
)
from pitwall.api.errors import EXCEPTION_HANDLERS, error_response
from pitwall.api.openapi import document_errors
from pitwall.api.security import remote_access_guard
from pitwall.config import Settings
from pitwall.formats.car import list_cars
from pitwall.formats.errors import ReadError
from pitwall.formats.track import TrackLibrary, load_track
from pitwall.live.recovery import close_orphaned_sessions
from pitwall.store import open_store
from pitwall.store.base import DatabaseLocked, ReadOnlyStore, SessionExists, StoreError, UnknownSession

log = logging.getLogger("pitwall.api")

T = TypeVar("T")

ROUTE_HANDLERS: list[ControllerRouterHandler] = [
    core.router,
    cars.router,
    sessions.router,
    signals.router,
    exports.router,
    leaderboard.router,
    diagnostics.router,
    live_diagnostics.router,
    realtime.router,
    replay.router,
    laps.router,
    corners.router,
    dynamics.router,
    braking.router,
    video.router,
    track.router,
    coach.router,
    ask.router,
    driver.router,
    web.router,
]
"""Every router of the app, one line each."""


def _open_resources(state: State) -> None:
    """Open the store and load the active track, the track library and the cars (blocking; runs in a thread).

    Nothing here is fatal: a resource that cannot be loaded is ``None`` and its routes answer 503/404.
    """
    settings: Settings = state.settings
    try:
        state.store = open_store(settings.db, backend=settings.backend, lake=settings.lake)
        state.store_error = None
    except Exception as exc:  # any failure to open means "no database": the app still serves the rest
        log.exception("database %s not opened", settings.db)
        state.store, state.store_error = None, f"{settings.db}: {exc}"
    else:
        try:
            if closed := close_orphaned_sessions(state.store):
                log.warning(
                    "closed %d live session(s) left open by a stopped process: %s", len(closed), closed
                )
        except StoreError as exc:  # a read-only store (a parquet lake) has nothing to repair
            log.info("no repair of open live sessions: %s", exc)
    state.track = _load_or_none("active track", settings.track, load_track)
    state.library = _load_or_none(
        "track library", settings.tracks_dir, partial(TrackLibrary, user_dir=settings.user_tracks_path)
    )
    state.cars = _load_or_none("cars", settings.cars_dir, list_cars)


def _load_or_none(what: str, path: Path, load: Callable[[Path], T]) -> T | None:
    """``load(path)``, or ``None`` (logged) when the path is missing or unreadable."""
    if not path.exists():
        log.warning("%s not loaded: %s does not exist", what, path)
        return None
    try:
        return load(path)
    except (ReadError, OSError) as exc:
        log.error("%s not loaded: %s", what, exc)
        return None


def _close_resources(state: State) -> None:
    store = state.get("store")
    if store is not None:
        state.store = None
        store.close()


@asynccontextmanager
async def resources(app: Litestar) -> AsyncIterator[None]:
    """Open the store, track, library and cars on startup; close the store on shutdown. The OpenAPI document
    is built here too, with the real error responses (:func:`pitwall.api.openapi.document_errors`)."""
    document_errors(app.openapi_schema)
    await anyio.to_thread.run_sync(_open_resources, app.state)
    try:
        yield
    finally:
        await anyio.to_thread.run_sync(_close_resources, app.state)


@asynccontextmanager
async def settled_heap(_: Litestar) -> AsyncIterator[None]:
    """Take what start-up built (modules, the app, the resources above, the live session) out of the cyclic
    garbage collector's scans until shutdown (``gc.freeze``). Those objects live as long as the server; without
    this every full collection walks all of them, a 50-80 ms pause of every thread (measured on the live path
    at 8,000 frames/s: the SSE p99 tail) instead of 3-10 ms for the objects made while serving. Constant time
    (no collection first: start-up garbage, a few cycles, waits for shutdown)."""
    gc.freeze()
    try:
        yield
    finally:
        gc.unfreeze()


LIFESPANS: list[Callable[[Litestar], AbstractAsyncContextManager[None]]] = [
    resources,
    realtime.realtime,
    coach.coach_lifespan,
    settled_heap,
]
"""Lifespan context managers, entered in order on startup and exited in reverse on shutdown."""


def _store_error(status: int, error: str) -> Callable[[Request[Any, Any, Any], StoreError], Response[Any]]:
    def handle(_: Request[Any, Any, Any], exc: StoreError) -> Response[Any]:
        return error_response(status, error, str(exc))

    return handle


STORE_EXCEPTION_HANDLERS: dict[type[Exception], Any] = {
    UnknownSession: _store_error(404, "unknown session"),
    SessionExists: _store_error(409, "session exists"),
    DatabaseLocked: _store_error(503, "database locked"),
    ReadOnlyStore: _store_error(409, "read-only store"),
}
"""Storage errors raised anywhere in a handler map to the one error shape with these status codes."""


def cors_config(settings: Settings) -> CORSConfig:
    """CORS for the browser clients (the PWA on its own origin): ``settings.allowed_origins`` only, every
    method and header, no credentials (the API uses no cookies), preflights cached 10 minutes. Applies to
    every response, the SSE streams included; preflights are answered before routing."""
    return CORSConfig(
        allow_origins=list(settings.allowed_origins),
        allow_methods=["*"],
        allow_headers=["*"],
        allow_credentials=False,
        expose_headers=["Content-Disposition", "X-Pitwall-Session", "X-Pitwall-Table", "X-Pitwall-Rows"],
        max_age=600,
    )


_REFUSED_PREFLIGHT: Final = "pitwall.refused_preflight"
"""Scope key set while a refused CORS preflight's plain-text answer is rewritten into the JSON error shape."""


async def json_preflight_refusal(message: Message, scope: Scope) -> None:
    """``before_send`` hook: Litestar's CORS middleware answers a refused preflight (origin or method not
    allowed) with a plain-text 400 before routing; rewrite it into the one JSON error shape
    (``{"error": "CORS preflight refused", "detail": {...}}``). Every other message passes unchanged."""
    if scope["type"] != "http" or scope.get("method") != "OPTIONS":
        return
    if message["type"] == "http.response.start" and message["status"] == 400:
        headers = MutableScopeHeaders.from_message(message)
        if not (headers.get("content-type") or "").startswith("text/plain"):
            return
        request = Headers.from_scope(scope)
        body = json.dumps(
            {
                "error": "CORS preflight refused",
                "detail": {
                    "origin": request.get("origin"),
                    "method": request.get("access-control-request-method"),
                    "hint": "the origin must be one of the server's allowed origins (--cors-origin)",
                },
            }
        ).encode()
        headers["content-type"] = "application/json"
        headers["content-length"] = str(len(body))
        scope[_REFUSED_PREFLIGHT] = body  # type: ignore[typeddict-unknown-key]
    elif message["type"] == "http.response.body" and _REFUSED_PREFLIGHT in scope:
        message["body"] = scope.pop(_REFUSED_PREFLIGHT)  # type: ignore[typeddict-item]


def create_app(
    settings: Settings, *, route_handlers: Sequence[ControllerRouterHandler] | None = None
) -> Litestar:
    """The Pitwall ASGI app for ``settings`` (resources are opened by the lifespan, not here).

    ``route_handlers`` replaces :data:`ROUTE_HANDLERS` (tests of a single router).
    """
    return Litestar(
        route_handlers=list(ROUTE_HANDLERS if route_handlers is None else route_handlers),
        lifespan=list(LIFESPANS),
        state=State(
            {
                "settings": settings,
                "store": None,
                "store_error": "not opened yet",
                "track": None,
                "library": None,
                "cars": None,
                "live": None,
                "caches": {},
            }
        ),
        exception_handlers=cast("ExceptionHandlersMap", {**EXCEPTION_HANDLERS, **STORE_EXCEPTION_HANDLERS}),
        middleware=[remote_access_guard(settings)],
        cors_config=cors_config(settings),
        before_send=[json_preflight_refusal],
        openapi_config=OpenAPIConfig(
            title="Pitwall",
            version=__version__,
            path="/schema",
            description='Local-first telemetry and driver coaching. Errors: {"error": str, "detail": any}.',
            render_plugins=[
                RedocRenderPlugin(
                    js_url=web.REDOC_JS_URL, google_fonts=False, path="/", favicon=web.FAVICON_LINK
                )
            ],
        ),
    )
