"""Replay routes: re-publish a stored session on the telemetry stream (``/session/replay/start|stop|status``).

Replayed frames carry the source session's ``session_id``, ``frame_idx`` and ``t_s`` in the live frame shape,
so ``GET /telemetry/stream`` clients cannot tell replay from live. Starting a replay stops a running live
reader first (its session is flushed and ended); when the replay stops or finishes, the live reader starts
again in a new session (:func:`pitwall.api.realtime.resume_live`).
"""

from __future__ import annotations

from functools import partial
from typing import Annotated

import msgspec
from litestar import Router, get, post
from litestar.datastructures import State

from pitwall.api.deps import live_of, store_of
from pitwall.api.errors import ApiError
from pitwall.api.realtime import resume_live
from pitwall.live.replay import Replayer, ReplayRunning


class ReplayStart(msgspec.Struct, forbid_unknown_fields=True):
    """``POST /session/replay/start``: ``speed`` multiplies the recorded pace (0.1..100)."""

    source_session_id: Annotated[str, msgspec.Meta(min_length=1)]
    speed: Annotated[float, msgspec.Meta(ge=0.1, le=100.0)] = 1.0
    loop: bool = False


class ReplayStarted(msgspec.Struct):
    """``est_duration_s``: wall seconds for one pass at ``speed``."""

    replay_id: str
    source_session_id: str
    total_frames: int
    est_duration_s: float
    speed: float
    loop: bool


class ReplayStopped(msgspec.Struct):
    """``stopped`` is false (with ``frames_emitted`` 0) when no replay was running."""

    stopped: bool
    frames_emitted: int


class ReplayStatusIdle(msgspec.Struct):
    """``GET /session/replay/status`` when no replay runs."""

    running: bool


class ReplayStatusRunning(msgspec.Struct):
    """``GET /session/replay/status`` while a replay runs: ``frame_idx`` is the next frame of the current pass,
    ``elapsed_s`` wall seconds since start, ``est_remaining_s`` wall seconds left in the current pass,
    ``frames_emitted`` frames published over all passes."""

    running: bool
    source_session_id: str
    speed: float
    loop: bool
    frame_idx: int
    total_frames: int
    elapsed_s: float
    est_remaining_s: float
    frames_emitted: int


def replayer_of(state: State) -> Replayer:
    replayer: Replayer = state.replayer
    return replayer


@post("/session/replay/start", operation_id="replay_start", status_code=200, sync_to_thread=True)
def replay_start(state: State, data: ReplayStart) -> ReplayStarted:
    """Start replaying a stored session. 400 missing id or speed outside 0.1..100, 404 the source has no
    telemetry, 409 a replay is already running, 503 no database."""
    store = store_of(state)
    replayer = replayer_of(state)
    if replayer.running:
        raise ApiError(409, "replay running", replayer.status())
    telemetry = store.read_telemetry(data.source_session_id)
    if telemetry.is_empty():
        raise ApiError(404, "no telemetry", f"session {data.source_session_id!r} has no telemetry to replay")
    live = live_of(state)
    resume = None
    if live is not None and live.running:  # the replay takes the stream; the live reader resumes after it
        live.stop_reader()
        resume = partial(resume_live, state)
    try:
        info = replayer.start(
            telemetry,
            source_session_id=data.source_session_id,
            speed=data.speed,
            loop=data.loop,
            on_end=resume,
        )
    except ReplayRunning as exc:
        if resume is not None:
            resume()
        raise ApiError(409, "replay running", str(exc)) from exc
    return msgspec.convert(info, ReplayStarted, from_attributes=True)


@post("/session/replay/stop", operation_id="replay_stop", status_code=200, sync_to_thread=True)
def replay_stop(state: State) -> ReplayStopped:
    """Stop the running replay; reports the frames it emitted. A live reader the replay stopped is running
    again (in a new session) when this returns; it also resumes when a replay finishes by itself."""
    return ReplayStopped(**replayer_of(state).stop())


@get("/session/replay/status", operation_id="replay_status", sync_to_thread=False)
def replay_status(state: State) -> ReplayStatusIdle | ReplayStatusRunning:
    """``{"running": false}`` when idle; the running shape of the contract while a replay runs."""
    status = replayer_of(state).status()
    return ReplayStatusRunning(**status) if status["running"] else ReplayStatusIdle(running=False)


router = Router("/", route_handlers=[replay_start, replay_stop, replay_status], tags=["replay"])
