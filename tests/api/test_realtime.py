"""SSE streams over a real uvicorn server, spectator tokens, /diagnostics/can, and the live simulator wiring."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import polars as pl
from litestar import Litestar
from litestar.testing import TestClient

from pitwall.api.app import create_app
from pitwall.api.realtime import _stream
from pitwall.api.security import hash_token
from pitwall.config import Settings
from pitwall.formats.vbo import read_vbo
from pitwall.live.bus import TelemetryBus, encode_frames
from tests.api.conftest import RUN04, make_settings
from tests.sse_client import SseClient

Serve = Callable[[Litestar], AbstractContextManager[str]]


def _real_frames(n: int) -> pl.DataFrame:
    """``n`` real rows of the Road America Run04 recording, stamped as a session."""
    return (
        read_vbo(RUN04)
        .telemetry.head(n)
        .with_columns(
            pl.lit("rec-run04").alias("session_id"), pl.int_range(n, dtype=pl.Int64).alias("frame_idx")
        )
    )


def test_telemetry_stream_delivers_every_published_frame_in_order(tmp_path: Path, serve: Serve) -> None:
    app = create_app(make_settings(tmp_path, "duckdb"))
    app.state.sse_heartbeat_s = 0.2  # lets the test client notice close() quickly
    frames = _real_frames(300)
    with serve(app) as url:
        client = SseClient(f"{url}/telemetry/stream")
        client.wait_connected()
        assert app.state.bus.subscriber_count("telemetry") == 2  # this client and the live coach
        for start in range(0, 300, 30):  # ten windows, like the live reader
            app.state.bus.publish_frames(frames.slice(start, 30))
        got = client.wait_for(300)
        client.close()
    assert [e.data for e in got] == [json.loads(b) for b in encode_frames(frames)]
    assert [int(e.id) for e in got if e.id is not None] == list(range(300))
    assert got[0].data["session_id"] == "rec-run04" and got[0].data["utc"].endswith("Z")
    assert got[10].data["lat_deg"] == frames["lat_deg"][10]
    assert app.state.bus.subscriber_count("telemetry") == 0  # the client was unsubscribed, the coach stopped


def test_cues_and_notifications_streams_with_heartbeats(tmp_path: Path, serve: Serve) -> None:
    app = create_app(make_settings(tmp_path, "duckdb"))
    app.state.sse_heartbeat_s = 0.2
    with serve(app) as url:
        cues = SseClient(f"{url}/cues/stream?session_id=s1")
        inbox = SseClient(f"{url}/notifications")
        cues.wait_connected()
        inbox.wait_connected()
        app.state.bus.publish_cue("other", "not for s1")
        app.state.bus.publish_cue("s1", "brake later", emotion="calm", corner="7", confidence=0.8)
        app.state.bus.notify("briefing", "Debrief ready", session_id="s1")
        cue = cues.wait_for(1)[0]
        note = inbox.wait_for(1)[0].data
        asyncio.run(asyncio.sleep(0.5))
        cues.close()
        inbox.close()
    assert cue.event == "cue" and len(cues.events) == 1
    assert {k: cue.data[k] for k in ("id", "session_id", "text", "emotion", "corner", "confidence")} == {
        "id": 2,
        "session_id": "s1",
        "text": "brake later",
        "emotion": "calm",
        "corner": "7",
        "confidence": 0.8,
    }
    assert abs(cue.data["timestamp"] - datetime.now(UTC).timestamp()) < 60
    assert cues.hello is not None and cues.hello.data == {"stream": "cues", "session_id": "s1"}
    assert note["kind"] == "briefing" and note["text"] == "Debrief ready" and note["session_id"] == "s1"
    assert datetime.fromisoformat(note["utc"]) > datetime.now(UTC) - timedelta(minutes=1)
    assert cues.comments[0] == "connected cues"
    assert cues.comments.count("heartbeat") >= 2


def test_slow_client_loses_oldest_events_and_is_told_how_many() -> None:
    async def main() -> None:
        bus = TelemetryBus()
        stream = _stream(bus, "telemetry", heartbeat_s=5.0, session_id=None)
        assert b": connected telemetry" in (await anext(stream)).encode()
        assert (await anext(stream)).encode().startswith(b"event: hello\ndata: ")
        bus.publish_encoded("telemetry", [b'{"i":%d}' % i for i in range(1500)])  # queue holds 1024
        first = (await anext(stream)).encode()
        second = (await anext(stream)).encode()
        assert first.startswith(
            b'event: dropped\ndata: {"dropped":476}\n\nid: 476\nevent: telemetry\ndata: {"i":476}\n\n'
        )
        assert second.startswith(b'id: 988\nevent: telemetry\ndata: {"i":988}\n\n')
        assert second.endswith(b'data: {"i":1499}\n\n')
        assert first.count(b"id: ") + second.count(b"id: ") == 1024
        await stream.aclose()
        assert bus.subscriber_count("telemetry") == 0

    asyncio.run(main())


def test_spectator_tokens_are_random_hashed_expiring_and_revocable(client: TestClient[Litestar]) -> None:
    response = client.post("/spectator/token", json={"label": "pit crew", "ttl_s": 600})
    assert response.status_code == 201, response.text
    body = response.json()
    assert set(body) == {"token", "expires_at", "ttl_s", "session_id", "url"} and len(body["token"]) >= 43
    assert body["ttl_s"] == 600 and body["session_id"] is None and body["url"] is None
    expires = datetime.fromisoformat(body["expires_at"].replace("Z", "+00:00"))
    assert abs((expires - datetime.now(UTC)).total_seconds() - 600) < 5
    store = client.app.state.store
    now = datetime.now(UTC)
    assert store.spectator_token_valid(hash_token(body["token"]), now=now)
    assert not store.spectator_token_valid(body["token"], now=now)  # only the hash is stored
    assert not store.spectator_token_valid(hash_token(body["token"]), now=now + timedelta(seconds=601))
    other = client.post("/spectator/token").json()  # body optional: default ttl 3600 s
    assert other["token"] != body["token"]
    assert abs((datetime.fromisoformat(other["expires_at"][:-1] + "+00:00") - now).total_seconds() - 3600) < 5

    revoked = client.delete(f"/spectator/token/{body['token']}")
    assert revoked.status_code == 200 and revoked.json() == {"revoked": True}
    assert not store.spectator_token_valid(hash_token(body["token"]), now=datetime.now(UTC))
    again = client.delete(f"/spectator/token/{body['token']}")
    assert again.status_code == 404 and again.json()["error"] == "unknown token"


def test_spectator_token_bad_bodies_are_400(client: TestClient[Litestar]) -> None:
    for body in ({"ttl_s": 59}, {"ttl_s": 86_401}, {"ttl_s": "soon"}, {"label": "x", "colour": "red"}):
        response = client.post("/spectator/token", json=body)
        assert response.status_code == 400, body
        assert set(response.json()) == {"error", "detail"}
    assert client.post("/spectator/token", json={"ttl_s": 86_400}).status_code == 201


def test_spectator_token_without_database_is_503(no_db_client: TestClient[Litestar]) -> None:
    response = no_db_client.post("/spectator/token", json={})
    assert response.status_code == 503 and response.json()["error"] == "no database"
    assert no_db_client.get("/diagnostics/can").json() == {
        "available": False,
        "reason": "no live reader configured",
    }


def test_simulated_live_session_streams_and_reports_can_state(tmp_path: Path, serve: Serve) -> None:
    settings: Settings = replace(make_settings(tmp_path, "duckdb"), simulate=True, simulate_speed=10.0)
    app = create_app(settings)
    with serve(app) as url:
        stream = SseClient(f"{url}/telemetry/stream")
        stream.wait_connected()
        frames = [e.data for e in stream.wait_for(100)]
        health = httpx.get(f"{url}/health").json()
        diagnostics = httpx.get(f"{url}/diagnostics/can").json()
        stream.close()
    session_id = health["active_session_id"]
    assert session_id is not None and session_id.startswith("sonoma-raceway-")
    assert (
        health["can"]["connected"] is True and health["can"]["fps"] > 0 and health["can"]["frames_total"] > 0
    )
    assert diagnostics["available"] is True and diagnostics["session_id"] == session_id
    assert diagnostics["source"] == "simulator" and diagnostics["interface"] == "virtual"
    assert {"channel", "bitrate", "fps", "frames_total", "unknown_frames", "last_error"} <= set(diagnostics)
    assert {f["session_id"] for f in frames} == {session_id}
    idx = [f["frame_idx"] for f in frames]
    assert idx == list(range(idx[0], idx[0] + len(idx)))
    assert all(0 < f["speed_kph"] < 400 and 0 < f["rpm"] < 9000 for f in frames)
    # after shutdown the session is complete in the database: every published frame stored, ended
    with TestClient(create_app(replace(settings, simulate=False))) as after:
        store = after.app.state.store
        row = store.get_session(session_id)
        stored = store.read_telemetry(session_id, columns=["frame_idx", "t_s", "speed_kph"])
    assert row.ended_at is not None and row.source == "simulator" and row.n_frames == stored.height
    assert stored["frame_idx"].to_list() == list(range(stored.height))
    assert stored.height >= idx[-1] + 1
    by_idx = {f["frame_idx"]: f for f in frames}
    for i, t_s, speed in stored.filter(pl.col("frame_idx").is_in(idx)).iter_rows():
        assert by_idx[i]["t_s"] == t_s and by_idx[i]["speed_kph"] == speed


def test_live_source_that_cannot_start_is_reported_not_fatal(tmp_path: Path) -> None:
    settings = replace(make_settings(tmp_path, "duckdb"), simulate=True, track=tmp_path / "missing.json")
    with TestClient(create_app(settings)) as client:
        diagnostics = client.get("/diagnostics/can").json()
        health = client.get("/health").json()
        sessions = client.get("/sessions").json()
    assert diagnostics["available"] is False and "--simulate needs a track" in diagnostics["reason"]
    assert health["status"] == "ok" and health["can"] is None
    assert sessions["count"] == 0  # no half-started session was left behind
