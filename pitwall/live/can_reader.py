"""``CanReader``: a thread that reads CAN frames in bulk, decodes them and hands out telemetry windows.

Sources: any python-can interface (``virtual``, ``slcan`` for a CANable on a phone, ``socketcan`` on a laptop,
…) or, with ``interface="canlog"``, a candump/ASC/CSV log file named by ``channel`` replayed at
``replay_speed`` × real time (0 = as fast as possible). Bus errors and unplugged adapters are not fatal: the
reader records ``last_error``, closes the bus and reopens it with exponential backoff until stopped.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, Final

import can

from pitwall.formats.canlog import read_can_log, write_can_log
from pitwall.formats.errors import ReadError
from pitwall.live.batches import WideBatcher, WideWindow
from pitwall.live.decode import Decoder
from pitwall.live.frames import FrameBatch

log = logging.getLogger(__name__)

LOG_INTERFACE: Final = "canlog"
"""``interface`` value that replays a CAN log file (``channel`` = its path) instead of opening a bus."""
MAX_BATCH: Final = 10_000
"""Most frames taken from the bus before they are decoded."""
GATHER_S: Final = 0.008
"""After the first frame of a batch, frames are gathered this long (wall s) before the batch is decoded:
decoding and batching have a fixed cost per batch, which small batches at a high frame rate would pay
thousands of times a second. Small next to the 100 ms data windows at real time."""
GATHER_FRAMES: Final = 256
"""… unless this many frames are already queued."""
FPS_WINDOW_S: Final = 2.0
"""Frames per second are averaged over this many seconds of wall time."""


class _BusSource:
    """A python-can bus read in bulk: wait up to ``poll_s`` for one frame, gather for ``gather_s`` (unless
    :data:`GATHER_FRAMES` are queued), then drain what is queued."""

    def __init__(self, bus: can.BusABC, poll_s: float, gather_s: float, stop: threading.Event) -> None:
        self.bus, self.poll_s, self.gather_s, self.stop, self.done = bus, poll_s, gather_s, stop, False

    def read(self) -> FrameBatch:
        first = self.bus.recv(timeout=self.poll_s)
        if first is None:
            return FrameBatch.empty()
        messages = [first]
        self._drain(messages, GATHER_FRAMES)
        if len(messages) < GATHER_FRAMES and self.gather_s > 0:
            self.stop.wait(self.gather_s)
        self._drain(messages, MAX_BATCH)
        return FrameBatch.from_messages(messages)

    def _drain(self, messages: list[can.Message], limit: int) -> None:
        recv = self.bus.recv
        while len(messages) < limit and (msg := recv(timeout=0)) is not None:
            messages.append(msg)

    def close(self) -> None:
        self.bus.shutdown()


class _LogSource:
    """A CAN log replayed in slices of ``poll_s`` × ``speed`` data seconds, paced against the wall clock."""

    def __init__(self, path: Path, poll_s: float, speed: float, stop: threading.Event) -> None:
        self.frames = FrameBatch.from_frame(read_can_log(path))
        self.poll_s, self.speed, self.stop = poll_s, speed, stop
        self.pos, self.done = 0, False
        self.t0_data = float(self.frames.t_s[0])
        self.t0_wall = time.monotonic()

    def read(self) -> FrameBatch:
        n = len(self.frames)
        if self.speed <= 0:
            end = min(self.pos + MAX_BATCH, n)
        else:
            due = self.t0_data + (time.monotonic() - self.t0_wall) * self.speed
            end = int(self.frames.t_s[self.pos :].searchsorted(due, side="right")) + self.pos
            if end == self.pos:
                wait = (float(self.frames.t_s[self.pos]) - due) / self.speed
                self.stop.wait(min(max(wait, 0.0), self.poll_s))
                return FrameBatch.empty()
        batch = self.frames.take(slice(self.pos, end))
        self.pos = end
        self.done = end >= n
        return batch

    def close(self) -> None:
        return None


class CanReader:
    """Read → decode → batch → ``on_window`` on a background thread.

    ``log_path`` (``.log`` or ``.csv``) records every received frame. ``bus_kwargs`` go to ``can.Bus`` (e.g.
    ``sleep_after_open=0`` for slcan). A bus is read in batches gathered for ``gather_s`` (:data:`GATHER_S`).
    ``on_window`` runs on the reader thread; an exception it raises is logged and kept as ``last_error`` and
    does not stop the reader. :meth:`stop` delivers the partial last window before returning.
    """

    def __init__(
        self,
        *,
        interface: str,
        channel: str,
        bitrate: int,
        decoder: Decoder,
        batcher: WideBatcher,
        on_window: Callable[[WideWindow], None],
        log_path: Path | None = None,
        replay_speed: float = 1.0,
        poll_s: float = 0.02,
        gather_s: float = GATHER_S,
        backoff_initial_s: float = 0.25,
        backoff_max_s: float = 8.0,
        bus_kwargs: Mapping[str, Any] | None = None,
    ) -> None:
        self.interface, self.channel, self.bitrate = interface, channel, bitrate
        self.decoder, self.batcher, self.on_window = decoder, batcher, on_window
        self.log_path = Path(log_path) if log_path is not None else None
        self.replay_speed, self.poll_s, self.gather_s = replay_speed, poll_s, gather_s
        self.backoff_initial_s, self.backoff_max_s = backoff_initial_s, backoff_max_s
        self.bus_kwargs = dict(bus_kwargs or {})
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._recent: deque[tuple[float, int]] = deque()
        self._log_started = False
        self._first_frame_at: float | None = None
        self.connected = False
        self.finished = False  # a replayed log reached its end
        self.connects = 0
        self.frames_total = 0
        self.windows_emitted = 0
        self.last_error: str | None = None

    # lifecycle -------------------------------------------------------------------------------------------

    def start(self) -> None:
        """Start the reader thread (once)."""
        if self._thread is not None:
            raise RuntimeError("CanReader already started")
        self._thread = threading.Thread(target=self._run, name=f"can-reader-{self.channel}", daemon=True)
        self._thread.start()

    def stop(self, timeout_s: float = 5.0) -> None:
        """Stop reading, deliver the partial window, close the bus. Idempotent."""
        self._stop.set()
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(timeout_s)

    def wait_connected(self, timeout_s: float) -> bool:
        """Block until the bus is open (True) or ``timeout_s`` passes (False)."""
        deadline = time.monotonic() + timeout_s
        while not self.connected and time.monotonic() < deadline and not self._stop.is_set():
            time.sleep(0.005)
        return self.connected

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def stats(self) -> dict[str, Any]:
        """Reader state for ``/health`` and ``/diagnostics/can``."""
        now = time.monotonic()
        with self._lock:
            self._trim(now)
            recent = sum(n for _, n in self._recent)
            first = self._first_frame_at
        span = max(min(FPS_WINDOW_S, now - first), self.poll_s) if first is not None else FPS_WINDOW_S
        return {
            "interface": self.interface,
            "channel": self.channel,
            "bitrate": self.bitrate,
            "connected": self.connected,
            "fps": round(recent / span, 1),
            "frames_total": self.frames_total,
            "unknown_frames": self.decoder.unknown_frames,
            "short_frames": self.decoder.short_frames,
            "last_error": self.last_error,
            "connects": self.connects,
            "windows_emitted": self.windows_emitted,
            "running": self.running,
            "finished": self.finished,
        }

    # thread ----------------------------------------------------------------------------------------------

    def _open(self) -> _BusSource | _LogSource:
        if self.interface == LOG_INTERFACE:
            return _LogSource(Path(self.channel), self.poll_s, self.replay_speed, self._stop)
        bus = can.Bus(interface=self.interface, channel=self.channel, bitrate=self.bitrate, **self.bus_kwargs)
        return _BusSource(bus, self.poll_s, self.gather_s, self._stop)

    def _run(self) -> None:
        backoff = self.backoff_initial_s
        try:
            while not self._stop.is_set() and not self.finished:
                try:
                    source = self._open()
                except ReadError as exc:  # a log file that cannot be read will not get better
                    self._record_error(exc)
                    return
                except (can.CanError, OSError, ValueError, ImportError) as exc:
                    self._record_error(exc)
                    self._stop.wait(backoff)
                    backoff = min(backoff * 2, self.backoff_max_s)
                    continue
                self.connected = True
                self.connects += 1
                try:
                    while not self._stop.is_set():
                        batch = source.read()
                        if len(batch):
                            self._process(batch)
                            backoff = self.backoff_initial_s
                        if source.done:
                            self.finished = True
                            break
                except (can.CanError, OSError, ValueError) as exc:
                    self._record_error(exc)
                    self._stop.wait(backoff)
                    backoff = min(backoff * 2, self.backoff_max_s)
                finally:
                    self.connected = False
                    self._close(source)
        finally:
            for window in self.batcher.flush():
                self._deliver(window)

    def _close(self, source: _BusSource | _LogSource) -> None:
        try:
            source.close()
        except (can.CanError, OSError) as exc:
            log.debug("closing %s:%s: %s", self.interface, self.channel, exc)

    def _process(self, batch: FrameBatch) -> None:
        now = time.monotonic()
        with self._lock:
            self.frames_total += len(batch)
            if self._first_frame_at is None:
                self._first_frame_at = now
            self._recent.append((now, len(batch)))
            self._trim(now)
        if self.log_path is not None:
            write_can_log(batch.to_frame(), self.log_path, append=self._log_started)
            self._log_started = True
        for window in self.batcher.push(self.decoder.decode(batch)):
            self._deliver(window)

    def _deliver(self, window: WideWindow) -> None:
        self.windows_emitted += 1
        try:
            self.on_window(window)
        except Exception as exc:
            log.exception("on_window failed")
            self.last_error = f"on_window: {type(exc).__name__}: {exc}"

    def _record_error(self, exc: BaseException) -> None:
        self.last_error = f"{type(exc).__name__}: {exc}"
        log.warning("CAN %s:%s: %s", self.interface, self.channel, self.last_error)

    def _trim(self, now: float) -> None:
        while self._recent and now - self._recent[0][0] > FPS_WINDOW_S:
            self._recent.popleft()
