"""The live service: CAN reader (hardware or the built-in simulator) → session in the store + frames on the bus.

* ``--simulate``: a :class:`~pitwall.live.simulator.Simulator` sends AiM-MXP frames on a private python-can
  ``virtual`` channel and a :class:`~pitwall.live.can_reader.CanReader` reads them back — the same reader
  that serves real hardware. Otherwise ``--can-channel`` opens the reader on ``--can-interface``.
* The reader thread only queues each decoded window (≈100 ms of data). A pump thread takes everything queued
  (one window at 1× speed; several when data comes faster, so per-batch costs are shared), stamps the rows
  for the session, writes to the store when due, then publishes one telemetry event per row on the bus
  (:func:`pitwall.live.bus.encode_frames` shape). The reader never waits for the database.
* Store writes are batched: pending rows are appended once they reach ``flush_s`` (1 s) of data time past
  the last stored row, or ``flush_s`` of wall time after the last write. Writing *before* publishing keeps
  every published frame less than ``flush_s`` of data time ahead of the store, so a crash loses at most the
  unflushed second of what clients saw; :meth:`LiveService.stop_reader` (run on SIGTERM by the app) writes
  everything and ends the session.
* ``frame_idx`` is assigned here, counting from 0 for the new session; the store assigns the same numbers on
  append (one writer per session), which :meth:`LiveService._flush` checks.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Final

import polars as pl

from pitwall import DATA_DIR, schema
from pitwall.config import Settings
from pitwall.formats.car import CarConfig, load_car
from pitwall.formats.dbc import load_dbc
from pitwall.importer import make_session_id
from pitwall.live.batches import WideBatcher, WideWindow
from pitwall.live.bus import TelemetryBus
from pitwall.live.can_reader import CanReader
from pitwall.live.decode import Decoder
from pitwall.live.simulator import Simulator
from pitwall.store.base import SessionExists, SessionRow, Store
from pitwall.track import Track

log = logging.getLogger("pitwall.live")

DEFAULT_CAR: Final = DATA_DIR / "cars" / "bmw_e46_m3.yaml"
"""The car used when ``--can-car-config`` is not given (the bundled AiM-MXP car)."""
CONNECT_TIMEOUT_S: Final = 5.0
"""How long ``start`` waits for the reader to open the simulator's virtual channel."""
FLUSH_S: Final = 1.0
"""Longest span of data (and of wall time) kept in memory before it is written to the store."""
PUMP_CYCLE_S: Final = 0.025
"""Shortest wall time between two pump cycles: windows arriving faster are processed together."""


class LiveService:
    """Owns one live session: reader (+ simulator), store appends, bus publishing. Thread-safe."""

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
        self._db = load_dbc(list(settings.can_dbc))
        self._reader: CanReader | None = None
        self._reader_stats: dict[str, Any] = {}  # the reader's last figures once it has stopped
        self._simulator: Simulator | None = None
        self._simulator_stats: dict[str, Any] = {}  # the simulator's last figures once it has stopped
        self._lock = threading.Lock()  # guards the pending buffers, counters and flushing
        self._inbox: list[WideWindow] = []  # windows queued by the reader for the pump
        self._inbox_ready = threading.Condition()
        self._pump_thread: threading.Thread | None = None
        self._pump_stop = False
        self._stop_lock = threading.Lock()  # serialises stop_reader callers
        self._pending_wide: list[pl.DataFrame] = []
        self._pending_tall: list[pl.DataFrame] = []
        self._stored_t_s = 0.0  # session t_s of the newest stored row (0 = session start)
        self._last_flush = time.monotonic()
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
            batcher=WideBatcher(self.car),
            on_window=self._on_window,
        )
        self._pump_thread = threading.Thread(target=self._pump, name=f"live-pump-{channel}", daemon=True)
        self._pump_thread.start()
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
                pump.join()  # processes (stores and publishes) every queued window first
            with self._lock:
                was_running, self.running = self.running, False
                self._flush()
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
            pending = sum(df.height for df in self._pending_wide)
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
        if window.wide.is_empty():
            return
        with self._inbox_ready:
            self._inbox.append(window)
            self._inbox_ready.notify()

    def _pump(self) -> None:
        """Pump thread: process queued windows together, at most one cycle per ``PUMP_CYCLE_S``."""
        while True:
            with self._inbox_ready:
                while not self._inbox and not self._pump_stop:
                    self._inbox_ready.wait()
                windows, self._inbox = self._inbox, []
                if not windows:
                    return
            started = time.monotonic()
            try:
                self._process(windows)
            except Exception:  # keep the live path up; the rows of this batch are lost, and logged
                log.exception("live pump failed on %d windows", len(windows))
            time.sleep(max(0.0, started + PUMP_CYCLE_S - time.monotonic()))

    def _process(self, windows: list[WideWindow]) -> None:
        """Stamp the rows for the session, buffer them, write when due, then publish them.

        Writing before publishing keeps every published frame less than ``flush_s`` of data time ahead of the
        last stored one, so a crash never loses more than that of what clients have seen.
        """
        wide_in = pl.concat([w.wide for w in windows], how="vertical_relaxed")
        tall_in = [w.tall for w in windows if not w.tall.is_empty()]
        with self._lock:
            if self._t0_s is None:
                self._t0_s = float(wide_in["t_s"][0])
            wide = self._stamp(wide_in)
            self._next_frame_idx += wide.height
            self._last_t_s = float(wide["t_s"][-1])
            self._pending_wide.append(wide)
            if tall_in:
                tall = pl.concat(tall_in, how="vertical_relaxed")
                self._pending_tall.append(tall.with_columns(pl.col("t_s") - self._t0_s))
            unstored_s = self._last_t_s - self._stored_t_s
            if unstored_s >= self.flush_s or time.monotonic() - self._last_flush >= self.flush_s:
                self._flush()
            self.bus.publish_frames(wide)
            self.frames_published += wide.height

    def _stamp(self, wide: pl.DataFrame) -> pl.DataFrame:
        """Canonical rows: session id, frame_idx from the session counter, t_s from the session's first row,
        utc from the frame clock (else session start + t_s)."""
        assert self._t0_s is not None and self._started_at is not None
        t_s = pl.col("t_s") - self._t0_s
        utc_from_t = pl.lit(self._started_at) + pl.duration(microseconds=(t_s * 1e6).round().cast(pl.Int64))
        utc = pl.coalesce(pl.col("utc"), utc_from_t) if "utc" in wide.columns else utc_from_t
        stamped = wide.with_columns(
            pl.lit(self.session_id, dtype=pl.String).alias("session_id"),
            pl.int_range(self._next_frame_idx, self._next_frame_idx + wide.height, dtype=pl.Int64).alias(
                "frame_idx"
            ),
            t_s.alias("t_s"),
            utc.dt.convert_time_zone("UTC").cast(pl.Datetime("us", "UTC")).alias("utc"),
        )
        return schema.conform(stamped, schema.TELEMETRY)

    def _flush(self) -> None:
        """Append the pending rows to the store (caller holds the lock). On failure they stay pending."""
        self._last_flush = time.monotonic()
        if not self._pending_wide or self.session_id is None:
            return
        wide = pl.concat(self._pending_wide, how="diagonal_relaxed")
        tall = pl.concat(self._pending_tall, how="diagonal_relaxed") if self._pending_tall else None
        try:
            assigned = self.store.append_telemetry(self.session_id, wide)
            if tall is not None:
                self.store.append_signals(self.session_id, tall.select("signal_name", "t_s", "value"))
        except Exception as exc:  # disk full, locked file…: keep the rows and retry on the next flush
            self.store_error = f"{type(exc).__name__}: {exc}"
            log.exception("live flush of %d frames failed", wide.height)
            return
        if assigned.len() and int(assigned[0]) != int(wide["frame_idx"][0]):
            log.warning(
                "store numbered frames from %s, the stream from %s", assigned[0], wide["frame_idx"][0]
            )
        self.frames_stored += wide.height
        self._stored_t_s = float(wide["t_s"][-1])
        self.flushes += 1
        self.last_flush_utc = datetime.now(UTC)
        self.store_error = None
        self._pending_wide.clear()
        self._pending_tall.clear()

    def _end_session(self) -> None:
        assert self.session_id is not None
        self.store.update_session(self.session_id, duration_s=self._last_t_s)
        self.store.end_session(self.session_id, at=datetime.now(UTC))
