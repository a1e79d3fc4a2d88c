"""Replayer: recorded timing × speed, same frame shape as live, one run at a time, loop, stop, status."""

from __future__ import annotations

import asyncio
import json
import time
from datetime import UTC, datetime, timedelta

import polars as pl
import pytest

from pitwall.live.bus import TelemetryBus, encode_frames
from pitwall.live.replay import Replayer, ReplayRunning

RUNNING_KEYS = [
    "running", "source_session_id", "speed", "loop", "frame_idx", "total_frames", "elapsed_s",
    "est_remaining_s", "frames_emitted",
]  # fmt: skip


def _recording(n: int, hz: float, session_id: str = "rec-1") -> pl.DataFrame:
    t0 = datetime(2026, 5, 26, 17, 0, tzinfo=UTC)
    return pl.DataFrame(
        {
            "session_id": [session_id] * n,
            "frame_idx": list(range(n)),
            "t_s": [10.0 + i / hz for i in range(n)],  # recordings need not start at 0
            "utc": [t0 + timedelta(seconds=i / hz) for i in range(n)],
            "speed_kph": [100.0 + i for i in range(n)],
        }
    )


async def _collect(sub, until_idle_s: float = 0.5, limit_s: float = 10.0) -> list:
    """Read events until none arrives for ``until_idle_s``; returns (event, receive time) pairs."""
    got: list = []
    deadline = time.monotonic() + limit_s
    while time.monotonic() < deadline:
        batch = await sub.next_batch(timeout=until_idle_s)
        if not batch:
            break
        now = time.monotonic()
        got += [(e, now) for e in batch]
    return got


def test_replay_publishes_every_frame_at_scaled_timing_in_live_shape() -> None:
    recording = _recording(100, hz=50)  # 1.98 s of data

    async def main() -> None:
        bus = TelemetryBus()
        sub = bus.subscribe("telemetry", maxlen=1000)
        replayer = Replayer(bus)
        t0 = time.monotonic()
        info = replayer.start(recording, source_session_id="rec-1", speed=4.0, loop=False)
        got = await _collect(sub)
        assert info.total_frames == 100 and info.est_duration_s == pytest.approx(1.98 / 4, abs=1e-3)
        assert info.replay_id.startswith("rec-1-replay-")
        assert [e.data for e, _ in got] == encode_frames(recording)
        last_arrival = got[-1][1] - t0
        assert 1.98 / 4 - 0.02 <= last_arrival <= 1.98 / 4 + 0.3
        # the middle frame is due at 0.99 s / 4
        mid_arrival = got[50][1] - t0
        assert 0.99 / 4 - 0.02 <= mid_arrival <= 0.99 / 4 + 0.15
        assert not replayer.running and replayer.status() == {"running": False}

    asyncio.run(main())


def test_status_while_running_then_stop_and_conflict() -> None:
    async def main() -> None:
        bus = TelemetryBus()
        inbox = bus.subscribe("notifications")
        replayer = Replayer(bus)
        replayer.start(_recording(500, hz=10), source_session_id="rec-1", speed=1.0, loop=False)  # 50 s
        with pytest.raises(ReplayRunning):
            replayer.start(_recording(5, hz=10), source_session_id="rec-2", speed=1.0, loop=False)
        give_up = time.monotonic() + 60
        while (status := replayer.status())["frames_emitted"] < 4:  # frames at t = 0, 0.1, 0.2, 0.3 s
            assert time.monotonic() < give_up, "the replay emitted too little"
            await asyncio.sleep(0.02)
        assert list(status) == RUNNING_KEYS
        assert status["running"] is True and status["source_session_id"] == "rec-1"
        assert status["total_frames"] == 500 and status["speed"] == 1.0 and status["loop"] is False
        assert status["frame_idx"] == status["frames_emitted"] >= 4
        assert status["elapsed_s"] >= (status["frame_idx"] - 1) / 10  # never ahead of the recording's clock
        assert status["est_remaining_s"] == pytest.approx(49.9 - status["frame_idx"] / 10, abs=0.01)
        result = replayer.stop()
        assert result["stopped"] is True and result["frames_emitted"] == status["frames_emitted"]
        assert replayer.stop() == {"stopped": False, "frames_emitted": 0}
        kinds = [json.loads(e.data)["kind"] for e in await inbox.next_batch(timeout=1.0)]
        assert kinds == ["replay_started", "replay_stopped"]

    asyncio.run(main())


def test_loop_restarts_from_the_first_frame() -> None:
    async def main() -> None:
        bus = TelemetryBus()
        sub = bus.subscribe("telemetry", maxlen=10_000)
        replayer = Replayer(bus)
        replayer.start(
            _recording(20, hz=100), source_session_id="rec-1", speed=2.0, loop=True
        )  # 0.095 s/pass
        got: list[int] = []
        while len(got) < 45:  # wait for frames, not for time: a loaded machine only slows the replay
            batch = await sub.next_batch(timeout=30)
            assert batch, "the replay stopped publishing"
            got += [json.loads(e.data)["frame_idx"] for e in batch]
        frames_emitted = replayer.stop()["frames_emitted"]
        got += [json.loads(e.data)["frame_idx"] for e, _ in await _collect(sub, until_idle_s=0.1)]
        assert frames_emitted >= 45 and len(got) == frames_emitted
        assert got[:45] == [*range(20), *range(20), *range(5)]

    asyncio.run(main())


def test_bad_input_is_rejected() -> None:
    replayer = Replayer(TelemetryBus())
    with pytest.raises(ValueError, match="no telemetry"):
        replayer.start(_recording(0, hz=10), source_session_id="x", speed=1.0, loop=False)
    with pytest.raises(ValueError, match="speed"):
        replayer.start(_recording(3, hz=10), source_session_id="x", speed=0.0, loop=False)
