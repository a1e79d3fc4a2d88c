"""Replay: re-publish a recorded session on the bus at its recorded timing, scaled by ``speed``.

Frames go out on the ``telemetry`` topic in exactly the shape the live reader uses
(:func:`pitwall.live.bus.encode_frames`), carrying the *recorded* ``session_id``, ``frame_idx`` and ``t_s``, so a
client cannot tell replay from live. One replay runs at a time, on its own thread; frames due within the
same tick (≤ ``tick_s`` of wall time) are published together.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import numpy as np
import polars as pl

from pitwall.live.bus import TelemetryBus, encode_frames

_MIN_WAIT_S = 0.004
"""Shortest sleep between publishes: frames due within 4 ms go out together (bounds the wake-up rate)."""


class ReplayRunning(RuntimeError):
    """A replay is already running (HTTP 409)."""


@dataclass(frozen=True)
class ReplayInfo:
    """What :meth:`Replayer.start` launched. ``est_duration_s`` is wall seconds for one pass."""

    replay_id: str
    source_session_id: str
    total_frames: int
    est_duration_s: float
    speed: float
    loop: bool


@dataclass
class _Run:
    info: ReplayInfo
    t_s: np.ndarray  # recorded times, seconds, non-decreasing
    payloads: list[bytes]
    stop: threading.Event
    started: float  # time.monotonic() at start
    position: int = 0  # index of the next frame to emit in the current pass
    frames_emitted: int = 0
    thread: threading.Thread | None = None
    on_end: Callable[[], None] | None = None  # run by the replay thread once it has stopped or finished


class Replayer:
    """Runs at most one replay at a time on ``bus``. All methods are thread-safe."""

    def __init__(self, bus: TelemetryBus, *, tick_s: float = 0.02) -> None:
        self.bus = bus
        self.tick_s = tick_s
        self._run: _Run | None = None
        self._lock = threading.Lock()

    @property
    def running(self) -> bool:
        run = self._run
        return run is not None and run.thread is not None and run.thread.is_alive()

    def start(
        self,
        telemetry: pl.DataFrame,
        *,
        source_session_id: str,
        speed: float,
        loop: bool,
        on_end: Callable[[], None] | None = None,
    ) -> ReplayInfo:
        """Start publishing ``telemetry`` (a stored session, ordered by ``frame_idx``; needs ``session_id``,
        ``frame_idx``, ``t_s`` in seconds) at ``speed`` × recorded pace (``speed`` > 0). ``on_end`` is called
        (on the replay thread, before :meth:`stop` returns) once the replay has stopped or finished.

        Raises :class:`ReplayRunning` if a replay is running and ``ValueError`` for empty telemetry.
        """
        if telemetry.is_empty():
            raise ValueError(f"session {source_session_id!r} has no telemetry")
        if not speed > 0:
            raise ValueError(f"speed must be > 0, got {speed}")
        t_s = np.maximum.accumulate(telemetry["t_s"].fill_null(strategy="forward").fill_null(0.0).to_numpy())
        span_s = float(t_s[-1] - t_s[0])
        payloads = encode_frames(telemetry)
        with self._lock:
            if self.running:
                raise ReplayRunning("a replay is already running")
            now = datetime.now(UTC)
            info = ReplayInfo(
                replay_id=f"{source_session_id}-replay-{now:%Y%m%d-%H%M%S}",
                source_session_id=source_session_id,
                total_frames=len(payloads),
                est_duration_s=round(span_s / speed, 3),
                speed=speed,
                loop=loop,
            )
            run = _Run(info, t_s - t_s[0], payloads, threading.Event(), time.monotonic(), on_end=on_end)
            run.thread = threading.Thread(target=self._play, args=(run,), name="pitwall-replay", daemon=True)
            self._run = run
            run.thread.start()
        self.bus.notify(
            "replay_started", f"Replay of {source_session_id} at {speed:g}×", replay_id=info.replay_id
        )
        return info

    def stop(self) -> dict[str, Any]:
        """Stop the running replay: ``{"stopped": bool, "frames_emitted": int}`` (``False, 0`` when idle)."""
        with self._lock:
            run = self._run
            if run is None or not self.running:
                return {"stopped": False, "frames_emitted": 0}
            run.stop.set()
            assert run.thread is not None
            run.thread.join()
            return {"stopped": True, "frames_emitted": run.frames_emitted}

    def status(self) -> dict[str, Any]:
        """``{"running": False}`` when idle, else the contract's running shape.

        ``frame_idx`` is the position of the next frame to emit in the current pass (0..total_frames),
        ``elapsed_s`` wall seconds since start, ``est_remaining_s`` wall seconds left in the current pass.
        """
        run = self._run
        if run is None or not self.running:
            return {"running": False}
        position = run.position
        remaining_data_s = float(run.t_s[-1] - run.t_s[min(position, len(run.t_s) - 1)])
        return {
            "running": True,
            "source_session_id": run.info.source_session_id,
            "speed": run.info.speed,
            "loop": run.info.loop,
            "frame_idx": position,
            "total_frames": run.info.total_frames,
            "elapsed_s": round(time.monotonic() - run.started, 3),
            "est_remaining_s": round(remaining_data_s / run.info.speed, 3),
            "frames_emitted": run.frames_emitted,
        }

    def _play(self, run: _Run) -> None:
        """Publish frames as their scaled recorded time comes due; loop or finish at the end."""
        n = len(run.payloads)
        pass_start = run.started
        while not run.stop.is_set():
            due_data_s = (time.monotonic() - pass_start) * run.info.speed
            end = int(np.searchsorted(run.t_s, due_data_s, side="right"))
            if end > run.position:
                self.bus.publish_encoded("telemetry", run.payloads[run.position : end])
                run.frames_emitted += end - run.position
                run.position = end
            if run.position >= n:
                if not run.info.loop:
                    break
                run.position = 0
                pass_start = time.monotonic()
                continue
            wait_s = (run.t_s[run.position] - due_data_s) / run.info.speed
            run.stop.wait(min(max(wait_s, _MIN_WAIT_S), self.tick_s))
        run.payloads = []  # release the encoded frames; counters stay for stop()
        self.bus.notify(
            "replay_stopped" if run.stop.is_set() else "replay_finished",
            f"Replay of {run.info.source_session_id}: {run.frames_emitted} frames",
            replay_id=run.info.replay_id,
            frames_emitted=run.frames_emitted,
        )
        if run.on_end is not None:
            run.on_end()
