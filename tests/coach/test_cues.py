"""Burst metrics, cue candidates and the cue discipline; pace notes from the track markers."""

from __future__ import annotations

import polars as pl
import pytest

from pitwall import DATA_DIR
from pitwall.coach.concepts import load_concepts
from pitwall.coach.cues import (
    BurstSummary,
    CueGate,
    CueLimits,
    burst_metrics,
    candidate_cues,
    tts_ms,
    window_metrics,
)
from pitwall.coach.pace_notes import next_corner, pace_note
from pitwall.formats.track import load_track

CONCEPTS = load_concepts()
SONOMA = load_track(DATA_DIR / "tracks" / "sonoma.json")


def test_burst_metrics_from_the_pwa_summary() -> None:
    m = burst_metrics(
        BurstSummary(coast_frames=30, trail_brake_frames=1, frame_count=200, max_brake_bar=42.0)
    )
    assert m["coast_pct"] == 15.0 and m["trail_brake_pct"] == 0.5 and m["max_brake_bar"] == 42.0
    assert m["avg_throttle_pct"] is None  # not sent: null, never 0
    assert burst_metrics(BurstSummary(coast_frames=3))["coast_pct"] is None  # no frame_count


def test_window_metrics_use_the_pedal_states_of_the_analysis() -> None:
    frames = pl.DataFrame(
        {
            "t_s": [0.0, 0.1, 0.2, 0.3],
            "speed_kph": [100.0, 90.0, 80.0, 80.0],
            "throttle_pct": [0.0, 0.0, 0.0, 60.0],
            "brake_bar": [30.0, 30.0, 0.0, 0.0],
            "brake_pct": [None, None, None, None],
            "g_lat": [0.0, 0.6, 0.1, 0.2],
            "g_long": [-0.9, -0.5, 0.0, 0.2],
        },
        schema_overrides={"brake_pct": pl.Float64},
    )
    m = window_metrics(frames)
    assert m["coast_pct"] == pytest.approx(25.0) and m["trail_brake_pct"] == pytest.approx(25.0)
    assert m["max_brake_bar"] == 30.0 and m["avg_speed_kph"] == pytest.approx(87.5)
    assert m["max_lateral_g"] == pytest.approx(0.6) and m["frame_count"] == 4


def test_candidate_cues_carry_their_numbers_and_speech_time() -> None:
    metrics = burst_metrics(BurstSummary(coast_frames=30, frame_count=100, avg_throttle_pct=30.0))
    cues = candidate_cues(metrics, CONCEPTS, confidence=0.8)
    assert [c.cue for c in cues] == ["commit_throttle_exit", "balance_the_car"]
    balance = cues[1]
    assert balance.text == "Balance the car: 30.0 % coasting, pick a pedal"
    assert balance.metrics == {"coast_pct": 30.0} and balance.confidence == 0.8
    assert balance.tts_ms == tts_ms(balance.text) == round(60_000 * 9 / 165) + 300  # 9 words


def test_gate_keeps_quiet_in_corners_caps_bursts_and_spaces_repeats() -> None:
    metrics = {
        "coast_pct": 30.0,
        "avg_throttle_pct": 30.0,
        "max_brake_bar": 50.0,
        "trail_brake_pct": 0.0,
        "lap_time_cv_pct": 9.0,
        "min_speed_deficit_kph": 9.0,
    }
    cues = candidate_cues(metrics, CONCEPTS, confidence=1.0)
    assert len(cues) == 5
    gate = CueGate(CueLimits(max_items=3, repeat_gap_s=30.0))
    assert gate.admit(cues, now_s=0.0, in_corner=True) == ([], "in_corner")
    assert gate.admit(cues, now_s=0.0, past_apex=True) == ([], "past_apex")
    spoken, reason = gate.admit(cues, now_s=1.0)
    assert [c.cue for c in spoken] == [c.cue for c in cues[:3]] and reason == "max_items"
    again, reason = gate.admit(cues, now_s=20.0)  # the first three are within the gap
    assert [c.cue for c in again] == [c.cue for c in cues[3:]] and reason == "repeat_gap"
    later, _ = gate.admit(cues, now_s=31.0)
    assert [c.cue for c in later] == [c.cue for c in cues[:3]]
    assert gate.admit([], now_s=100.0, in_corner=True) == ([], None)


def test_pace_notes_read_the_next_corner_and_its_markers() -> None:
    carousel = next(c for c in SONOMA.corners if c.number == "6")
    marker = next(m for m in SONOMA.markers if m.corner == "6")
    note = pace_note(SONOMA, s_m=carousel.s_entry_m - 128.0)
    assert note is not None and note.corner == "6" and note.corner_name == "The Carousel"
    assert marker.s_m == carousel.s_entry_m  # the turn-in board sits at the entry: 128 m to go
    assert note.distance_m == 128.0
    assert note.text.startswith(f"{note.distance_m:.0f}, T6 The Carousel, left, ")
    assert marker.text in note.text
    last = max(SONOMA.corners, key=lambda c: c.s_entry_m)
    first = min(SONOMA.corners, key=lambda c: c.s_entry_m)
    wrapped = next_corner(SONOMA, s_m=last.s_entry_m + 1.0)
    assert wrapped is not None and wrapped.number == first.number  # across the start/finish line
    after = pace_note(SONOMA, after_corner="5")
    assert after is not None and after.corner == "6" and after.distance_m is None
    assert after.text.startswith("T6 The Carousel, left")
