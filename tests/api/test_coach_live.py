"""Live cues end to end: the simulator on a real uvicorn server → telemetry bus → live coach → ``/cues/stream``.

The cues are checked against the stored session afterwards: each was spoken on a frame outside every corner's
entry–exit span (the analysis pipeline's track position) with |g_lat| under the low-load limit, never more
than 3 per burst."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import replace
from pathlib import Path

import httpx
import polars as pl
from litestar import Litestar
from litestar.testing import TestClient

from pitwall.api.app import create_app
from pitwall.coach.cues import CUE_LIMITS
from pitwall.formats.track import TrackLibrary, load_track
from pitwall.session_view import SessionView
from tests.api.conftest import make_settings
from tests.sse_client import SseClient

Serve = Callable[[Litestar], AbstractContextManager[str]]


def test_simulated_session_streams_disciplined_cues(tmp_path: Path, serve: Serve, backend: str) -> None:
    settings = replace(make_settings(tmp_path, backend), simulate=True, simulate_speed=25.0)
    app = create_app(settings)
    with serve(app) as url:
        health = httpx.get(f"{url}/health").json()
        session_id = health["active_session_id"]
        stream = SseClient(f"{url}/cues/stream?session_id={session_id}")
        stream.wait_connected()
        cues = [e.data for e in stream.wait_for(3, timeout=120)]
        stream.close()
    assert health["coach"] == "rule" and health["engine"] is None
    assert {c["session_id"] for c in cues} == {session_id}
    assert all({"id", "text", "emotion", "timestamp"} <= set(c) and c["text"] for c in cues)
    assert all(c["coach_source"] == "rule" and c["metrics"] and c["tts_ms"] > 0 for c in cues)
    assert max(Counter(c["burst_id"] for c in cues).values()) <= CUE_LIMITS.max_items
    track = load_track(settings.track)
    with TestClient(create_app(replace(settings, simulate=False))) as after:
        view = SessionView.load(after.app.state.store, session_id, TrackLibrary(settings.tracks_dir), track)
        stored = view.telemetry.select("frame_idx", "s_m", "g_lat").collect()
    at = {
        i: (s, g)
        for i, s, g in stored.filter(pl.col("frame_idx").is_in([c["frame_idx"] for c in cues])).iter_rows()
    }
    for cue in cues:
        s_m, g_lat = at[cue["frame_idx"]]
        assert cue["g_lat"] == g_lat and abs(g_lat) < CUE_LIMITS.low_load_g_lat
        assert s_m is not None and not any(c.s_entry_m <= s_m <= c.s_exit_m for c in track.corners), (
            cue,
            s_m,
        )
