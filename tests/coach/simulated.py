"""A multi-lap recording for coach tests: the built-in simulator driven through the real live path (simulator →
python-can virtual bus → CAN reader → live service → store), written out as a VBO with
:func:`pitwall.formats.vbo_writer.write_vbo`. The bundled real recordings have at most one complete lap.

The simulated lap is set a little slower than the physics-model lap of ``data/reference/sonoma_model.json``
(107.2 s), so every corner has time to gain against the reference; GPS noise makes the laps differ.
"""

from __future__ import annotations

import time
from pathlib import Path

import polars as pl

from pitwall import DATA_DIR
from pitwall.config import Settings
from pitwall.formats.track import load_track
from pitwall.formats.vbo_writer import write_vbo
from pitwall.live.bus import TelemetryBus
from pitwall.live.service import LiveService
from pitwall.store import open_store

SONOMA = load_track(DATA_DIR / "tracks" / "sonoma.json")
LAP_S = 112.0
SPEED = 50.0
LAPS = 3.4


def record_simulated_vbo(directory: Path) -> Path:
    """Record ``LAPS`` simulated laps of Sonoma (≈ 8 s of wall time) and write them as ``sim-sonoma.vbo``."""
    store = open_store(directory / "recording.duckdb")
    settings = Settings(
        db=directory / "unused", simulate=True, simulate_speed=SPEED, simulate_lap_seconds=LAP_S
    )
    live = LiveService(settings, store, SONOMA, bus=TelemetryBus())
    session_id = live.start()
    deadline = time.monotonic() + LAPS * LAP_S / SPEED + 60
    try:
        while time.monotonic() < deadline:
            t_s = store.read_telemetry(session_id, columns=["t_s"])["t_s"]
            if t_s.len() and t_s.max() > LAPS * LAP_S:  # type: ignore[operator]
                break
            time.sleep(0.2)
    finally:
        live.stop_reader()
    # Channels arrive at their own CAN rates: a row may miss a channel the VBO format cannot leave empty, so
    # each partly missing channel holds its previous value (its first values take the first one received).
    telemetry = store.read_telemetry(session_id).with_columns(
        pl.all().fill_null(strategy="forward").fill_null(strategy="backward")
    )
    store.close()
    return write_vbo(telemetry, directory / "sim-sonoma.vbo", gates=[SONOMA.start_finish])
