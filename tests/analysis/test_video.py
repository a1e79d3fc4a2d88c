from __future__ import annotations

import polars as pl
import pytest
from polars.testing import assert_frame_equal

from pitwall.analysis.video import (
    CLIP_COLUMNS,
    clip_windows,
    pairs_from_frames,
    pairs_from_timeline,
    sync_summary,
    video_clips,
    video_timeline,
)


def telemetry() -> pl.LazyFrame:
    # file 1 from t=0 with a 31,066 ms offset; sample at t=0.3 is 80 ms late; file 2 starts at t=0.5
    return pl.LazyFrame(
        {
            "frame_idx": [0, 1, 2, 3, 4, 5, 6, 7],
            "t_s": [0.0, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7],
            "video_file_idx": [1, 1, 1, 1, 1, 2, 2, None],
            "video_t_ms": [31066, 31166, 31266, 31286, 31466, 0, 100, None],
        },
        schema_overrides={"video_file_idx": pl.Int32, "video_t_ms": pl.Int64},
    )


def test_timeline_names_files_like_vbox() -> None:
    tl = video_timeline(telemetry(), base_name="Run04_", extension="mp4").collect()
    assert tl["video_file"].unique(maintain_order=True).to_list() == ["Run04_0001.mp4", "Run04_0002.mp4"]
    assert tl.height == 7
    assert video_timeline(telemetry()).collect()["video_file"][0] == "0001"


def test_embedded_sync_flags_the_late_sample() -> None:
    pairs = pairs_from_timeline(video_timeline(telemetry(), base_name="R_", extension="mp4"))
    summary = sync_summary(pairs, tolerance_ms=50.0).collect()
    assert summary["video_file"].to_list() == ["R_0001.mp4", "R_0002.mp4"]
    assert summary["n_pairs"].to_list() == [5, 2]
    assert summary["n_matched"].to_list() == [4, 2]
    assert summary["max_abs_error_ms"].to_list() == pytest.approx([80.0, 0.0])
    assert summary["in_sync"].to_list() == [False, True]
    assert summary["video_start_ms"].to_list() == [31066, 0]


def test_frames_table_matches_nearest_sample_within_tolerance() -> None:
    frames = pl.LazyFrame(
        {"t_s": [0.02, 0.29, 0.44, 2.0], "video_file": ["cam.mp4"] * 4, "video_t_ms": [20, 290, 440, 2000]},
        schema_overrides={"video_t_ms": pl.Int64},
    )
    pairs = pairs_from_frames(telemetry(), frames, tolerance_ms=50.0).collect()
    assert pairs["frame_idx"].to_list() == [0, 3, 4, None]
    assert pairs["error_ms"].to_list()[:2] == pytest.approx([20.0, -10.0])
    summary = sync_summary(pairs.lazy()).collect().row(0, named=True)
    assert (summary["n_pairs"], summary["n_matched"], summary["in_sync"]) == (4, 3, False)


def test_clips_per_lap_and_incident_split_across_files() -> None:
    laps = pl.LazyFrame(
        {"lap": [1, 2], "t_start_s": [0.0, 0.35], "t_end_s": [0.35, 0.7]}, schema_overrides={"lap": pl.Int32}
    )
    incidents = pl.LazyFrame(
        {"kind": ["spin"], "lap": [1], "t_s": [0.1], "t_end_s": [0.2]}, schema_overrides={"lap": pl.Int32}
    )
    windows = clip_windows(laps, incidents, pre_s=0.05, post_s=0.1).collect()
    assert windows.select("clip_id", "kind").rows() == [(1, "lap"), (2, "incident:spin"), (3, "lap")]
    clips = video_clips(
        video_timeline(telemetry(), base_name="R_", extension="mp4"), windows.lazy()
    ).collect()
    expected = pl.DataFrame(
        {
            "clip_id": [1, 2, 3, 3],
            "kind": ["lap", "incident:spin", "lap", "lap"],
            "lap": [1, 1, 2, 2],
            "video_file": ["R_0001.mp4", "R_0001.mp4", "R_0001.mp4", "R_0002.mp4"],
            "start_ms": [31066, 31166, 31466, 0],
            "end_ms": [31286, 31286, 31466, 100],
            "duration_ms": [220, 120, 0, 100],
            "t_start_s": [0.0, 0.1, 0.4, 0.5],
            "t_end_s": [0.3, 0.3, 0.4, 0.6],
        },
        schema=CLIP_COLUMNS,
    )
    assert_frame_equal(clips, expected)
