"""The deterministic session score (``POST /score``): a rubric of three graded items with reasons (pure).

Items: ``consistency`` (lap-time spread), ``corners`` (the A–F corner grades of
:func:`pitwall.analysis.scorecard.overall_grade`) and ``pedals`` (time spent coasting). Each item has a letter,
grade points (A = 4 … F = 0, :data:`pitwall.analysis.corners.GRADE_POINTS`), the metrics it used and a reason;
the overall grade is the mean of the graded items' points.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final

from pitwall.analysis.corners import GRADE_POINTS
from pitwall.coach.render import fmt


@dataclass(frozen=True)
class RubricLimits:
    """Upper bounds (exclusive) of grades A, B, C, D for the rubric's measured values; above the last is F."""

    lap_time_cv_pct: tuple[float, float, float, float] = (0.5, 1.0, 2.0, 3.0)
    coast_pct: tuple[float, float, float, float] = (5.0, 8.0, 12.0, 18.0)


RUBRIC_LIMITS: Final = RubricLimits()


@dataclass(frozen=True)
class RubricItem:
    item: str
    grade: str | None
    grade_points: float | None
    metrics: dict[str, float | None]
    reason: str

    def to_dict(self) -> dict[str, Any]:
        return {
            "item": self.item,
            "grade": self.grade,
            "grade_points": self.grade_points,
            "metrics": self.metrics,
            "reason": self.reason,
        }


def letter_for(value: float, bands: Sequence[float]) -> str:
    """A..D for the first band ``value`` is below, else F (smaller is better)."""
    return next((letter for letter, upper in zip("ABCD", bands, strict=True) if value < upper), "F")


def letter_for_points(points: float) -> str:
    """The letter whose grade points are nearest (ties go up), as the corner scorecard does."""
    for letter, value in sorted(GRADE_POINTS.items(), key=lambda kv: -kv[1]):
        if value > 0 and points >= value - 0.5:
            return letter
    return "F"


def _banded(item: str, key: str, value: float | None, bands: Sequence[float], what: str) -> RubricItem:
    if value is None:
        return RubricItem(item, None, None, {key: None}, f"not graded: {what} was not measured")
    letter = letter_for(value, bands)
    bounds = ", ".join(f"{a} < {fmt(key, b)}" for a, b in zip("ABCD", bands, strict=True))
    reason = f"{what} {fmt(key, value)} % ({bounds}, else F)"
    return RubricItem(item, letter, GRADE_POINTS[letter], {key: value}, reason)


def score_rubric(
    metrics: Mapping[str, float | None],
    overall_corners: Mapping[str, Any],
    limits: RubricLimits = RUBRIC_LIMITS,
) -> tuple[list[RubricItem], str | None, float | None]:
    """The rubric items, the overall letter and its grade points (``None`` when nothing could be graded).

    ``metrics``: :func:`pitwall.coach.metrics.session_metrics` (``lap_time_cv_pct``, ``coast_pct``);
    ``overall_corners``: the row of :func:`pitwall.analysis.scorecard.overall_grade`.
    """
    consistency = _banded(
        "consistency",
        "lap_time_cv_pct",
        metrics.get("lap_time_cv_pct"),
        limits.lap_time_cv_pct,
        "lap-time variation",
    )
    pedals = _banded("pedals", "coast_pct", metrics.get("coast_pct"), limits.coast_pct, "time coasting")
    grade, points = overall_corners.get("grade"), overall_corners.get("grade_points")
    lost, n = overall_corners.get("time_lost_s"), overall_corners.get("n_corners")
    corners = RubricItem(
        "corners",
        grade,
        points,
        {"grade_points": points, "time_lost_s": lost, "n_corners": None if n is None else float(n)},
        f"mean corner grade over {n} corners, {fmt('time_lost_s', lost)} s lost against the reference"
        if grade is not None
        else "not graded: no corner pass",
    )
    items = [consistency, corners, pedals]
    graded = [i.grade_points for i in items if i.grade_points is not None]
    if not graded:
        return items, None, None
    mean = sum(graded) / len(graded)
    return items, letter_for_points(mean), mean
