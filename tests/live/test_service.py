"""LiveService on python-can's virtual bus with a real store: publish, batched append, ≤ 1 s unflushed, stop."""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from dataclasses import replace
from pathlib import Path

import can
import numpy as np
import polars as pl
import pytest

from pitwall import DATA_DIR
from pitwall.config import Settings
from pitwall.formats.car import load_car
from pitwall.formats.dbc import load_dbc
from pitwall.formats.track import load_track
from pitwall.live.bus import TelemetryBus
from pitwall.live.decode import Encoder
from pitwall.live.service import WRITE_LEAD_S, LiveService
from pitwall.live.simulator import Simulator
from pitwall.store.base import Store
from tests.live import wait_for

TRACK = load_track(DATA_DIR / "tracks" / "sonoma.json")


async def _drain(sub) -> list[dict]:
    got = []
    while batch := await sub.next_batch(timeout=0.3):
        got += [json.loads(e.data) for e in batch]
    return got


def test_simulated_session_is_published_and_stored_frame_for_frame(store: Store, tmp_path: Path) -> None:
    async def main() -> None:
        bus = TelemetryBus()
        frames = bus.subscribe("telemetry", maxlen=100_000)
        inbox = bus.subscribe("notifications")
        live = LiveService(
            Settings(db=tmp_path / "x", simulate=True, simulate_speed=20.0), store, TRACK, bus=bus
        )
        session_id = live.start()
        received: list[dict] = []
        lags: list[float] = []
        give_up = time.monotonic() + 120  # a safety net only: the loop ends on data, not on time
        # while running: what clients saw is < 1 s ahead of the store; until 4 s of data and 600 frames arrived
        while len(received) < 600 or received[-1]["t_s"] < 4.0 or len(lags) < 6:
            assert time.monotonic() < give_up, f"only {len(received)} frames arrived"
            received += [json.loads(e.data) for e in await frames.next_batch(timeout=0.5)]
            if received:
                stored_t = store.read_telemetry(session_id, columns=["t_s"])["t_s"]
                lags.append(received[-1]["t_s"] - (stored_t.max() if stored_t.len() else 0.0))
        running_stats = live.stats()
        await asyncio.to_thread(live.stop_reader)
        received += await _drain(frames)
        notes = [json.loads(e.data) for e in await inbox.next_batch(timeout=1.0)]

        telemetry = store.read_telemetry(session_id)
        row = store.get_session(session_id)
        assert len(received) == telemetry.height == live.frames_published == live.frames_stored > 500
        assert (
            [f["frame_idx"] for f in received]
            == telemetry["frame_idx"].to_list()
            == list(range(len(received)))
        )
        assert [f["t_s"] for f in received] == telemetry["t_s"].to_list()
        assert received[0]["t_s"] == 0.0 and telemetry["t_s"].is_sorted()
        assert max(lags) < 1.0 and len(lags) > 5
        assert 3 <= live.flushes <= telemetry["t_s"].max() / 1.0 + 2  # batched: about one write per second
        assert telemetry["speed_kph"].drop_nulls().is_between(20, 400).all()
        assert telemetry["lat_deg"].drop_nulls().is_between(38.15, 38.17).all()
        signals = store.read_signals(session_id)
        assert (
            signals.height > 0
            and signals["t_s"].min() >= 0.0
            and signals["t_s"].max() <= telemetry["t_s"].max() + 0.1
        )
        # water temperature rides in the clock frame: one tall row per stored row, none lost by the writer
        water = signals.filter(pl.col("signal_name") == "water_temp_c")
        assert water["t_s"].to_list() == telemetry["t_s"].to_list()
        assert row.source == "simulator" and row.track_id == "sonoma" and row.car == "BMW M3 (E46)"
        assert row.ended_at is not None and row.n_frames == telemetry.height
        assert row.duration_s == pytest.approx(telemetry["t_s"].max())
        assert [n["kind"] for n in notes] == ["live_started", "live_stopped"]
        assert running_stats["connected"] is True and running_stats["session_id"] == session_id
        assert live.stats()["connected"] is False and live.stats()["pending_frames"] == 0
        live.stop_reader()  # idempotent
        assert store.count_telemetry(session_id) == telemetry.height

    asyncio.run(main())


def test_can_channel_reads_an_external_device_as_a_live_session(store: Store, tmp_path: Path) -> None:
    channel = f"hw-{uuid.uuid4().hex}"
    settings = Settings(db=tmp_path / "x", can_channel=channel, can_interface="virtual")

    async def main() -> None:
        bus = TelemetryBus()
        frames = bus.subscribe("telemetry", maxlen=100_000)
        live = LiveService(settings, store, TRACK, bus=bus)
        session_id = live.start()
        car = load_car(DATA_DIR / "cars" / "bmw_e46_m3.yaml")
        device = Simulator(TRACK, car, load_dbc(list(settings.can_dbc)), speed=5.0, channel=channel)
        assert live._reader is not None and live._reader.wait_connected(5.0)
        device.start()
        give_up = time.monotonic() + 60
        while device.frames_sent <= 1000:  # wait on frames, not on time
            assert time.monotonic() < give_up, "the device sent too little"
            await asyncio.sleep(0.05)
        device.stop()
        deadline = time.monotonic() + 10  # let the reader drain what the device sent
        while live.stats()["frames_total"] < device.frames_sent and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
        await asyncio.to_thread(live.stop_reader)
        received = await _drain(frames)
        stats = live.stats()
        assert stats["frames_total"] == device.frames_sent > 1000  # nothing lost between device and reader
        assert stats["interface"] == "virtual" and stats["channel"] == channel
        assert store.get_session(session_id).source == "live"
        assert len(received) == store.count_telemetry(session_id) > 100

    asyncio.run(main())


@pytest.mark.parametrize(("speed", "window_s"), [(1.0, 0.01), (2.5, 0.025), (20.0, 0.1)])
def test_batcher_windows_span_10_wall_ms_at_the_simulated_speed_up_to_100_ms_of_data(
    store: Store, tmp_path: Path, speed: float, window_s: float
) -> None:
    live = LiveService(
        Settings(db=tmp_path / "x", simulate=True, simulate_speed=speed), store, TRACK, bus=TelemetryBus()
    )
    assert live.window_s == pytest.approx(window_s)


def test_a_write_takes_its_rows_ahead_of_the_publish_limit_by_the_slowest_recent_write(
    store: Store, tmp_path: Path
) -> None:
    """A telemetry write is due ``flush_s`` less its lead after the previous write *took* its rows; the lead is
    1.5 x the slowest of the recent writes (at least WRITE_LEAD_S, at most half of ``flush_s``), so a slow
    commit finishes before rows reach the publish limit instead of holding them back."""
    live = LiveService(Settings(db=tmp_path / "x", simulate=True), store, TRACK, bus=TelemetryBus())
    assert live._write_lead_s() == WRITE_LEAD_S
    live._write_s.extend([0.02, 0.12, 0.05])
    assert live._write_lead_s() == pytest.approx(0.18)
    live._pending_wide = [pl.DataFrame({"t_s": [0.5]})]
    live._last_cut = time.monotonic() - (live.flush_s - 0.25)
    assert live._due() == (False, False)
    live._last_cut -= 0.1
    assert live._due() == (True, False)
    live._write_s.append(3.0)
    assert live._write_lead_s() == live.flush_s / 2


def test_hardware_rows_are_batched_in_10_ms_windows(store: Store, tmp_path: Path) -> None:
    """Real time: a row waits for its window to complete, so the window is 10 ms, not the grid's 100 ms."""
    settings = Settings(db=tmp_path / "x", can_channel=f"hw-{uuid.uuid4().hex}", can_interface="virtual")
    live = LiveService(settings, store, TRACK, bus=TelemetryBus())
    live.start()
    try:
        assert live._reader is not None and live._reader.batcher.window_s == pytest.approx(0.01)
    finally:
        live.stop_reader()


def test_frames_without_the_clock_frame_still_reach_the_tall_sink(store: Store, tmp_path: Path) -> None:
    """A device sending only the fluids frame (no 0x420 row clock): no wide rows, every tall sample stored."""
    channel = f"hw-{uuid.uuid4().hex}"
    settings = Settings(db=tmp_path / "x", can_channel=channel, can_interface="virtual")
    live = LiveService(settings, store, TRACK, bus=TelemetryBus())
    session_id = live.start()
    assert live._reader is not None and live._reader.wait_connected(5.0)
    payloads = Encoder(load_dbc(list(settings.can_dbc))).encode(0x421, {"oil_temp_f": np.full(20, 212.0)})
    t0 = time.time()
    with can.Bus(interface="virtual", channel=channel, preserve_timestamps=True) as device:
        for i, data in enumerate(payloads):
            device.send(
                can.Message(
                    timestamp=t0 + 0.02 * i, arbitration_id=0x421, is_extended_id=False, data=data.tobytes()
                )
            )
    assert wait_for(lambda: live.stats()["frames_total"] == 20)
    live.stop_reader()
    oil = store.read_signals(session_id, ["oil_temp_c"])
    assert oil["value"].to_list() == pytest.approx([100.0] * 20)
    assert oil["t_s"].to_list() == pytest.approx([0.02 * i for i in range(20)], abs=1e-6)
    assert store.count_telemetry(session_id) == 0 and live.stats()["pending_frames"] == 0


def test_simulate_without_a_track_refuses_to_start(store: Store, tmp_path: Path) -> None:
    live = LiveService(replace(Settings(db=tmp_path / "x"), simulate=True), store, None, bus=TelemetryBus())
    with pytest.raises(ValueError, match="needs a track"):
        live.start()
    assert store.list_sessions().height == 0
