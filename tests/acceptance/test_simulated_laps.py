"""Issue acceptance: a simulated session, recorded through the real live path (simulator → python-can virtual
bus → CanReader → LiveService → store), yields one lap per simulated lap, each within 0.05 s of the truth."""

from __future__ import annotations

import time
from pathlib import Path

import polars as pl
import pytest

from pitwall import DATA_DIR
from pitwall.config import Settings
from pitwall.formats.track import TrackLibrary, load_track
from pitwall.live.bus import TelemetryBus
from pitwall.live.service import LiveService
from pitwall.session_view import SessionView
from pitwall.store.base import Store

TRACK = load_track(DATA_DIR / "tracks" / "sonoma.json")
LAP_S = 40.0
SPEED = 25.0


def test_recorded_simulator_session_has_one_lap_per_simulated_lap(store: Store, tmp_path: Path) -> None:
    settings = Settings(
        db=tmp_path / "unused", simulate=True, simulate_speed=SPEED, simulate_lap_seconds=LAP_S
    )
    live = LiveService(settings, store, TRACK, bus=TelemetryBus())
    session_id = live.start()
    deadline = time.monotonic() + 3 * LAP_S / SPEED + 20
    try:
        while time.monotonic() < deadline:
            stored = store.read_telemetry(session_id, columns=["t_s"])["t_s"]
            if stored.len() and stored.max() > 2.4 * LAP_S:
                break
            time.sleep(0.2)
    finally:
        live.stop_reader()

    view = SessionView.load(store, session_id, TrackLibrary(), TRACK)
    # The simulator starts on the start/finish line at racing speed, so the first lap (an "out" lap for the
    # slicer, which sees no crossing before it) is a full simulated lap too: 2.4 laps of data → 2 whole laps.
    whole = view.laps.filter(pl.col("kind").is_in(["out", "flying"]))
    assert view.telemetry.collect()["t_s"].max() > 2.4 * LAP_S
    assert whole["kind"].to_list() == ["out", "flying"], view.laps
    assert whole["method"].to_list() == ["gps", "gps"]
    for duration in whole["duration_s"].to_list():
        assert duration == pytest.approx(LAP_S, abs=0.05)
    assert view.laps.filter(kind="incomplete").height == 1
