"""Realtime routes: SSE streams of the in-process bus and spectator tokens; the lifespan that owns them.

Streams (``text/event-stream``; each opens with an ``event: hello`` ``{"stream", "session_id"}`` as the
original bridge's do; each event is ``id: <seq>`` + ``event: <name>`` + ``data: <json>``; a ``: heartbeat``
comment is sent after ``state.sse_heartbeat_s`` seconds without events (default 15 s); when a slow client's
bounded queue overflowed, an ``event: dropped`` with ``{"dropped": <total lost so far>}`` precedes the next
events; CORS headers as on every route):

* ``GET /telemetry/stream`` — one event per decoded telemetry frame, live or replay (shape documented in
  :mod:`pitwall.live.bus`: ``session_id``, ``frame_idx``, ``t_s``, ``utc``, every canonical column);
* ``GET /cues/stream`` — coaching cues as they are published on the ``cues`` topic;
* ``GET /notifications`` — inbox messages ``{"kind", "text", "utc", …}`` (live session started/ended,
  replay started/stopped/finished, …).

Spectator tokens (owner only: the remote-access guard lets only loopback clients POST/DELETE):
``POST /spectator/token`` ``{label, ttl_s (60..86400, default 3600), session_id}`` → 201 ``{token, expires_at,
ttl_s, session_id, url}``;
``DELETE /spectator/token/<token>`` → 200 ``{revoked: true}`` or 404 when unknown or already revoked.
"""

from __future__ import annotations

import logging
import secrets
import signal
import threading
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import partial
from types import FrameType
from typing import Annotated, Any, Final

import anyio.to_thread
import msgspec
from litestar import Litestar, Request, Router, delete, get, post
from litestar.datastructures import State
from litestar.params import Parameter
from litestar.response import ServerSentEvent, ServerSentEventMessage

from pitwall.api.deps import settings_of, store_of
from pitwall.api.errors import ApiError
from pitwall.api.schemas import iso_utc
from pitwall.api.security import SPECTATOR_STATE, Spectator, hash_token, token_still_valid
from pitwall.live.bus import TelemetryBus, Topic
from pitwall.live.replay import Replayer
from pitwall.live.service import LiveService

log = logging.getLogger("pitwall.realtime")

HEARTBEAT_S: Final = 15.0
"""Seconds without events before a stream sends a heartbeat comment (``state.sse_heartbeat_s`` overrides)."""
QUEUE_EVENTS: Final[dict[Topic, int]] = {"telemetry": 1024, "cues": 256, "notifications": 256}
"""Per-client queue bound for each stream; a slower client loses its oldest events."""


def bus_of(state: State) -> TelemetryBus:
    bus: TelemetryBus = state.bus
    return bus


# -------------------------------------------------------------------------------------------------------
# Lifespan
# -------------------------------------------------------------------------------------------------------


@asynccontextmanager
async def realtime(app: Litestar) -> AsyncIterator[None]:
    """Create the bus and the replayer; start the live service when ``--simulate`` or ``--can-channel`` is set.

    Shutdown: on SIGTERM/SIGINT the replay and the live reader stop at once (every pending frame is written and
    the session ended), then the bus closes, so the SSE streams send what is queued and end — otherwise the
    server would wait for those endless responses before running the lifespan exit. The lifespan exit
    repeats the same (idempotent) stop. Runs after the store is opened, so the store outlives it.
    """
    state = app.state
    state.bus = bus = TelemetryBus()
    state.replayer = Replayer(bus)
    state.setdefault("sse_heartbeat_s", HEARTBEAT_S)
    state.live = await anyio.to_thread.run_sync(_start_live, state)
    restore_signals = _chain_exit_signals(lambda: threading.Thread(target=_stop_all, args=(state,)).start())
    try:
        yield
    finally:
        restore_signals()
        await anyio.to_thread.run_sync(_stop_all, state)


def _chain_exit_signals(action: Callable[[], None]) -> Callable[[], None]:
    """Run ``action`` on SIGINT/SIGTERM before the server's own handler (uvicorn's graceful exit).

    Only in the main thread and only over a Python-level handler (else nothing is installed); returns the
    function restoring the previous handlers.
    """
    if threading.current_thread() is not threading.main_thread():
        return lambda: None
    previous = {sig: signal.getsignal(sig) for sig in (signal.SIGINT, signal.SIGTERM)}
    chained = {sig: handler for sig, handler in previous.items() if callable(handler)}

    def handle(sig: int, frame: FrameType | None) -> None:
        action()
        chained[signal.Signals(sig)](sig, frame)

    for sig in chained:
        signal.signal(sig, handle)

    def restore() -> None:
        for sig, handler in chained.items():
            signal.signal(sig, handler)

    return restore


def _start_live(state: State) -> LiveService | None:
    """The started live service, or ``None`` (no live source configured, or it failed: ``state.live_error``)."""
    settings = settings_of(state)
    state.live_error = None
    if not (settings.simulate or settings.can_channel):
        return None
    if state.get("store") is None:
        state.live_error = f"no database: {state.get('store_error')}"
    else:
        try:
            live = LiveService(settings, state.store, state.get("track"), bus=state.bus)
            live.start()
            return live
        except Exception as exc:  # a bad DBC/car file, a missing track or an unavailable CAN interface
            state.live_error = f"{type(exc).__name__}: {exc}"
    log.error("live reader not started: %s", state.live_error)
    return None


def resume_live(state: State) -> None:
    """Start the configured live reader again (a new session) after a replay stopped it; not while the app
    shuts down."""
    if not state.get("shutting_down"):
        state.live = _start_live(state)


def _stop_all(state: State) -> None:
    """Stop the replay and the live reader (flushing it), then close the bus (idempotent, thread-safe)."""
    state.shutting_down = True
    state.replayer.stop()
    live = state.get("live")
    if live is not None:
        live.stop_reader()
    state.bus.close()


# -------------------------------------------------------------------------------------------------------
# SSE
# -------------------------------------------------------------------------------------------------------


@dataclass
class _Encoded(ServerSentEventMessage):
    """Several events already encoded as SSE bytes, written in one chunk."""

    raw: bytes = b""

    def encode(self) -> bytes:
        return self.raw


TOKEN_RECHECK_S: Final = 1.0
"""How often (s) a spectator's open stream re-checks its token: a revoked or expired token ends the stream
within this time (an ``event: revoked`` is sent first)."""


async def _stream(
    bus: TelemetryBus,
    topic: Topic,
    heartbeat_s: float,
    session_id: str | None,
    still_allowed: Callable[[], bool] | None = None,
) -> AsyncIterator[ServerSentEventMessage]:
    sub = bus.subscribe(topic, maxlen=QUEUE_EVENTS[topic])
    try:
        yield ServerSentEventMessage(data=None, comment=f"connected {topic}", retry=2000)
        hello = msgspec.json.encode({"stream": topic, "session_id": session_id})
        yield _Encoded(raw=b"event: hello\ndata: %s\n\n" % hello)
        reported_dropped = 0
        next_check = time.monotonic() + TOKEN_RECHECK_S
        while True:
            wait = heartbeat_s if still_allowed is None else min(heartbeat_s, TOKEN_RECHECK_S)
            batch = await sub.next_batch(timeout=wait)
            if still_allowed is not None and time.monotonic() >= next_check:
                next_check = time.monotonic() + TOKEN_RECHECK_S
                if not await anyio.to_thread.run_sync(still_allowed):
                    yield _Encoded(
                        raw=b'event: revoked\ndata: {"reason": "spectator token revoked or expired"}\n\n'
                    )
                    return
            if not batch:
                if sub.closed:  # the server is shutting down: everything queued has been sent
                    return
                yield ServerSentEventMessage(data=None, comment="heartbeat")
                continue
            chunks = []
            if sub.dropped > reported_dropped:
                reported_dropped = sub.dropped
                chunks.append(b'event: dropped\ndata: {"dropped":%d}\n\n' % reported_dropped)
            chunks += [event.sse for event in batch if session_id is None or event.key == session_id]
            if chunks:
                yield _Encoded(raw=b"".join(chunks))
    finally:
        bus.unsubscribe(sub)


def _sse(request: Request[Any, Any, Any], topic: Topic, session_id: str | None = None) -> ServerSentEvent:
    """The stream of ``topic``; for an admitted spectator (:class:`~pitwall.api.security.Spectator` in the
    request state) the token is re-checked while the stream is open."""
    state = request.app.state
    spectator: Spectator | None = request.scope.get("state", {}).get(SPECTATOR_STATE)
    store = state.get("store")
    check = None if spectator is None or store is None else partial(token_still_valid, store, spectator)
    return ServerSentEvent(_stream(bus_of(state), topic, float(state.sse_heartbeat_s), session_id, check))


SessionFilter = Annotated[
    str | None, Parameter(min_length=1, max_length=200, description="only events of this session")
]


@get("/telemetry/stream", operation_id="telemetry_stream")
async def telemetry_stream(
    request: Request[Any, Any, Any], session_id: SessionFilter = None
) -> ServerSentEvent:
    """SSE of decoded telemetry frames (``event: telemetry``) from the live reader, a replay or
    ``/session/<sid>/frames``; ``session_id`` keeps one session's frames. Shape: see the module doc."""
    return _sse(request, "telemetry", session_id)


@get("/cues/stream", operation_id="cues_stream")
async def cues_stream(request: Request[Any, Any, Any], session_id: SessionFilter = None) -> ServerSentEvent:
    """SSE of one session's coaching cues (``event: cue``, ``{id, session_id, text, emotion, timestamp…}``);
    ``session_id`` is required (400 without it, as the original bridge answers)."""
    if session_id is None:
        raise ApiError(400, "invalid request", "session_id query parameter required")
    return _sse(request, "cues", session_id)


@get("/notifications", operation_id="notifications_stream")
async def notifications_stream(request: Request[Any, Any, Any]) -> ServerSentEvent:
    """SSE notification inbox: ``{"kind", "text", "utc", …}`` messages."""
    return _sse(request, "notifications")


# -------------------------------------------------------------------------------------------------------
# Spectator tokens
# -------------------------------------------------------------------------------------------------------


class TokenRequest(msgspec.Struct, forbid_unknown_fields=True):
    """``POST /spectator/token``: a label for the viewer, the lifetime in seconds (60..86400) and, as the
    original PWA sends it, the ``session_id`` the viewer is invited to watch."""

    label: Annotated[str, msgspec.Meta(max_length=200)] = ""
    ttl_s: Annotated[int, msgspec.Meta(ge=60, le=86_400)] = 3600
    session_id: str | None = None


class TokenIssued(msgspec.Struct):
    """The token (shown once; only its SHA-256 is stored), its expiry (ISO-8601 UTC) and lifetime (s); with a
    ``session_id``, the original clients' ``url`` to share (``/spectator/<session_id>?token=…``)."""

    token: str
    expires_at: str
    ttl_s: int
    session_id: str | None
    url: str | None


class TokenRevoked(msgspec.Struct):
    revoked: bool


@post("/spectator/token", operation_id="spectator_token_create", status_code=201, sync_to_thread=True)
def create_spectator_token(state: State, data: TokenRequest | None = None) -> TokenIssued:
    """Mint a time-limited read-only token for a remote pit-wall viewer (owner only; body optional).
    ``session_id`` names the session the viewer is invited to (404 when unknown)."""
    request = data or TokenRequest()
    store = store_of(state)
    if request.session_id is not None:
        store.get_session(request.session_id)  # UnknownSession → 404
    token = secrets.token_urlsafe(32)
    expires_at = datetime.now(UTC).replace(microsecond=0) + timedelta(seconds=request.ttl_s)
    store.add_spectator_token(hash_token(token), expires_at, request.label, session_id=request.session_id)
    sid = request.session_id
    return TokenIssued(
        token=token,
        expires_at=iso_utc(expires_at),
        ttl_s=request.ttl_s,
        session_id=sid,
        url=None if sid is None else f"/spectator/{sid}?token={token}",
    )


@delete(
    "/spectator/token/{token:str}",
    operation_id="spectator_token_revoke",
    status_code=200,
    sync_to_thread=True,
)
def revoke_spectator_token(state: State, token: str) -> TokenRevoked:
    """Revoke a token at once (owner only); 404 when it is unknown or already revoked."""
    if not store_of(state).revoke_spectator_token(hash_token(token)):
        raise ApiError(404, "unknown token", "no active spectator token matches")
    return TokenRevoked(revoked=True)


router = Router(
    "/",
    route_handlers=[
        telemetry_stream,
        cues_stream,
        notifications_stream,
        create_spectator_token,
        revoke_spectator_token,
    ],
    tags=["realtime"],
)
