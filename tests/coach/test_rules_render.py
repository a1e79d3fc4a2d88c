"""Findings from literal pipeline results, and the renderer: every number it states is a finding's number."""

from __future__ import annotations

import re

import polars as pl
import pytest

from pitwall import DATA_DIR
from pitwall.coach.concepts import load_concepts
from pitwall.coach.findings import Finding, finding_numbers
from pitwall.coach.render import emotion_for, fmt, render_findings, render_markdown
from pitwall.coach.rules import (
    FindingLimits,
    braking_findings,
    corner_findings,
    delta_findings,
    lap_findings,
    sector_findings,
    session_findings,
    technique_findings,
    top_opportunities,
)
from pitwall.formats.track import load_track

SONOMA = load_track(DATA_DIR / "tracks" / "sonoma.json")
CONCEPTS = load_concepts()


def _summary() -> pl.DataFrame:
    return pl.DataFrame(
        {
            "corner": ["1", "6", "7", "11"],
            "corner_name": [None, "The Carousel", None, None],
            "n_passes": [3, 3, 3, 3],
            "best_time_s": [7.2, 12.5, 8.6, 7.4],
            "mean_time_s": [7.4, 12.98, 8.92, 7.36],
            "ref_time_s": [7.08, 12.41, 8.54, 7.36],
            "mean_min_speed_kph": [135.8, 84.7, 64.4, 57.1],
            "ref_min_speed_kph": [142.2, 88.5, 67.3, 57.1],
            "delta_to_reference_s": [0.32, 0.57, 0.38, 0.0],
            "best_brake_point_s_m": [3990.0, 1300.0, 2060.0, None],
            "mean_brake_point_s_m": [3980.0, 1298.0, 2050.0, None],
        }
    )


def _corners() -> pl.DataFrame:
    return pl.DataFrame(
        {
            "corner": ["1", "6", "7", "11"],
            "exit_minus_entry_kph": [-20.0, 3.0, 2.0, 1.0],
            "apex_spread_m": [2.0, 3.0, 4.0, 1.0],
            "brake_point_spread_m": [0.5, 0.4, 0.3, 0.2],
            "pickup_after_apex_m": [10.0, 12.0, 14.0, 5.0],
            "min_speed_deficit_kph": [6.4, 3.8, 2.9, 0.0],
        }
    )


def test_corner_findings_carry_the_summary_delta_unchanged() -> None:
    found = corner_findings(_summary(), _corners(), SONOMA, CONCEPTS, confidence=0.9)
    assert [f.corner for f in found] == ["6", "7", "1"]  # largest gain first; T11 loses nothing
    carousel = found[0]
    assert carousel.gain_s == 0.57 and carousel.corner_name == "The Carousel" and carousel.confidence == 0.9
    assert carousel.s_m == next(c.s_apex_m for c in SONOMA.corners if c.number == "6")
    assert carousel.concept == "carry_min_speed"  # deficit 3.8 km/h > 3
    assert found[1].concept is None  # 2.9 km/h: no rule fires
    assert found[2].concept == "slow_in_fast_out"  # exits 20 km/h below entries (first rule in file order)
    assert [f.corner for f in top_opportunities(found, limits=FindingLimits(top_n=2))] == ["6", "7"]
    assert corner_findings(
        _summary(), _corners(), SONOMA, CONCEPTS, confidence=0.9, limits=FindingLimits(min_gain_s=0.4)
    ) == [found[0]]


def test_sector_lap_and_technique_findings() -> None:
    splits = pl.DataFrame(
        {
            "lap": [2, 2, 3, 3],
            "sector": [1, 2, 1, 2],
            "s_start_m": [0.0, 1385.0, 0.0, 1385.0],
            "time_s": [40.0, 45.0, 40.5, None],
        }
    )
    (s1,) = sector_findings(splits, confidence=1.0)  # sector 2 has one timed lap only
    assert s1.sector == 1 and s1.lap == 2 and s1.gain_s == pytest.approx(0.25) and s1.s_m == 0.0
    metrics = {
        "lap_time_cv_pct": 2.0,
        "best_lap_s": 100.0,
        "mean_lap_s": 102.0,
        "coast_pct": 15.0,
        "track_use_m": 9.0,
    }
    (laps,) = lap_findings(metrics, CONCEPTS, confidence=1.0)
    assert laps.gain_s == 2.0 and laps.concept == "consistency_first"
    assert lap_findings({"lap_time_cv_pct": None}, CONCEPTS, confidence=1.0) == []
    (tech,) = technique_findings(metrics, CONCEPTS, confidence=1.0)
    assert tech.concept == "balance_the_car" and dict(tech.metrics) == {"coast_pct": 15.0}
    every = session_findings(
        summary=_summary(),
        corners=_corners(),
        splits=splits,
        metrics=metrics,
        track=SONOMA,
        concepts=CONCEPTS,
        confidence=1.0,
    )
    assert [f.kind for f in every] == ["corner_time_loss"] * 3 + [
        "braking_point",
        "braking_point",
        "sector_time_loss",
        "lap_consistency",
        "technique",
    ]


NUMBER = re.compile(r"(?<![A-Za-z])-?\d+(?:\.\d+)?")


def _stated_numbers(text: str) -> list[float]:
    """Numbers in ``text``, corner labels (T6, T3a) left out."""
    return [float(n) for n in NUMBER.findall(re.sub(r"\bT\d+[a-z]?\b", "", text))]


def test_every_rendered_number_checks_back_against_the_findings() -> None:
    splits = pl.DataFrame(
        {"lap": [2, 3], "sector": [1, 1], "s_start_m": [0.0, 0.0], "time_s": [40.0, 40.4567]}
    )
    metrics = {"lap_time_cv_pct": 2.345, "best_lap_s": 100.123, "mean_lap_s": 102.456, "coast_pct": 15.55}
    findings = session_findings(
        summary=_summary(),
        corners=_corners(),
        splits=splits,
        metrics=metrics,
        track=SONOMA,
        concepts=CONCEPTS,
        confidence=1.0,
    )
    text = render_findings(findings, CONCEPTS)
    allowed = {round(x, d) for x in finding_numbers(findings) for d in (0, 1, 2)}
    stated = _stated_numbers(text)
    assert len(stated) > 15
    assert all(n in allowed for n in stated), [n for n in stated if n not in allowed]
    assert "T6 (The Carousel): 0.57 s to gain" in text and "15.6 % coasting" in text
    md = render_markdown(findings, top_opportunities(findings), CONCEPTS, title="Debrief")
    assert md.startswith("## Debrief\n") and "1. T6 (The Carousel)" in md and "- Sector 1: 0.23 s" in md


def test_formats_emotions_and_empty_findings() -> None:
    assert fmt("gain_s", 0.574) == "0.57" and fmt("lap_time_cv_pct", 2.345) in ("2.3", "2.4")
    assert fmt("entry_speed_kph", 101.26) == "101.3" and fmt("brake_point_s_m", 12.6) == "13"
    assert fmt("throttle_rate_p95_pct_s", 512.4) == "512" and fmt("x_m", None) == "n/a"
    assert fmt("ref_lap", 3) == "3"
    assert render_findings([]) == "Nothing measured stands out: no finding to report."
    assert emotion_for([]) == "happy"
    assert emotion_for([Finding(kind="x", gain_s=0.6)]) == "determined"
    assert emotion_for([Finding(kind="x", gain_s=0.1)]) == "encouraging"


def test_braking_points_wrap_at_the_line_and_need_two_passes() -> None:
    found = braking_findings(_summary(), SONOMA, confidence=1.0)
    assert [(f.corner, f.metrics["brake_earlier_m"]) for f in found] == [("1", 10.0), ("7", 10.0)]  # T6: 2 m
    one = _summary().with_columns(
        pl.Series("best_brake_point_s_m", [5.0, None, None, None]),
        pl.Series("mean_brake_point_s_m", [3990.0, None, None, None]),
    )
    (wrapped,) = braking_findings(one, SONOMA, confidence=1.0)  # 3990 m → 5 m across the line
    assert wrapped.metrics["brake_earlier_m"] == pytest.approx(5.0 + SONOMA.length_m - 3990.0)
    assert braking_findings(one.with_columns(pl.lit(1).alias("n_passes")), SONOMA, confidence=1.0) == []


def test_delta_t_finding_is_the_worst_stretch() -> None:
    s = [2.0 * i for i in range(501)]  # 0..1000 m every 2 m
    d = [0.0 if x < 400 else min(0.5, (x - 400) / 100 * 0.25) for x in s]  # 0.5 s lost between 400 and 600 m
    (found,) = delta_findings(pl.DataFrame({"s_m": s, "delta_s": d}), lap=4, ref_lap=2, confidence=1.0)
    assert found.kind == "delta_t_loss" and found.lap == 4 and found.gain_s == pytest.approx(0.5)
    assert 390 <= found.s_m <= 410 and found.metrics["to_s_m"] - found.metrics["from_s_m"] == 200.0
    assert found.metrics["lap_delta_s"] == 0.5 and found.metrics["ref_lap"] == 2
    assert (
        delta_findings(pl.DataFrame({"s_m": s, "delta_s": [0.0] * 501}), lap=4, ref_lap=2, confidence=1.0)
        == []
    )
