"""The rubric score and the cross-session history (weak corners, insights, brief)."""

from __future__ import annotations

import polars as pl

from pitwall import DATA_DIR
from pitwall.coach.concepts import load_concepts
from pitwall.coach.history import (
    HISTORY_COLUMNS,
    corner_history,
    insights,
    render_brief,
    surface_state,
    weak_corners,
    weather_phase,
)
from pitwall.coach.score import letter_for, letter_for_points, score_rubric
from pitwall.formats.track import load_track

SONOMA = load_track(DATA_DIR / "tracks" / "sonoma.json")


def test_rubric_grades_each_item_with_a_reason() -> None:
    corners = {"grade": "B", "grade_points": 3.0, "time_lost_s": 1.234, "n_corners": 14}
    items, grade, points = score_rubric({"lap_time_cv_pct": 0.7, "coast_pct": 13.0}, corners)
    by_item = {i.item: i for i in items}
    assert by_item["consistency"].grade == "B" and "0.7 %" in by_item["consistency"].reason
    assert by_item["pedals"].grade == "D" and by_item["pedals"].metrics == {"coast_pct": 13.0}
    assert by_item["corners"].grade == "B" and "1.23 s lost" in by_item["corners"].reason
    assert points == (3.0 + 3.0 + 1.0) / 3 and grade == "C"  # 2.33 grade points: nearest letter C
    items, grade, points = score_rubric({"lap_time_cv_pct": None, "coast_pct": None}, {"grade": None})
    assert grade is None and points is None and all(i.grade is None for i in items)
    assert "not measured" in items[0].reason


def test_letters() -> None:
    assert [letter_for(v, (1.0, 2.0, 3.0, 4.0)) for v in (0.5, 1.0, 2.5, 3.9, 4.0)] == [
        "A",
        "B",
        "C",
        "D",
        "F",
    ]
    assert [letter_for_points(p) for p in (4.0, 3.5, 3.49, 2.5, 1.5, 0.6, 0.49)] == [
        "A",
        "A",
        "B",
        "B",
        "C",
        "D",
        "F",
    ]


def _stack() -> pl.DataFrame:
    return pl.DataFrame(
        {
            "session_id": ["a", "a", "b", "b", "c"],
            "corner": ["6", "7", "6", "7", "6"],
            "corner_name": ["The Carousel", None, "The Carousel", None, "The Carousel"],
            "delta_to_reference_s": [0.6, 0.01, 0.4, 0.02, None],
        },
        schema=HISTORY_COLUMNS,
    )


def test_history_weak_corners_and_insights() -> None:
    history = corner_history(_stack().lazy()).collect()
    assert history["corner"].to_list() == ["6", "7"]
    carousel = history.row(0, named=True)
    assert (
        carousel["n_sessions"] == 2
        and carousel["n_losing"] == 2
        and abs(carousel["mean_loss_s"] - 0.5) < 1e-12
    )
    assert [w["corner"] for w in weak_corners(history)] == ["6"]  # T7 never lost ≥ 0.05 s
    items = insights(history, {"balance_the_car": 2, "unknown": 5}, load_concepts())
    assert [i["id"] for i in items] == ["corner-6", "concept-balance_the_car"]
    assert items[0]["est_gain_s"] == carousel["mean_loss_s"] and items[1]["est_gain_s"] is None
    assert items[0]["title"] == "T6 (The Carousel) costs time in 2 of 2 sessions"
    empty = corner_history(pl.LazyFrame(schema=HISTORY_COLUMNS)).collect()
    assert weak_corners(empty) == [] and insights(empty, {}, load_concepts()) == []


def test_weather_phase_surface_and_brief() -> None:
    early, midday = weather_phase(SONOMA, 6), weather_phase(SONOMA, 13)
    assert early is not None and midday is not None
    assert surface_state(early) == "cold" and surface_state(midday) == "hot" and surface_state(None) is None
    assert surface_state(weather_phase(SONOMA, 9)) == "optimal"
    weak = weak_corners(corner_history(_stack().lazy()).collect())
    md = render_brief(
        SONOMA, phase=midday, surface="hot", weak=weak, focus=["braking"], goal="1:45", driver="Taha"
    )
    assert md.startswith("## Brief: Sonoma Raceway for Taha")
    assert f"{midday.label}, air 26.0 °C, track 42.0 °C (hot)" in md
    assert "- T6 (The Carousel): 0.50 s per lap on average, in 2 of 2 sessions" in md
    assert "**Focus**: braking" in md and "**Goal**: 1:45" in md
