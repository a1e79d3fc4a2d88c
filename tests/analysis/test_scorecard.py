from __future__ import annotations

from collections.abc import Sequence

import polars as pl
import pytest

from pitwall.analysis.scorecard import corner_scorecard, overall_grade


def summary(grades: Sequence[str | None], sources: list[str]) -> pl.LazyFrame:
    n = len(grades)
    return pl.LazyFrame(
        {
            "corner": [str(i + 1) for i in range(n)],
            "corner_name": [None] * n,
            "corner_idx": list(range(n)),
            "grade": grades,
            "pct_slower": [1.0 + i for i in range(n)],
            "delta_to_reference_s": [0.1 * (i + 1) for i in range(n)],
            "mean_time_s": [5.0] * n,
            "ref_time_s": [4.9] * n,
            "reference_source": sources,
            "n_passes": [3] * n,
        },
        schema_overrides={
            "corner_name": pl.String,
            "grade": pl.String,
            "corner_idx": pl.Int32,
            "n_passes": pl.Int32,
        },
    )


def test_corner_rows_carry_grade_points() -> None:
    out = corner_scorecard(summary(["A", "F", None, "C"], ["model_lap"] * 4)).collect()
    assert out["corner"].to_list() == ["1", "2", "4"]
    assert out["grade_points"].to_list() == [4.0, 0.0, 2.0]


@pytest.mark.parametrize(
    ("grades", "letter", "points"),
    [
        (["A", "A", "B"], "A", 11 / 3),
        (["A", "B", "C", "D"], "B", 2.5),
        (["C", "D", "F", "F"], "D", 0.75),
        (["F", "F"], "F", 0.0),
    ],
)
def test_overall_grade_rounds_the_mean_points(grades: list[str], letter: str, points: float) -> None:
    out = overall_grade(summary(grades, ["model_lap"] * len(grades))).collect().row(0, named=True)
    assert out["grade"] == letter and out["grade_points"] == pytest.approx(points)
    assert out["n_corners"] == len(grades) and out["reference_source"] == "model_lap"
    assert out["time_lost_s"] == pytest.approx(sum(0.1 * (i + 1) for i in range(len(grades))))


def test_overall_reference_source_mixed_and_empty() -> None:
    mixed = overall_grade(summary(["A", "B"], ["gold", "session_best"])).collect()
    assert mixed["reference_source"].to_list() == ["mixed"]
    empty = overall_grade(summary([None], ["model_lap"])).collect().row(0, named=True)
    assert empty["grade"] is None and empty["n_corners"] == 0
