"""Corner routes: ``/corners``, ``/scorecard``, ``/throttle_corner_box`` and ``/corner_classification`` of a
session — corner passes, grades against the track's model lap (or the session's best pass), throttle through
corners and speed bands.

Errors, units and conventions: those of every session analysis route (:mod:`pitwall.api.views`).
"""

from __future__ import annotations

from typing import Annotated, Literal

import msgspec
import polars as pl
from litestar import Router
from litestar.datastructures import State
from litestar.params import Parameter

from pitwall.analysis.corners import classify_corners, throttle_corner_box
from pitwall.analysis.scorecard import corner_peaks, corner_scorecard, overall_grade
from pitwall.api.errors import ApiError
from pitwall.api.schemas import TukeyBox
from pitwall.api.views import SessionId, per_view, rows, session_get, view_of
from pitwall.formats.reference import load_model_reference
from pitwall.session_view import SessionView
from pitwall.track import turn_label


def corner_reference(view: SessionView, choice: str) -> tuple[pl.DataFrame | None, str | None]:
    """The per-corner reference of ``choice`` (``auto``: the track's model lap when it has one;
    ``session_best``: none, so each corner's best pass) and the file it came from."""
    if choice == "session_best":
        return None, None
    model = load_model_reference(view.track.id)
    return model, (f"data/reference/{view.track.id}_model.json" if model is not None else None)


ReferenceChoice = Annotated[
    Literal["auto", "session_best"],
    Parameter(
        description="auto: the track's physics-model lap when data/reference/<track>_model.json exists, "
        "else each corner's best pass of the session; session_best: always the session best"
    ),
]


class CornerPass(msgspec.Struct):
    """One lap's pass through one corner (see ``pitwall.analysis.corners``)."""

    lap: int
    corner: str
    corner_idx: int
    t_entry_s: float | None
    t_exit_s: float | None
    corner_time_s: float | None
    entry_speed_kph: float | None
    min_speed_kph: float | None
    min_speed_s_m: float | None
    min_speed_t_s: float | None
    exit_speed_kph: float | None
    brake_point_s_m: float | None
    brake_release_s_m: float | None
    max_decel_g: float | None
    throttle_pickup_s_m: float | None
    exit_accel_g: float | None


class CornerSummaryRow(msgspec.Struct):
    """Per corner: best pass, means over passes, the reference and the A–F grade (mean time vs reference:
    A < 2 %, B < 5 %, C < 10 %, D < 20 % slower, else F)."""

    corner: str
    corner_name: str | None
    direction: str | None
    corner_idx: int
    n_passes: int
    best_lap: int | None
    best_time_s: float | None
    best_entry_speed_kph: float | None
    best_min_speed_kph: float | None
    best_exit_speed_kph: float | None
    best_brake_point_s_m: float | None
    mean_time_s: float | None
    std_time_s: float | None
    mean_entry_speed_kph: float | None
    mean_min_speed_kph: float | None
    mean_exit_speed_kph: float | None
    mean_brake_point_s_m: float | None
    ref_time_s: float | None
    ref_min_speed_kph: float | None
    reference_source: str
    delta_to_reference_s: float | None
    best_delta_to_reference_s: float | None
    pct_slower: float | None
    grade: str | None


class CornersResponse(msgspec.Struct):
    """``GET /session/<sid>/corners``."""

    session_id: str
    track_id: str
    reference_file: str | None
    corners: list[CornerSummaryRow]
    passes: list[CornerPass]


class ScorecardCorner(msgspec.Struct):
    corner: str
    corner_name: str | None
    corner_idx: int
    grade: str
    grade_points: float
    pct_slower: float | None
    delta_to_reference_s: float | None
    mean_time_s: float | None
    ref_time_s: float | None
    reference_source: str
    n_passes: int


class OverallGrade(msgspec.Struct):
    grade: str | None
    grade_points: float | None
    n_corners: int
    time_lost_s: float | None
    reference_source: str | None


class OriginalScorecardCorner(msgspec.Struct):
    """A graded corner as the original PWA reads it: ``corner``/``name`` the turn label (``"Turn 11"``),
    means over the passes: ``entry_speed_kmh``, ``apex_speed_kmh`` (minimum speed), ``exit_speed_kmh`` (km/h,
    the values of our ``mean_*_speed_kph``), ``peak_brake_bar`` (bar), ``peak_g_lat`` (g, of ``|g_lat|``),
    ``time_s`` (= ``mean_time_s``) and ``delta_s`` (= ``delta_to_reference_s``); null when not logged."""

    corner: str
    name: str
    number: str
    grade: str
    entry_speed_kmh: float | None
    apex_speed_kmh: float | None
    exit_speed_kmh: float | None
    peak_brake_bar: float | None
    peak_g_lat: float | None
    time_s: float | None
    delta_s: float | None


class OriginalScorecard(msgspec.Struct):
    overall: OverallGrade
    corners: list[OriginalScorecardCorner]


class Scorecard(msgspec.Struct):
    """``GET /session/<sid>/scorecard``: A–F per corner and overall (mean grade points, A = 4 … F = 0).

    ``scorecard`` repeats the grades in the original's wrapper (``{session_id, scorecard: {corners}}``) with
    the per-corner keys its PWA reads (:class:`OriginalScorecardCorner`)."""

    session_id: str
    track_id: str
    reference_file: str | None
    overall: OverallGrade
    corners: list[ScorecardCorner]
    scorecard: OriginalScorecard


class ThrottleBox(TukeyBox):
    corner: str
    corner_idx: int


class ThrottleCornerBox(msgspec.Struct):
    """``GET /session/<sid>/throttle_corner_box``: Tukey box (1.5 IQR fences) of ``throttle_pct`` over the
    samples inside each corner, complete laps; all values in %."""

    session_id: str
    corners: list[ThrottleBox]


class CornerBand(msgspec.Struct):
    corner: str
    corner_idx: int
    mean_min_speed_kph: float | None
    band: str


class CornerClassification(msgspec.Struct):
    """``GET /session/<sid>/corner_classification``: ``low`` (mean minimum speed ≤ ``low_max_kph``),
    ``medium`` (≤ ``med_max_kph``) or ``high``."""

    session_id: str
    low_max_kph: float
    med_max_kph: float
    corners: list[CornerBand]


@per_view
def corners_body(view: SessionView, reference: str) -> CornersResponse:
    """The body of :func:`corners` (computed once per session version and arguments)."""
    model, source = corner_reference(view, reference)
    return CornersResponse(
        session_id=view.session_id,
        track_id=view.track.id,
        reference_file=source,
        corners=rows(view.corner_summary(model), CornerSummaryRow),
        passes=rows(view.passes, CornerPass),
    )


@session_get("corners", "session_corners")
def corners(state: State, session_id: SessionId, reference: ReferenceChoice = "auto") -> CornersResponse:
    """Per-corner aggregates over the complete laps: best pass, averages over all passes, A–F grade and the delta
    to the reference (the physics-model lap of ``data/reference/<track>_model.json`` when present — built from
    the simulator's physics lap by ``python -m pipelines build-reference`` — else the session's best pass)."""
    return corners_body(view_of(state, session_id), reference)


@per_view
def scorecard_body(view: SessionView, reference: str) -> Scorecard:
    """The body of :func:`scorecard` (computed once per session version and arguments)."""
    model, source = corner_reference(view, reference)
    summary = view.corner_summary(model).lazy()
    overall = msgspec.convert(overall_grade(summary).collect().row(0, named=True), OverallGrade)
    graded = corner_scorecard(summary).collect()
    return Scorecard(
        session_id=view.session_id,
        track_id=view.track.id,
        reference_file=source,
        overall=overall,
        corners=rows(graded, ScorecardCorner),
        scorecard=OriginalScorecard(overall=overall, corners=_original_corners(view, summary, graded)),
    )


@session_get("scorecard", "session_scorecard")
def scorecard(state: State, session_id: SessionId, reference: ReferenceChoice = "auto") -> Scorecard:
    """A–F grade per corner (mean pass time vs the reference, see ``/corners``) and an overall grade."""
    return scorecard_body(view_of(state, session_id), reference)


def _original_corners(
    view: SessionView, summary: pl.LazyFrame, graded: pl.DataFrame
) -> list[OriginalScorecardCorner]:
    peaks = corner_peaks(view.telemetry_g.lazy(), view.passes.lazy())
    rows = (
        graded.lazy()
        .select("corner_idx", "corner", "grade")
        .join(
            summary.select(
                "corner_idx",
                "mean_entry_speed_kph",
                "mean_min_speed_kph",
                "mean_exit_speed_kph",
                "mean_time_s",
                "delta_to_reference_s",
            ),
            on="corner_idx",
            how="left",
        )
        .join(peaks, on="corner_idx", how="left")
        .sort("corner_idx")
        .collect()
    )
    return [
        OriginalScorecardCorner(
            corner=turn_label(row["corner"]),
            name=turn_label(row["corner"]),
            number=row["corner"],
            grade=row["grade"],
            entry_speed_kmh=row["mean_entry_speed_kph"],
            apex_speed_kmh=row["mean_min_speed_kph"],
            exit_speed_kmh=row["mean_exit_speed_kph"],
            peak_brake_bar=row["peak_brake_bar"],
            peak_g_lat=row["peak_g_lat"],
            time_s=row["mean_time_s"],
            delta_s=row["delta_to_reference_s"],
        )
        for row in rows.iter_rows(named=True)
    ]


@per_view
def throttle_box_body(view: SessionView) -> ThrottleCornerBox:
    """The body of :func:`throttle_box` (computed once per session version and arguments)."""
    box = throttle_corner_box(view.driving, view.track).collect()
    return ThrottleCornerBox(session_id=view.session_id, corners=rows(box.drop("outliers"), ThrottleBox))


@session_get("throttle_corner_box", "session_throttle_corner_box")
def throttle_box(state: State, session_id: SessionId) -> ThrottleCornerBox:
    """Per corner, the Tukey box of throttle % over the samples between entry and exit (complete laps)."""
    return throttle_box_body(view_of(state, session_id))


@per_view
def corner_classification_body(view: SessionView, low_max: float, med_max: float) -> CornerClassification:
    """The body of :func:`corner_classification` (computed once per session version and arguments)."""
    summary = view.corner_summary(None).lazy()
    bands = classify_corners(summary, low_max_kph=low_max, med_max_kph=med_max).collect()
    return CornerClassification(
        session_id=view.session_id, low_max_kph=low_max, med_max_kph=med_max, corners=rows(bands, CornerBand)
    )


@session_get("corner_classification", "session_corner_classification")
def corner_classification(
    state: State,
    session_id: SessionId,
    low_max: Annotated[float, Parameter(ge=0, le=500, description="low band: min speed ≤ this, km/h")] = 80.0,
    med_max: Annotated[
        float, Parameter(ge=0, le=500, description="medium band: min speed ≤ this, km/h")
    ] = 130.0,
) -> CornerClassification:
    """Speed band of each corner from its mean minimum speed over the complete laps."""
    if low_max >= med_max:
        raise ApiError(400, "invalid request", f"low_max ({low_max}) must be below med_max ({med_max})")
    return corner_classification_body(view_of(state, session_id), low_max, med_max)


router = Router(
    "/", route_handlers=[corners, scorecard, throttle_box, corner_classification], tags=["analysis"]
)
