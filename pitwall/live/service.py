"""The live service: CAN reader (hardware or the built-in simulator) → session in the store + frames on the bus.

* ``--simulate``: a :class:`~pitwall.live.simulator.Simulator` sends AiM-MXP frames on a private python-can
  ``virtual`` channel and a :class:`~pitwall.live.can_reader.CanReader` reads them back — the same reader
  that serves real hardware. Otherwise ``--can-channel`` opens the reader on ``--can-interface``.
* Three threads, none waiting for a slower stage: the **reader** only queues each decoded window (≈100 ms of
  data). The **pump** takes everything queued (one window at 1× speed; several when data comes faster, so
  per-batch costs are shared; at most one cycle per :data:`PUMP_CYCLE_S`), stamps the rows for the session and
  publishes one telemetry event per row on the bus (:func:`pitwall.live.bus.encode_frames` shape) — as soon
  as the store allows (next point). The **writer** appends to the store.
* No frame is published more than ``flush_s`` (1 s) of data time ahead of the newest stored frame, so a crash
  loses at most the unflushed second of what clients saw. Telemetry is appended once it spans ``flush_s`` of
  data time past the last stored row, or ``flush_s`` less a lead (:data:`WRITE_LEAD_S`: 1.5 × the slowest
  recent write) of wall time after the last write took its rows (about one write per second of data; at real
  time the write finishes before any row has to wait for it); rows
  past the limit wait for that write, the others are published at once. Tall rows,
  which clients never see, go in the same transaction as the telemetry (one commit per cycle, and no large
  write of their own holding up the next one); alone, once per ``flush_s`` of wall time while no telemetry
  is pending.
  :meth:`LiveService.stop_reader` (run on SIGTERM by the app) writes and publishes everything and ends the
  session.
* ``frame_idx`` is assigned here, counting from 0 for the new session; the store assigns the same numbers on
  append (one writer per session), which :meth:`LiveService._write_telemetry` checks.
* A live session is a session like any other while it runs: a fourth thread, the **lap keeper**, re-slices the
  stored rows (:func:`pitwall.session_view.session_laps` over the lap columns kept in memory as they are
  written) every :data:`LAP_CHECK_S` of wall time and stores the lap table (``Store.replace_laps``) whenever
  it changed, so ``/sessions``, ``/laps`` and ``/leaderboard`` show each lap once it completes (and a
  ``lap_completed`` notification ``{lap, lap_kind, duration_s, valid, session_id}`` is published); it also keeps
  the session's ``n_frames``, ``duration_s`` and ``distance_m`` current. The last check runs at stop, before
  ``ended_at`` is stamped.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections import deque
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Final

import polars as pl

from pitwall import DATA_DIR
from pitwall.analysis.geo import path_steps_m
from pitwall.analysis.laps import LAP_COLUMNS
from pitwall.config import Settings
from pitwall.formats.car import CarConfig, load_car
from pitwall.formats.dbc import load_dbc
from pitwall.importer import make_session_id
from pitwall.live.batches import WideBatcher, WideWindow, tall_frame, wide_frame
from pitwall.live.bus import TelemetryBus
from pitwall.live.can_reader import CanReader
from pitwall.live.decode import Decoder
from pitwall.live.simulator import Simulator
from pitwall.session_view import session_laps
from pitwall.store.base import SessionExists, SessionRow, Store
from pitwall.track import Track

log = logging.getLogger("pitwall.live")

DEFAULT_CAR: Final = DATA_DIR / "cars" / "bmw_e46_m3.yaml"
"""The car used when ``--can-car-config`` is not given (the bundled AiM-MXP car)."""
CONNECT_TIMEOUT_S: Final = 5.0
"""How long ``start`` waits for the reader to open the simulator's virtual channel."""
FLUSH_S: Final = 1.0
"""Longest span of data (and of wall time) kept in memory before it is written to the store."""
WRITE_LEAD_S: Final = 0.1
"""Least lead of a telemetry write, s: how much sooner than ``flush_s`` of wall time after the previous write
took its rows the next one takes its own. At real time (hardware, speed 1) rows reach the publish limit
``flush_s`` of wall time after the previous write took its rows, so a write has its lead to finish before any
row waits for it. The lead grows to :data:`WRITE_LEAD_FACTOR` × the slowest of the last
:data:`WRITE_TIMES_KEPT` writes (a DuckDB commit that waits for the lap keeper's writes on busy shared cores
took 100-140 ms), at most half of ``flush_s``."""
WRITE_LEAD_FACTOR: Final = 1.5
"""Lead of a telemetry write over the slowest recent write's wall time (see :data:`WRITE_LEAD_S`)."""
WRITE_TIMES_KEPT: Final = 8
"""Recent telemetry writes whose wall time sets the lead (see :data:`WRITE_LEAD_S`)."""
WRITE_RETRY_S: Final = 0.25
"""Pause after a failed store write before the next attempt."""
PUMP_CYCLE_S: Final = 0.01
"""Shortest wall time between two pump cycles: rows arriving faster are published together (each cycle
costs every SSE client a wake-up and a write)."""
WINDOW_WALL_S: Final = 0.01
"""Wall seconds of data a batcher window should span: rows reach clients once their window is complete, so at
real time (hardware, ``--simulate-speed 1``) a 100 ms window alone held every row 50 ms on average. 10 ms is
about one read of the bus (:data:`pitwall.live.can_reader.GATHER_S`): at 8,000 frames/s with 100 SSE clients,
SSE p50 15-17 ms and p99 40-41 ms against 20-21 and 45-50 ms with 20 ms windows, for 0.85-0.96 of a core
instead of 0.77-0.79."""
WINDOW_MAX_S: Final = 0.1
"""Longest batcher window, s of data (an accelerated simulation: shorter windows would only add per-window work)."""
LAP_CHECK_S: Final = 2.0
"""Wall seconds between two lap checks of the running session (a completed lap is stored within this)."""


def travelled_m(rows: pl.DataFrame) -> float:
    """Distance travelled, m: the largest cumulative ``distance_m`` when logged, else the length of the GPS
    path (``lat_deg``/``lon_deg``, fixes without both skipped); 0 without either."""
    logged = rows["distance_m"].max()
    if isinstance(logged, int | float):
        return float(logged)
    fixes = rows.select("lat_deg", "lon_deg").drop_nulls()
    return float(path_steps_m(fixes["lat_deg"], fixes["lon_deg"]).sum()) if fixes.height > 1 else 0.0


class LiveService:
    """Owns one live session: reader (+ simulator), store appends, bus publishing. Thread-safe.

    ``window_s``: the batcher's window, s of data — :data:`WINDOW_WALL_S` of wall time at the source's speed
    (1 for hardware), at most :data:`WINDOW_MAX_S`.
    """

    def __init__(
        self,
        settings: Settings,
        store: Store,
        track: Track | None,
        *,
        bus: TelemetryBus,
        flush_s: float = FLUSH_S,
    ) -> None:
        self.settings = settings
        self.store = store
        self.track = track
        self.bus = bus
        self.flush_s = flush_s
        self.source = "simulator" if settings.simulate else "live"
        self.session_id: str | None = None
        self.car: CarConfig = load_car(Path(settings.can_car_config or DEFAULT_CAR))
        speed = settings.simulate_speed if settings.simulate else 1.0
        self.window_s = min(WINDOW_MAX_S, WINDOW_WALL_S * speed)
        self._db = load_dbc(list(settings.can_dbc))
        self._reader: CanReader | None = None
        self._reader_stats: dict[str, Any] = {}  # the reader's last figures once it has stopped
        self._simulator: Simulator | None = None
        self._simulator_stats: dict[str, Any] = {}  # the simulator's last figures once it has stopped
        self._lock = threading.Lock()  # guards the row buffers, counters and publishing
        self._write_wanted = threading.Condition(self._lock)  # wakes the writer
        self._inbox: list[WideWindow] = []  # windows queued by the reader for the pump
        self._inbox_ready = threading.Condition()
        self._pump_thread: threading.Thread | None = None
        self._pump_stop = False
        self._released = False  # a write allowed more rows to be published
        self._writer_thread: threading.Thread | None = None
        self._writer_stop = False
        self._stop_lock = threading.Lock()  # serialises stop_reader callers
        self._pending_wide: list[pl.DataFrame] = []  # stamped rows not yet stored
        self._writing_rows = 0  # rows the writer has taken and not yet stored
        self._unpublished: list[pl.DataFrame] = []  # stamped rows not yet published (the newest)
        self._pending_tall: list[pl.DataFrame] = []
        self._stored_t_s = 0.0  # session t_s of the newest stored row (0 = session start)
        self._last_cut = time.monotonic()  # wall time the last telemetry write took its rows
        self._write_s: deque[float] = deque(maxlen=WRITE_TIMES_KEPT)  # wall s of recent telemetry writes
        self._last_signals_flush = time.monotonic()
        self._t0_s: float | None = None  # reader t_s of the session's first row
        self._started_at: datetime | None = None
        self._next_frame_idx = 0
        self._last_t_s = 0.0  # session t_s of the newest row
        self.frames_published = 0
        self.frames_stored = 0
        self.flushes = 0
        self.last_flush_utc: datetime | None = None
        self.store_error: str | None = None
        self.running = False
        self._lap_rows: list[
            pl.DataFrame
        ] = []  # LAP_COLUMNS of every stored row (what lap slicing reads), in order (guarded by _lock)
        self._laps_stop = threading.Event()
        self._laps_thread: threading.Thread | None = None
        self._laps_seen: pl.DataFrame | None = None  # the lap table last stored
        self.laps_stored = 0  # completed laps in the stored lap table

    # lifecycle ----------------------------------------------------------------------------------------

    def start(self) -> str:
        """Create the session and start reading (and simulating); returns the session id."""
        track = self.track
        if self.settings.simulate and track is None:
            raise ValueError(f"--simulate needs a track; {self.settings.track} was not loaded")
        self._started_at = datetime.now(UTC)
        self.session_id = self._create_session(self._started_at)
        interface, channel = self._bus_address()
        self._reader = CanReader(
            interface=interface,
            channel=channel,
            bitrate=self.settings.can_bitrate,
            decoder=Decoder(self._db, car=self.car),
            batcher=WideBatcher(self.car, window_s=self.window_s),
            on_window=self._on_window,
        )
        self._pump_thread = threading.Thread(target=self._pump, name=f"live-pump-{channel}", daemon=True)
        self._pump_thread.start()
        self._writer_thread = threading.Thread(
            target=self._write_loop, name=f"live-writer-{channel}", daemon=True
        )
        self._writer_thread.start()
        self._laps_thread = threading.Thread(target=self._lap_loop, name=f"live-laps-{channel}", daemon=True)
        self._laps_thread.start()
        try:
            self._reader.start()
            if track is not None and self.settings.simulate:
                # the virtual bus only delivers to buses already open: let the reader connect first
                if not self._reader.wait_connected(CONNECT_TIMEOUT_S):
                    raise RuntimeError(
                        f"CAN reader did not open {interface}:{channel}: {self._reader.last_error}"
                    )
                self._simulator = Simulator(
                    track,
                    self.car,
                    self._db,
                    lap_seconds=self.settings.simulate_lap_seconds,
                    speed=self.settings.simulate_speed,
                    channel=channel,
                )
                self._simulator.start()
        except BaseException:
            self.stop_reader()
            self.store.delete_session(self.session_id)  # nothing was recorded
            raise
        self.running = True
        self.bus.notify(
            "live_started", f"Live session {self.session_id} ({self.source})", session_id=self.session_id
        )
        log.info("live session %s started on %s:%s", self.session_id, interface, channel)
        return self.session_id

    def stop_reader(self) -> None:
        """Stop the simulator and the reader, write every pending frame and end the session.

        Idempotent and thread-safe: a concurrent caller waits until the first one has finished.
        """
        with self._stop_lock:
            if self._simulator is not None:
                self._simulator.stop()
                self._simulator_stats = self._simulator_figures()
                self._simulator = None
            reader, self._reader = self._reader, None
            if reader is not None:
                reader.stop()  # delivers the reader's partial window to _on_window
                self._reader_stats = reader.stats()
            pump, self._pump_thread = self._pump_thread, None
            if pump is not None:
                with self._inbox_ready:
                    self._pump_stop = True
                    self._inbox_ready.notify()
                pump.join()  # processes every queued window first
            writer, self._writer_thread = self._writer_thread, None
            if writer is not None:
                with self._lock:
                    self._writer_stop = True
                    self._write_wanted.notify()
                writer.join()  # writes every pending row, then publishes what it may
            keeper, self._laps_thread = self._laps_thread, None
            if keeper is not None:
                self._laps_stop.set()
                keeper.join()
            with self._lock:
                was_running, self.running = self.running, False
            if self.session_id is not None and was_running:
                self._end_session()
                self.bus.notify(
                    "live_stopped",
                    f"Live session {self.session_id} ended: {self.frames_stored} frames stored",
                    session_id=self.session_id,
                    frames_stored=self.frames_stored,
                )

    # statistics ---------------------------------------------------------------------------------------

    def stats(self) -> dict[str, Any]:
        """Reader figures (interface, channel, bitrate, connected, fps, frames_total, unknown_frames,
        last_error, …), with ``--simulate`` the simulator's ``simulator_frames_sent`` and
        ``simulator_sent_until_s`` (data time of its last frame, s), and the service's session_id, source,
        running, frames_published, frames_stored, pending_frames, flushes, last_flush_utc, store_error."""
        reader = self._reader
        figures = (
            reader.stats() if reader is not None else {**self._reader_stats, "connected": False, "fps": 0.0}
        )
        with self._lock:
            pending = sum(df.height for df in self._pending_wide) + self._writing_rows
        return {
            **figures,
            **(self._simulator_figures() if self._simulator is not None else self._simulator_stats),
            "session_id": self.session_id,
            "source": self.source,
            "running": self.running,
            "frames_published": self.frames_published,
            "frames_stored": self.frames_stored,
            "pending_frames": pending,
            "flushes": self.flushes,
            "last_flush_utc": None if self.last_flush_utc is None else self.last_flush_utc.isoformat(),
            "store_error": self.store_error,
        }

    def _simulator_figures(self) -> dict[str, Any]:
        simulator = self._simulator
        assert simulator is not None
        return {
            "simulator_frames_sent": simulator.frames_sent,
            "simulator_sent_until_s": simulator.sent_until_s,
        }

    # internals ----------------------------------------------------------------------------------------

    def _bus_address(self) -> tuple[str, str]:
        if self.settings.simulate:
            return "virtual", f"pitwall-sim-{os.getpid()}-{id(self):x}"
        assert self.settings.can_channel is not None
        return self.settings.can_interface, self.settings.can_channel

    def _create_session(self, started_at: datetime) -> str:
        name = self.track.name if self.track is not None else self.source
        base_id = make_session_id(name, started_at)
        for attempt in range(100):
            session_id = base_id if attempt == 0 else f"{base_id}-{attempt + 1}"
            try:
                self.store.create_session(
                    SessionRow(
                        session_id=session_id,
                        started_at=started_at,
                        track="" if self.track is None else self.track.name,
                        track_id="" if self.track is None else self.track.id,
                        car=self.car.display_name,
                        source=self.source,
                        meta={"can": self._can_meta()},
                    )
                )
                return session_id
            except SessionExists:
                continue
        raise SessionExists(f"no free session id after {base_id}-100")

    def _can_meta(self) -> dict[str, Any]:
        meta: dict[str, Any] = {
            "interface": self.settings.can_interface if not self.settings.simulate else "virtual",
            "channel": self.settings.can_channel,
            "bitrate": self.settings.can_bitrate,
            "car": self.car.id,
            "dbc": [str(p) for p in self.settings.can_dbc],
        }
        if self.settings.simulate:
            meta |= {
                "simulate_speed": self.settings.simulate_speed,
                "lap_seconds": self.settings.simulate_lap_seconds,
            }
        return meta

    def _on_window(self, window: WideWindow) -> None:
        """Reader thread: queue the window for the pump (never blocks on the store)."""
        if not (window.n_rows or window.tall_t_s.size):
            return
        with self._inbox_ready:
            self._inbox.append(window)
            if len(self._inbox) == 1:  # the pump takes the whole inbox: one wake-up per batch is enough
                self._inbox_ready.notify()

    def _pump(self) -> None:
        """Pump thread: process the queued windows and publish what the store allows, at most one cycle per
        ``PUMP_CYCLE_S`` for new windows; rows a store write allowed are published at once."""
        while True:
            with self._inbox_ready:
                while not (self._inbox or self._released or self._pump_stop):
                    self._inbox_ready.wait()
                windows, self._inbox, self._released = self._inbox, [], False
                if not windows and self._pump_stop:
                    return
            next_cycle = time.monotonic() + PUMP_CYCLE_S
            try:
                self._process(windows)
            except Exception:  # keep the live path up; the rows of this batch are lost, and logged
                log.exception("live pump failed on %d windows", len(windows))
            with self._inbox_ready:  # new windows wait for the next cycle, rows a write allowed do not
                while not (self._released or self._pump_stop) and (left := next_cycle - time.monotonic()) > 0:
                    self._inbox_ready.wait(left)

    def _process(self, windows: list[WideWindow]) -> None:
        """Stamp new rows, publish what the store allows, wake the writer when a write is due."""
        with self._lock:
            if windows:
                self._stamp(windows)
            self._publish_allowed()
            if any(self._due()):
                self._write_wanted.notify()

    def _stamp(self, windows: list[WideWindow]) -> None:
        """Stamp the windows' rows for the session and queue them for the store and the bus (caller holds the
        lock)."""
        if self._t0_s is None:  # the first row (or, in a window without rows, the first tall sample)
            first = windows[0]
            self._t0_s = float(first.rows["t_s"][0] if first.n_rows else first.tall_t_s[0])
        wide = wide_frame(
            windows,
            session_id=self.session_id,
            first_frame_idx=self._next_frame_idx,
            t0_s=self._t0_s,
            started_at=self._started_at,
        )
        if wide.height:
            self._next_frame_idx += wide.height
            self._last_t_s = float(wide["t_s"][-1])
            self._pending_wide.append(wide)
            self._unpublished.append(wide)
        tall = tall_frame(windows, t0_s=self._t0_s)
        if tall.height:
            self._pending_tall.append(tall)

    def _publish_allowed(self) -> None:
        """Publish the unpublished rows less than ``flush_s`` of data time ahead of the newest stored row, in
        order, as one batch (caller holds the lock).

        This keeps every published frame less than ``flush_s`` of data time ahead of the store, so a crash
        never loses more than that of what clients have seen.
        """
        limit = self._stored_t_s + self.flush_s
        ready: list[pl.DataFrame] = []
        while self._unpublished:
            frame = self._unpublished[0]
            n = int(frame.get_column("t_s").search_sorted(limit, side="left"))
            if n < frame.height:
                if n:
                    ready.append(frame.head(n))
                    self._unpublished[0] = frame.slice(n)
                break
            ready.append(self._unpublished.pop(0))
        if ready:
            rows = pl.concat(ready) if len(ready) > 1 else ready[0]
            self.bus.publish_frames(rows)
            self.frames_published += rows.height

    def _due(self) -> tuple[bool, bool]:
        """Whether (telemetry, tall rows) are due for a write (caller holds the lock).

        Telemetry: pending rows span ``flush_s`` of data time past the store, or ``flush_s`` less the write's
        lead (:meth:`_write_lead_s`) of wall time passed since the previous write took its rows; the pending tall
        rows go with it (one transaction: a second write per cycle would cost more than its rows). Tall rows
        alone: waited ``flush_s`` of wall time while no telemetry is pending.
        """
        now = time.monotonic()
        wide = bool(self._pending_wide) and (
            self._last_t_s - self._stored_t_s >= self.flush_s
            or now - self._last_cut >= self.flush_s - self._write_lead_s()
        )
        tall = bool(self._pending_tall) and (
            wide or (not self._pending_wide and now - self._last_signals_flush >= self.flush_s)
        )
        return wide, tall

    def _write_lead_s(self) -> float:
        """How long before ``flush_s`` of wall time the next telemetry write takes its rows, s
        (:data:`WRITE_LEAD_S`)."""
        slowest = max(self._write_s, default=0.0)
        return min(max(WRITE_LEAD_S, WRITE_LEAD_FACTOR * slowest), self.flush_s / 2)

    def _next_due_s(self) -> float | None:
        """Wall seconds until a write is due by wall time (None: nothing pending)."""
        if self._pending_wide:
            due = self._last_cut + self.flush_s - self._write_lead_s()
        elif self._pending_tall:
            due = self._last_signals_flush + self.flush_s
        else:
            return None
        return max(due - time.monotonic(), 0.0)

    def _write_loop(self) -> None:
        """Writer thread: append telemetry (with the tall rows pending) or tall rows alone when due
        (:meth:`_due`); everything once stopping. The service lock is not held while the store writes."""
        while True:
            with self._lock:
                while not (self._writer_stop or any(self._due())):
                    self._write_wanted.wait(self._next_due_s())
                final = self._writer_stop
                wide_due, tall_due = self._due()
                wide = self._pending_wide if final or wide_due else []
                tall = self._pending_tall if final or tall_due else []
                self._pending_wide = [] if wide else self._pending_wide
                self._pending_tall = [] if tall else self._pending_tall
                self._writing_rows = sum(df.height for df in wide)
                if wide:
                    self._last_cut = time.monotonic()
                if tall:
                    self._last_signals_flush = time.monotonic()
            failed = bool(wide or tall) and not self._write(wide, tall)
            if final:  # the pump has stopped: publish what the last write allows
                with self._lock:
                    self._publish_allowed()
                return
            if failed:  # disk full, locked file…: the rows were put back; retry a little later
                time.sleep(WRITE_RETRY_S)

    def _write(self, wide: list[pl.DataFrame], tall: list[pl.DataFrame]) -> bool:
        """Append stamped rows and tall rows in one transaction (either may be empty) and wake the pump to
        publish what that allows. On failure they go back to the pending rows."""
        assert self.session_id is not None
        started = time.monotonic()
        signals = (pl.concat(tall) if len(tall) > 1 else tall[0]) if tall else None
        rows = (pl.concat(wide) if len(wide) > 1 else wide[0]) if wide else None
        try:
            if rows is None:
                assert signals is not None
                self.store.append_signals(self.session_id, signals)
                return True
            assigned = self.store.append_telemetry(self.session_id, rows, signals=signals)
        except Exception as exc:
            log.exception(
                "live flush of %d frames and %d signal rows failed",
                0 if rows is None else rows.height,
                0 if signals is None else signals.height,
            )
            with self._lock:
                self.store_error = f"{type(exc).__name__}: {exc}"
                self._pending_wide[:0] = wide
                self._pending_tall[:0] = tall
                self._writing_rows = 0
            return False
        if assigned.len() and int(assigned[0]) != int(rows["frame_idx"][0]):
            log.warning(
                "store numbered frames from %s, the stream from %s", assigned[0], rows["frame_idx"][0]
            )
        with self._lock:
            self._lap_rows.append(rows.select(LAP_COLUMNS))
            self.frames_stored += rows.height
            self._writing_rows = 0
            self._stored_t_s = float(rows["t_s"][-1])
            self._write_s.append(time.monotonic() - started)
            self.flushes += 1
            self.last_flush_utc = datetime.now(UTC)
            self.store_error = None
        with self._inbox_ready:
            self._released = True
            self._inbox_ready.notify()
        return True

    def _lap_loop(self) -> None:
        """Lap keeper thread: :meth:`update_laps` every :data:`LAP_CHECK_S` until stopped."""
        while not self._laps_stop.wait(LAP_CHECK_S):
            try:
                self.update_laps()
            except Exception:  # keep the live path up; the next check retries
                log.exception("live lap update of %s failed", self.session_id)

    def update_laps(self) -> None:
        """Store the session's current figures (``n_frames``, ``duration_s``, ``distance_m`` of the stored
        rows) and, with a track, its lap table when it changed (thread-safe; the lap keeper calls it)."""
        with self._lock:
            parts, n_frames = list(self._lap_rows), self.frames_stored
        if not parts or self.session_id is None:
            return
        rows = pl.concat(parts) if len(parts) > 1 else parts[0]  # outside the lock: the pump keeps going
        with self._lock:
            self._lap_rows[: len(parts)] = [rows]
        self.store.update_session(
            self.session_id,
            n_frames=n_frames,
            duration_s=float(rows["t_s"][-1]),
            distance_m=travelled_m(rows),
        )
        if self.track is None:
            return
        laps = session_laps(rows.with_columns(session_id=pl.lit(self.session_id)), self.track, {})
        if self._laps_seen is not None and laps.equals(self._laps_seen):
            return
        self.store.replace_laps(self.session_id, laps)
        self._laps_seen = laps
        complete = laps.filter(pl.col("kind") != "incomplete")
        for lap in complete.slice(self.laps_stored).iter_rows(named=True):
            self.bus.notify(
                "lap_completed",
                f"Lap {lap['lap']} ({lap['kind']}): {lap['duration_s']:.3f} s",
                session_id=self.session_id,
                lap=lap["lap"],
                lap_kind=lap["kind"],
                duration_s=lap["duration_s"],
                valid=lap["valid"],
            )
        self.laps_stored = complete.height

    def _end_session(self) -> None:
        assert self.session_id is not None
        self.update_laps()
        self.store.update_session(self.session_id, duration_s=self._last_t_s)
        self.store.end_session(self.session_id, at=datetime.now(UTC))
