"""No data loss: a real ``python -m pitwall --simulate`` server killed with SIGKILL, then stopped with SIGTERM.

SIGKILL: the database reopens cleanly (DuckDB WAL replay), the session holds every frame up to the last
flushed batch — less than 1 s of data time behind what an SSE client had already received — and the restarted
server closes it from what was stored (``ended_at``, duration, frame count; ``meta.recovered``).
SIGTERM: everything is flushed; the stored frames are exactly those the client saw, and the session is ended.
"""

from __future__ import annotations

import signal
from pathlib import Path

import httpx
import pytest

from pitwall.devserver import server_process
from pitwall.store import open_store
from tests.sse_client import SseClient, SseEvent

pytestmark = pytest.mark.slow

SIMULATE = ("--simulate", "--simulate-speed", "5")


def _stream_until_flowing(url: str, frames: int = 400) -> SseClient:
    """An SSE client on the telemetry stream that has received ``frames`` frames (≥ 1.6 s of data)."""
    client = SseClient(f"{url}/telemetry/stream")
    client.wait_connected(timeout=20)
    client.wait_for(frames, timeout=30)
    return client


def _contiguous(events: list[SseEvent]) -> list[dict]:
    frames = [e.data for e in events]
    idx = [f["frame_idx"] for f in frames]
    assert idx == list(range(idx[0], idx[0] + len(idx))), "the client lost frames"
    return frames


def test_sigkill_loses_at_most_the_unflushed_second_then_sigterm_flushes_everything(tmp_path: Path) -> None:
    db = tmp_path / "pitwall.duckdb"

    # 1. SIGKILL while frames flow
    with server_process(db, *SIMULATE) as (proc, url):
        client = _stream_until_flowing(url)
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        assert client.ended.wait(10)
    seen = _contiguous(client.events)
    session_id = seen[0]["session_id"]

    # 2. restart on the same file: it opens cleanly and the crashed session is closed from what was stored
    with server_process(db) as (proc, url):
        health = httpx.get(f"{url}/health", trust_env=False).json()
        assert health["duckdb"] is True and health["active_session_id"] is None
        detail = httpx.get(f"{url}/session/{session_id}", trust_env=False).json()["session"]
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=30)
    store = open_store(db)
    try:
        stored = store.read_telemetry(session_id, columns=["frame_idx", "t_s", "speed_kph", "rpm", "utc"])
        repaired = store.get_session(session_id)
    finally:
        store.close()
    assert repaired.ended_at is not None and "recovered" in repaired.meta and "recovered" in detail["meta"]
    assert repaired.n_frames == stored.height and repaired.duration_s == stored["t_s"].max()
    assert repaired.ended_at == stored["utc"].max()
    stored = stored.drop("utc")
    assert stored["frame_idx"].to_list() == list(range(stored.height))  # every frame up to the last batch
    assert seen[-1]["t_s"] - stored["t_s"].max() < 1.0  # ≤ 1 s of data time lost
    assert stored.height > 100
    by_idx = {f["frame_idx"]: f for f in seen}
    overlap = stored.filter(stored["frame_idx"] >= seen[0]["frame_idx"])
    assert overlap.height > 0
    for idx, t_s, speed, rpm in overlap.iter_rows():
        assert (by_idx[idx]["t_s"], by_idx[idx]["speed_kph"], by_idx[idx]["rpm"]) == (t_s, speed, rpm)

    # 3. SIGTERM while frames flow: everything flushed, the stream ends after the last frame, session ended
    with server_process(db, *SIMULATE) as (proc, url):
        client = _stream_until_flowing(url)
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=30) in (0, -signal.SIGTERM)
        assert client.ended.wait(10)
    seen = _contiguous(client.events)
    session_id = seen[0]["session_id"]
    store = open_store(db)
    try:
        row = store.get_session(session_id)
        stored = store.read_telemetry(session_id, columns=["frame_idx", "t_s", "speed_kph"])
    finally:
        store.close()
    assert row.ended_at is not None and row.n_frames == stored.height
    assert stored.height == seen[-1]["frame_idx"] + 1  # the client saw the very last stored frame
    assert stored["frame_idx"].to_list() == list(range(stored.height))
    tail = stored.tail(len(seen))
    assert tail["t_s"].to_list() == [f["t_s"] for f in seen]
    assert tail["speed_kph"].to_list() == [f["speed_kph"] for f in seen]
