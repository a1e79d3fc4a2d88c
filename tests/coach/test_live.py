"""The live coach over a real recording (Road America Run04, 25 Hz, no lateral-g channel): cues only outside
corners (checked against the track position the analysis pipeline computes), ≤ 3 per burst, repeats spaced."""

from __future__ import annotations

from collections import Counter

import msgspec
import polars as pl

from pitwall import DATA_DIR
from pitwall.analysis.position import add_track_position
from pitwall.coach.concepts import load_concepts
from pitwall.coach.cues import CUE_LIMITS
from pitwall.coach.live import FRAME_DECODER, LiveCoach, LiveFrame
from pitwall.formats.track import load_track
from pitwall.formats.vbo import read_vbo
from pitwall.live.bus import encode_frames
from tests.api.conftest import RUN04

ROAD_AMERICA = load_track(DATA_DIR / "tracks" / "road-america.json")


def _recording() -> pl.DataFrame:
    telemetry = read_vbo(RUN04).telemetry
    return telemetry.with_columns(
        pl.lit("rec-run04").alias("session_id"),
        pl.int_range(telemetry.height, dtype=pl.Int64).alias("frame_idx"),
    )


def test_live_cues_on_a_real_recording_respect_the_discipline() -> None:
    wide = _recording()
    # the telemetry-topic payloads, decoded exactly as the live subscriber does
    frames = [FRAME_DECODER.decode(payload) for payload in encode_frames(wide)]
    assert isinstance(frames[0], LiveFrame) and frames[0].g_lat is None
    coach = LiveCoach(
        concepts=load_concepts(), track_for=lambda sid: ROAD_AMERICA if sid == "rec-run04" else None
    )
    cues = []
    for start in range(0, len(frames), 250):  # in 10 s batches, as the bus delivers them
        cues += coach.feed(frames[start : start + 250])
    assert cues, "a 416 s recording with braking and part-throttle produces cues"
    positions = add_track_position(wide.lazy(), ROAD_AMERICA).select("frame_idx", "s_m").collect()
    s_at = dict(positions.iter_rows())
    for cue in cues:
        s = s_at[cue["frame_idx"]]
        assert s is not None and cue["s_m"] == round(s, 1)
        assert not any(c.s_entry_m <= s <= c.s_exit_m for c in ROAD_AMERICA.corners), cue
        assert {"cue_key", "session_id", "text", "emotion", "frame_utc"} <= set(cue)
        assert cue["frame_utc"].endswith("Z")
        assert cue["coach_source"] == "rule" and cue["tts_ms"] > 0 and 0 < cue["confidence"] <= 1
        assert cue["metrics"] and cue["pace_note"]
    assert max(Counter(c["burst_id"] for c in cues).values()) <= CUE_LIMITS.max_items
    last: dict[str, float] = {}
    for cue in cues:
        if cue["cue"] in last:
            assert cue["t_s"] - last[cue["cue"]] >= CUE_LIMITS.repeat_gap_s
        last[cue["cue"]] = cue["t_s"]


def test_without_position_or_lateral_g_the_coach_stays_quiet() -> None:
    wide = _recording().head(2000)
    frames = msgspec.convert([msgspec.json.decode(p) for p in encode_frames(wide)], list[LiveFrame])
    coach = LiveCoach(concepts=load_concepts(), track_for=lambda sid: None)
    assert coach.feed(frames) == []
    assert coach.session_id == "rec-run04" and coach.bursts == 0


def _frame(i: int, *, g_lat: float) -> LiveFrame:
    return LiveFrame(
        session_id="synthetic",
        frame_idx=i,
        t_s=i / 10,
        utc=f"2026-01-01T00:00:{i // 10:02d}.000000Z",
        speed_kph=120.0,
        g_lat=g_lat,
        g_long=0.0,
        throttle_pct=20.0,  # part throttle: "commit to the throttle" fires
        brake_bar=0.0,
    )


def test_a_window_ending_mid_corner_waits_for_low_load_and_is_trimmed() -> None:
    coach = LiveCoach(concepts=load_concepts(), track_for=lambda sid: None)
    cornering = [_frame(i, g_lat=1.2) for i in range(300)]  # 30 s at 1.2 g: never low-load
    assert coach.feed(cornering) == [] and coach.bursts == 0
    window = coach._window
    assert window[-1].t_s - window[0].t_s <= CUE_LIMITS.max_window_s + 0.1  # trimmed while waiting
    (cue,) = coach.feed([_frame(300, g_lat=0.1)])  # out of the corner: the burst closes and speaks
    assert cue["cue"] == "commit_throttle_exit" and cue["burst_id"] == 1 and cue["g_lat"] == 0.1
    assert cue["metrics"] == {"avg_throttle_pct": 20.0} and cue["s_m"] is None and cue["pace_note"] is None
    straight = [_frame(i, g_lat=0.0) for i in range(301, 301 + 200)]  # 20 s later: within the repeat gap
    assert coach.feed(straight) == [] and coach.bursts > 1
