"""Session analytics: every ``GET /session/<sid>/…`` analysis route except the lap-timing ones.

All routes follow the contract: 404 ``{"error": "no telemetry"}`` (or ``"unknown session"``) when the session has
no telemetry, 400 ``{"error": "no complete lap"}`` when it has no complete lap, 400 ``{"error": "invalid
request"}`` for a query parameter out of range. Handlers are thin: they load the cached
:class:`~pitwall.session_view.SessionView`, call the pure pipelines of :mod:`pitwall.analysis` and collect.

Conventions of every payload: units in field names (``_s`` seconds, ``_m`` metres, ``_kph`` km/h, ``_g`` g,
``_pct`` percent 0..100, ``_frac`` fraction 0..1, ``_dps`` deg/s, ``_ms`` milliseconds); positions along the
lap are ``s_m`` values of the session's track; ``t_s`` is seconds since session start. Analyses run over the
samples of *complete* laps (kind ``flying``), except ``/map`` and ``/clips`` (every lap) and ``/sync`` (all
samples). Where no accelerometer was logged, ``g_lat``/``g_long``/``yaw_rate_dps`` are derived from GPS speed
and course (:func:`pitwall.analysis.friction.add_derived_g`) and ``g_derived`` says so.
"""

from __future__ import annotations

import threading
import weakref
from dataclasses import dataclass, field
from typing import Annotated, Final, Literal, TypeVar, cast

import msgspec
import polars as pl
from litestar import Router, get
from litestar.datastructures import State
from litestar.params import Parameter

from pitwall.analysis.braking import brake_accel_summary, eob_summary
from pitwall.analysis.corners import (
    classify_corners,
    corner_passes,
    corner_summary,
    throttle_corner_box,
)
from pitwall.analysis.friction import (
    add_derived_g,
    friction_envelope,
    max_combined_g_expr,
    pick_friction_points,
)
from pitwall.analysis.highlights import pick_highlights
from pitwall.analysis.hustle import hustle_map
from pitwall.analysis.incidents import detect_incidents
from pitwall.analysis.maps import lap_polylines, reference_polyline
from pitwall.analysis.pedals import pedal_time_by_lap, pedal_time_session
from pitwall.analysis.scorecard import corner_peaks, corner_scorecard, overall_grade
from pitwall.analysis.sectors import sector_splits
from pitwall.analysis.speed import straight_speeds, straight_summary
from pitwall.analysis.stats import session_stats
from pitwall.analysis.video import (
    clip_windows,
    pairs_from_frames,
    pairs_from_timeline,
    sync_summary,
    video_clips,
    video_timeline,
)
from pitwall.api.deps import store_of
from pitwall.api.errors import ApiError
from pitwall.api.schemas import TukeyBox
from pitwall.api.views import view_of
from pitwall.formats.reference import MODEL_LAP, load_model_reference
from pitwall.session_view import SessionView
from pitwall.track import turn_label

RowT = TypeVar("RowT", bound=msgspec.Struct)


def _rows(df: pl.DataFrame, row_type: type[RowT]) -> list[RowT]:
    return msgspec.convert(df.to_dicts(), list[row_type])  # type: ignore[valid-type]


def _session_get(route: str, operation_id: str) -> get:
    """The route decorator of every handler here: ``GET /session/{session_id}/<route>``, run off the event
    loop (the pipelines and the store block)."""
    return get(f"/session/{{session_id:str}}/{route}", operation_id=operation_id, sync_to_thread=True)


# -- per-session preparation, cached alongside the session view ----------------------------------------------


@dataclass(eq=False)
class Prepared:
    """A session view plus what most routes need: telemetry with (derived) g and the complete laps' passes."""

    view: SessionView
    telemetry: pl.DataFrame
    complete_laps: list[int]
    _passes: pl.DataFrame | None = field(default=None, repr=False)
    _sectors: pl.DataFrame | None = field(default=None, repr=False)

    @property
    def driving(self) -> pl.LazyFrame:
        """Samples of complete laps (with g)."""
        return self.telemetry.lazy().filter(pl.col("lap").is_in(self.complete_laps))

    def passes(self) -> pl.DataFrame:
        """Corner passes (default thresholds) of the complete laps; computed once per view."""
        if self._passes is None:
            self._passes = (
                corner_passes(self.telemetry.lazy(), self.view.track)
                .filter(pl.col("lap").is_in(self.complete_laps))
                .collect()
            )
        return self._passes

    def sectors(self) -> pl.DataFrame:
        """The long sector table (``pitwall.analysis.sectors.sector_splits``) of the laps; computed once."""
        if self._sectors is None:
            view = self.view
            self._sectors = sector_splits(view.telemetry, view.laps.lazy(), view.track).collect()
        return self._sectors


_prepare_lock = threading.Lock()


def _prepared(state: State, session_id: str) -> Prepared:
    """The prepared session (404 / 400 per the contract). Kept in a weak map keyed by the cached view, so it
    lives exactly as long as the view stays in the session-view cache."""
    view = view_of(state, session_id)
    with _prepare_lock:
        table = state.get("analysis_prepared")
        if table is None:
            table = weakref.WeakKeyDictionary()
            state.analysis_prepared = table
        hit = cast("Prepared | None", table.get(view))
    if hit is not None:
        return hit
    laps = view.require_complete_lap()["lap"].to_list()
    prepared = Prepared(view=view, telemetry=add_derived_g(view.telemetry).collect(), complete_laps=laps)
    with _prepare_lock:
        table[view] = prepared
    return prepared


def _reference(prepared: Prepared, choice: str) -> tuple[pl.DataFrame | None, str | None]:
    if choice == "session_best":
        return None, None
    model = load_model_reference(prepared.view.track.id)
    return model, (f"data/reference/{prepared.view.track.id}_model.json" if model is not None else None)


def _summary(prepared: Prepared, reference: pl.DataFrame | None) -> pl.DataFrame:
    lazy_ref = reference.lazy() if reference is not None else None
    return corner_summary(
        prepared.passes().lazy(), prepared.view.track, reference=lazy_ref, reference_label=MODEL_LAP
    ).collect()


ReferenceChoice = Annotated[
    Literal["auto", "session_best"],
    Parameter(
        description="auto: the track's physics-model lap when data/reference/<track>_model.json exists, "
        "else each corner's best pass of the session; session_best: always the session best"
    ),
]


# -- response types ---------------------------------------------------------------------------------------------


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


class Highlight(msgspec.Struct):
    rank: int
    kind: str
    title: str
    lap: int | None
    t_s: float | None
    s_m: float | None
    value: float | None
    unit: str
    margin: float | None
    detail: str | None


class Highlights(msgspec.Struct):
    """``GET /session/<sid>/highlights``: the top 8 moments (``value`` in ``unit``; ``margin`` = how far it beats
    the usual, same unit)."""

    session_id: str
    highlights: list[Highlight]


class SessionStats(msgspec.Struct):
    """``GET /session/<sid>/stats``: one row of session aggregates (see ``pitwall.analysis.stats``)."""

    session_id: str
    track_id: str
    n_laps: int
    n_complete_laps: int
    n_valid_laps: int
    best_lap: int | None
    best_lap_s: float | None
    mean_lap_s: float | None
    median_lap_s: float | None
    std_lap_s: float | None
    duration_s: float | None
    distance_m: float | None
    max_speed_kph: float | None
    mean_moving_speed_kph: float | None
    on_throttle_frac: float | None
    full_throttle_frac: float | None
    braking_frac: float | None
    max_lateral_g: float | None
    max_braking_g: float | None
    max_combined_g: float | None
    g_derived: bool | None
    not_logged: list[str] = []


class FrictionPoint(msgspec.Struct):
    t_s: float
    lap: int | None
    s_m: float | None
    g_lat: float
    g_long: float
    g_combined: float
    g_derived: bool


class EnvelopeSector(msgspec.Struct):
    sector_from_deg: float
    sector_to_deg: float
    n_samples: int
    max_g: float
    p90_g: float
    near_limit_frac: float


class FrictionCircle(msgspec.Struct):
    """``GET /session/<sid>/friction_circle``: g_lat (positive left) × g_long (positive forward) points, thinned
    to about ``max_points`` keeping each direction's extreme; the envelope per ``sector_deg`` direction sector
    (0° = accelerating, 90° = left, 180° = braking, 270° = right; samples under 0.2 g ignored)."""

    session_id: str
    g_derived: bool
    max_combined_g: float | None
    points: list[FrictionPoint]
    envelope: list[EnvelopeSector]


class HustleSegment(msgspec.Struct):
    segment: int
    s_from_m: float
    s_to_m: float
    time_s: float
    full_throttle_s: float | None
    full_throttle_frac: float | None
    n_laps: int


class HustleMap(msgspec.Struct):
    """``GET /session/<sid>/hustle_map``: time share at full throttle (``throttle_pct ≥ full_th_pct``) per
    ``bin_m`` segment of the lap, over the complete laps."""

    session_id: str
    track_length_m: float
    bin_m: float
    full_th_pct: float
    segments: list[HustleSegment]


class EobCorner(msgspec.Struct):
    corner: str
    corner_idx: int
    n_passes: int
    mean_eob_s_m: float
    min_eob_s_m: float
    max_eob_s_m: float
    spread_m: float
    std_m: float | None
    eob_to_apex_m: float


class EobPass(msgspec.Struct):
    lap: int
    corner: str
    brake_point_s_m: float | None
    brake_release_s_m: float | None


class EndOfBraking(msgspec.Struct):
    """``GET /session/<sid>/eob``: where braking ends per corner and how much it varies (metres); ``eob_to_apex_m``
    is negative when the brake is released before the apex."""

    session_id: str
    brake_channel: str | None
    corners: list[EobCorner]
    passes: list[EobPass]


class Incident(msgspec.Struct):
    kind: str
    t_s: float
    t_end_s: float
    duration_s: float
    s_m: float | None
    lap: int | None
    value: float
    threshold: float
    unit: str
    severity: str


class Incidents(msgspec.Struct):
    """``GET /session/<sid>/incidents``: spins, off-track excursions, lock-ups and stops on track in the complete
    laps, with the thresholds used (see ``pitwall.analysis.incidents``)."""

    session_id: str
    count: int
    thresholds: dict[str, float]
    incidents: list[Incident]


class LinePoint(msgspec.Struct):
    s_m: float
    lat_deg: float
    lon_deg: float
    alt_m: float | None


class LapTrace(msgspec.Struct):
    """One lap's thinned GPS trace as parallel arrays."""

    lap: int
    kind: str | None
    valid: bool | None
    t_s: list[float]
    s_m: list[float | None]
    lat_deg: list[float]
    lon_deg: list[float]
    speed_kph: list[float | None]


class TrackMap(msgspec.Struct):
    """``GET /session/<sid>/map``: the track reference line and each lap's GPS trace (thinned to
    ``max_points`` per line, last point kept)."""

    session_id: str
    track_id: str
    track_name: str
    track_length_m: float
    reference_line: list[LinePoint]
    laps: list[LapTrace]


class SyncFile(msgspec.Struct):
    video_file: str
    n_pairs: int
    n_matched: int
    matched_frac: float
    max_abs_error_ms: float | None
    t_start_s: float | None
    t_end_s: float | None
    video_start_ms: int
    video_end_ms: int
    in_sync: bool


class VideoSync(msgspec.Struct):
    """``GET /session/<sid>/sync``: telemetry ↔ video alignment at ±``tolerance_ms``. ``source``: the
    ``video_frames`` table when it has rows, else the telemetry's own video columns (VBO ``avitime``).
    ``available`` false (with ``reason``) when the session has no video link."""

    session_id: str
    available: bool
    reason: str | None
    source: str | None
    tolerance_ms: float
    in_sync: bool | None
    matched_frac: float | None
    files: list[SyncFile]


class Clip(msgspec.Struct):
    clip_id: int
    kind: str
    lap: int | None
    video_file: str
    start_ms: int
    end_ms: int
    duration_ms: int
    t_start_s: float
    t_end_s: float


class Clips(msgspec.Struct):
    """``GET /session/<sid>/clips``: the video cut list — one clip per lap and per incident (padded by
    ``pre_s``/``post_s``), split where a window spans two video files. ``available`` false without video."""

    session_id: str
    available: bool
    reason: str | None
    clips: list[Clip]


class PedalTimes(msgspec.Struct):
    """Seconds and time fractions per pedal state; null when a channel the state needs is not logged."""

    total_s: float
    throttle_only_s: float | None
    throttle_only_frac: float | None
    brake_only_s: float | None
    brake_only_frac: float | None
    trail_brake_s: float | None
    trail_brake_frac: float | None
    coast_s: float | None
    coast_frac: float | None


class LapPedalTimes(PedalTimes):
    lap: int


class PedalState(msgspec.Struct):
    """One pedal state over all complete laps as the original reads it: ``time_s`` (s), ``pct`` (percent of
    the time, 0..100 — our ``*_frac`` × 100); both null when the state's channels are not logged."""

    time_s: float | None
    pct: float | None


class PedalThresholds(msgspec.Struct):
    throttle_pct: float
    brake_bar: float | None


class PedalBehavior(msgspec.Struct):
    """``GET /session/<sid>/pedal_behavior``: time in throttle_only, brake_only, trail_brake (brake on while
    ``|g_lat| ≥ turn_g``) and coast, per complete lap and over them all. ``brake_th`` is in bar when the
    session logs ``brake_bar``, else in % of ``brake_pct`` (``brake_unit``).

    The original's keys beside them: ``states.<state>.{time_s, pct}`` (percent), ``thresholds``
    (``brake_bar`` null when the brake threshold is in %), ``frame_count`` (samples of the complete laps) and
    ``frame_dt_s`` (median sample step, s)."""

    session_id: str
    throttle_th_pct: float
    brake_th: float | None
    brake_unit: str | None
    brake_channel: str | None
    turn_g: float
    session: PedalTimes
    laps: list[LapPedalTimes]
    states: dict[str, PedalState]
    thresholds: PedalThresholds
    frame_count: int
    frame_dt_s: float | None
    not_logged: list[str] = []


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


class StraightSummaryRow(msgspec.Struct):
    straight: str
    straight_idx: int
    n_laps: int
    best_top_speed_kph: float | None
    best_lap: int | None
    mean_top_speed_kph: float | None
    std_top_speed_kph: float | None


class StraightPass(msgspec.Struct):
    lap: int
    straight: str
    straight_idx: int
    top_speed_kph: float | None
    top_speed_s_m: float | None
    top_speed_t_s: float | None
    entry_speed_kph: float | None


class StraightLineSpeed(msgspec.Struct):
    """``GET /session/<sid>/straight_line_speed``: top speed per named straight, per complete lap and best/mean."""

    session_id: str
    straights: list[StraightSummaryRow]
    laps: list[StraightPass]


class BrakeAccelCorner(msgspec.Struct):
    corner: str
    corner_idx: int
    n_passes: int
    peak_decel_g: float | None
    peak_decel_lap: int | None
    mean_peak_decel_g: float | None
    mean_exit_accel_g: float | None
    best_exit_accel_g: float | None
    best_exit_accel_lap: int | None


class BrakeAcceleration(msgspec.Struct):
    """``GET /session/<sid>/brake_acceleration``: peak deceleration into each corner and mean exit acceleration
    (from the minimum-speed point to 50 m past the exit), in g."""

    session_id: str
    g_derived: bool
    corners: list[BrakeAccelCorner]


# -- routes -----------------------------------------------------------------------------------------------------

SessionId = Annotated[str, Parameter(description="session id")]


def _g_derived(prepared: Prepared) -> bool:
    return bool(prepared.driving.select(pl.col("g_derived").any()).collect().item())


@_session_get("corners", "session_corners")
def corners(state: State, session_id: SessionId, reference: ReferenceChoice = "auto") -> CornersResponse:
    """Per-corner aggregates over the complete laps: best pass, averages over all passes, A–F grade and the delta
    to the reference (the physics-model lap of ``data/reference/<track>_model.json`` when present — built from
    the simulator's physics lap by ``python -m pipelines build-reference`` — else the session's best pass)."""
    prepared = _prepared(state, session_id)
    model, source = _reference(prepared, reference)
    return CornersResponse(
        session_id=session_id,
        track_id=prepared.view.track.id,
        reference_file=source,
        corners=_rows(_summary(prepared, model), CornerSummaryRow),
        passes=_rows(prepared.passes(), CornerPass),
    )


@_session_get("scorecard", "session_scorecard")
def scorecard(state: State, session_id: SessionId, reference: ReferenceChoice = "auto") -> Scorecard:
    """A–F grade per corner (mean pass time vs the reference, see ``/corners``) and an overall grade."""
    prepared = _prepared(state, session_id)
    model, source = _reference(prepared, reference)
    summary = _summary(prepared, model).lazy()
    overall = msgspec.convert(overall_grade(summary).collect().row(0, named=True), OverallGrade)
    graded = corner_scorecard(summary).collect()
    return Scorecard(
        session_id=session_id,
        track_id=prepared.view.track.id,
        reference_file=source,
        overall=overall,
        corners=_rows(graded, ScorecardCorner),
        scorecard=OriginalScorecard(overall=overall, corners=_original_corners(prepared, summary, graded)),
    )


def _original_corners(
    prepared: Prepared, summary: pl.LazyFrame, graded: pl.DataFrame
) -> list[OriginalScorecardCorner]:
    peaks = corner_peaks(prepared.telemetry.lazy(), prepared.passes().lazy())
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


@_session_get("highlights", "session_highlights")
def highlights(state: State, session_id: SessionId) -> Highlights:
    """The top 8 moments: best lap, best sector, top speed, biggest corner gain, latest braking, most speed
    carried, best exit, peak g — each with ``t_s``, ``s_m``, ``lap`` and its number."""
    prepared = _prepared(state, session_id)
    view = prepared.view
    moments = pick_highlights(
        laps=view.laps.lazy(),
        passes=prepared.passes().lazy(),
        telemetry=prepared.driving,
        sectors=prepared.sectors().lazy(),
        length_m=view.track.length_m,
    ).collect()
    return Highlights(session_id=session_id, highlights=_rows(moments, Highlight))


@_session_get("stats", "session_stats")
def stats(state: State, session_id: SessionId) -> SessionStats:
    """Session aggregates: laps (all / complete / valid), best, mean, median and spread of valid lap times,
    duration, distance, top and mean moving speed, time on throttle / full throttle / brakes, peak g."""
    prepared = _prepared(state, session_id)
    row = session_stats(prepared.telemetry.lazy(), prepared.view.laps.lazy()).collect().row(0, named=True)
    return msgspec.convert(
        {"session_id": session_id, "track_id": prepared.view.track.id, **row}, SessionStats
    )


@_session_get("friction_circle", "session_friction_circle")
def friction_circle(
    state: State,
    session_id: SessionId,
    max_points: Annotated[int, Parameter(ge=100, le=20_000, description="points to return (about)")] = 2000,
    sector_deg: Annotated[
        int, Parameter(ge=5, le=90, description="envelope sector width, degrees (must divide 360)")
    ] = 30,
) -> FrictionCircle:
    """g_lat × g_long scatter of the complete laps (thinned, extremes kept), the largest combined g, and the
    grip envelope per direction sector with the share of samples near it."""
    if 360 % sector_deg:
        raise ApiError(400, "invalid request", f"sector_deg must divide 360 (got {sector_deg})")
    prepared = _prepared(state, session_id)
    driving = prepared.driving
    points = pick_friction_points(driving, max_points=max_points, sector_deg=10.0).collect()
    envelope = friction_envelope(driving, sector_deg=float(sector_deg)).collect()
    return FrictionCircle(
        session_id=session_id,
        g_derived=_g_derived(prepared),
        max_combined_g=driving.select(max_combined_g_expr()).collect().item(),
        points=_rows(points, FrictionPoint),
        envelope=_rows(envelope, EnvelopeSector),
    )


@_session_get("hustle_map", "session_hustle_map")
def hustle(
    state: State,
    session_id: SessionId,
    bin_m: Annotated[float, Parameter(ge=5, le=1000, description="segment length, metres")] = 50.0,
    full_th: Annotated[float, Parameter(ge=0, le=100, description="full-throttle threshold, %")] = 98.0,
) -> HustleMap:
    """Per ``bin_m`` segment of the lap: the share of time at full throttle over the complete laps."""
    prepared = _prepared(state, session_id)
    length = prepared.view.track.length_m
    segments = hustle_map(prepared.driving, length_m=length, bin_m=bin_m, full_th=full_th).collect()
    return HustleMap(
        session_id=session_id,
        track_length_m=length,
        bin_m=bin_m,
        full_th_pct=full_th,
        segments=_rows(segments, HustleSegment),
    )


def _brake_channel(prepared: Prepared) -> str | None:
    frame = prepared.telemetry
    for name in ("brake_bar", "brake_pct"):
        if frame[name].null_count() < frame.height:
            return name
    return None


@_session_get("eob", "session_end_of_braking")
def end_of_braking(state: State, session_id: SessionId) -> EndOfBraking:
    """End of braking per corner (the brake release before the exit; from brake pressure, or from
    deceleration > 0.3 g when no brake channel was logged): mean, earliest, latest, spread and the distance
    to the apex, plus every pass's brake point and release."""
    prepared = _prepared(state, session_id)
    passes = prepared.passes()
    summary = eob_summary(passes.lazy(), prepared.view.track).collect()
    return EndOfBraking(
        session_id=session_id,
        brake_channel=_brake_channel(prepared),
        corners=_rows(summary, EobCorner),
        passes=_rows(passes.select("lap", "corner", "brake_point_s_m", "brake_release_s_m"), EobPass),
    )


INCIDENT_THRESHOLDS: Final[dict[str, float]] = {
    "spin_dps": 90.0,
    "half_width_m": 7.5,
    "lockup_g": 2.0,
    "stop_kph": 5.0,
    "stop_min_s": 3.0,
}
"""The default thresholds of ``/incidents`` (and the ones ``/clips`` cuts incidents with)."""

SpinDps = Annotated[float, Parameter(ge=10, le=2000, description="spin: yaw-rate threshold, deg/s")]
HalfWidth = Annotated[float, Parameter(ge=1, le=50, description="off-track: track half-width, m")]
LockupG = Annotated[float, Parameter(ge=0.5, le=10, description="lock-up: deceleration limit, g")]
StopKph = Annotated[float, Parameter(ge=0, le=50, description="stop: speed below, km/h")]
StopMinS = Annotated[float, Parameter(ge=0.5, le=3600, description="stop: minimum duration, s")]


@_session_get("incidents", "session_incidents")
def incidents(
    state: State,
    session_id: SessionId,
    spin_dps: SpinDps = INCIDENT_THRESHOLDS["spin_dps"],
    half_width_m: HalfWidth = INCIDENT_THRESHOLDS["half_width_m"],
    lockup_g: LockupG = INCIDENT_THRESHOLDS["lockup_g"],
    stop_kph: StopKph = INCIDENT_THRESHOLDS["stop_kph"],
    stop_min_s: StopMinS = INCIDENT_THRESHOLDS["stop_min_s"],
) -> Incidents:
    """Flagged events in the complete laps, each with kind, time, place, lap, peak value vs threshold and
    severity: spins (yaw/course rate ≥ ``spin_dps`` while moving), off-track (``|offset_m|`` from the
    reference line > ``half_width_m`` for ≥ 0.3 s), lock-ups (deceleration ≥ ``lockup_g``: the default 2 g is
    beyond a car without downforce), stops on track (< ``stop_kph`` for ≥ ``stop_min_s``)."""
    prepared = _prepared(state, session_id)
    thresholds = {
        "spin_dps": spin_dps,
        "half_width_m": half_width_m,
        "lockup_g": lockup_g,
        "stop_kph": stop_kph,
        "stop_min_s": stop_min_s,
    }
    found = detect_incidents(prepared.driving, **thresholds).collect()
    return Incidents(
        session_id=session_id, count=found.height, thresholds=thresholds, incidents=_rows(found, Incident)
    )


@_session_get("map", "session_map")
def track_map(
    state: State,
    session_id: SessionId,
    max_points: Annotated[int, Parameter(ge=50, le=5000, description="points per line (at most)")] = 500,
) -> TrackMap:
    """The track's reference line and every lap's GPS trace (with lap ids, kind and validity), thinned."""
    prepared = _prepared(state, session_id)
    view = prepared.view
    traces = lap_polylines(view.telemetry, max_points_per_lap=max_points).collect()
    kinds = {row["lap"]: row for row in view.laps.select("lap", "kind", "valid").iter_rows(named=True)}
    laps = [
        LapTrace(
            lap=int(lap),
            kind=kinds.get(lap, {}).get("kind"),
            valid=kinds.get(lap, {}).get("valid"),
            t_s=part["t_s"].to_list(),
            s_m=part["s_m"].to_list(),
            lat_deg=part["lat_deg"].to_list(),
            lon_deg=part["lon_deg"].to_list(),
            speed_kph=part["speed_kph"].to_list(),
        )
        for (lap,), part in traces.group_by("lap", maintain_order=True)
    ]
    return TrackMap(
        session_id=session_id,
        track_id=view.track.id,
        track_name=view.track.name,
        track_length_m=view.track.length_m,
        reference_line=_rows(reference_polyline(view.track, max_points=max_points).collect(), LinePoint),
        laps=laps,
    )


def _video_names(view: SessionView) -> tuple[str | None, str | None]:
    video = view.session.meta.get("video") or {}
    extensions = video.get("extensions") or []
    return video.get("base_name"), (str(extensions[0]) if extensions else None)


def _timeline(state: State, prepared: Prepared) -> tuple[pl.LazyFrame | None, str | None]:
    """The session's video timeline and where it came from (``video_frames`` or ``telemetry``)."""
    frames = store_of(state).read_video_frames(prepared.view.session_id)
    if frames.height:
        return frames.lazy().select("t_s", "video_file", "video_t_ms"), "video_frames"
    base, extension = _video_names(prepared.view)
    timeline = video_timeline(prepared.view.telemetry, base_name=base, extension=extension).collect()
    return (timeline.lazy(), "telemetry") if timeline.height else (None, None)


NO_VIDEO = "the session has no video_frames rows and its telemetry carries no video_file_idx/video_t_ms"


@_session_get("sync", "session_video_sync")
def video_sync(
    state: State,
    session_id: SessionId,
    tolerance_ms: Annotated[float, Parameter(gt=0, le=1000, description="sync tolerance, ms")] = 50.0,
) -> VideoSync:
    """Telemetry ↔ video frames matched within ±``tolerance_ms``, summarised per video file (pairs, matched
    share, worst error, time and video spans)."""
    prepared = _prepared(state, session_id)
    timeline, source = _timeline(state, prepared)
    if timeline is None:
        return VideoSync(session_id, False, NO_VIDEO, None, tolerance_ms, None, None, [])
    if source == "video_frames":
        pairs = pairs_from_frames(prepared.view.telemetry, timeline, tolerance_ms=tolerance_ms)
    else:
        pairs = pairs_from_timeline(timeline)
    files = sync_summary(pairs, tolerance_ms=tolerance_ms).collect()
    matched = int(files["n_matched"].sum()) / max(int(files["n_pairs"].sum()), 1)
    return VideoSync(
        session_id=session_id,
        available=True,
        reason=None,
        source=source,
        tolerance_ms=tolerance_ms,
        in_sync=bool(files["in_sync"].all()),
        matched_frac=matched,
        files=_rows(files, SyncFile),
    )


@_session_get("clips", "session_clips")
def clips(
    state: State,
    session_id: SessionId,
    kind: Annotated[Literal["all", "laps", "incidents"], Parameter(description="which cuts")] = "all",
    pre_s: Annotated[float, Parameter(ge=0, le=120, description="incident clips start this early, s")] = 3.0,
    post_s: Annotated[float, Parameter(ge=0, le=120, description="incident clips end this late, s")] = 3.0,
) -> Clips:
    """The video cut list: per lap (every lap) and per incident (default thresholds of ``/incidents``):
    file, start_ms, end_ms within that file."""
    prepared = _prepared(state, session_id)
    timeline, _ = _timeline(state, prepared)
    if timeline is None:
        return Clips(session_id=session_id, available=False, reason=NO_VIDEO, clips=[])
    laps = prepared.view.laps.lazy() if kind != "incidents" else prepared.view.laps.lazy().head(0)
    found = detect_incidents(prepared.driving, **INCIDENT_THRESHOLDS).collect()
    events = found.lazy() if kind != "laps" else found.lazy().head(0)
    cut = video_clips(timeline, clip_windows(laps, events, pre_s=pre_s, post_s=post_s)).collect()
    return Clips(session_id=session_id, available=True, reason=None, clips=_rows(cut, Clip))


@_session_get("pedal_behavior", "session_pedal_behavior")
def pedal_behavior(
    state: State,
    session_id: SessionId,
    throttle_th: Annotated[float, Parameter(ge=0, le=100, description="throttle on at ≥ this %")] = 5.0,
    brake_th: Annotated[
        float | None,
        Parameter(
            ge=0,
            le=1000,
            description="brake on at ≥ this (bar for brake_bar, % for brake_pct); default 2 bar / 5 %",
        ),
    ] = None,
    turn_g: Annotated[float, Parameter(ge=0, le=5, description="trail braking: |g_lat| ≥ this, g")] = 0.3,
) -> PedalBehavior:
    """Four pedal states (throttle_only, brake_only, trail_brake, coast) as seconds and time fractions, per
    complete lap and over all of them."""
    prepared = _prepared(state, session_id)
    options = {"throttle_th": throttle_th, "brake_th": brake_th, "turn_g": turn_g}
    session = pedal_time_session(prepared.driving, **options).collect().row(0, named=True)  # type: ignore[arg-type]
    laps = pedal_time_by_lap(prepared.driving, **options).collect()  # type: ignore[arg-type]
    channel = session.pop("brake_channel")
    not_logged = session.pop("not_logged")
    unit = {"brake_bar": "bar", "brake_pct": "%"}.get(channel or "")
    default_th = {"brake_bar": 2.0, "brake_pct": 5.0}.get(channel or "")
    threshold = brake_th if brake_th is not None else default_th
    states = {
        name: PedalState(
            time_s=session[f"{name}_s"],
            pct=None if session[f"{name}_frac"] is None else 100.0 * session[f"{name}_frac"],
        )
        for name in ("throttle_only", "brake_only", "trail_brake", "coast")
    }
    steps = prepared.driving.select(
        pl.len().alias("n"), pl.col("t_s").diff().over("lap").median().alias("dt")
    ).collect()
    return PedalBehavior(
        session_id=session_id,
        throttle_th_pct=throttle_th,
        brake_th=threshold,
        brake_unit=unit,
        brake_channel=channel,
        turn_g=turn_g,
        session=msgspec.convert(session, PedalTimes),
        laps=_rows(laps, LapPedalTimes),
        states=states,
        thresholds=PedalThresholds(throttle_pct=throttle_th, brake_bar=threshold if unit == "bar" else None),
        frame_count=int(steps["n"][0]),
        frame_dt_s=steps["dt"][0],
        not_logged=not_logged,
    )


@_session_get("throttle_corner_box", "session_throttle_corner_box")
def throttle_box(state: State, session_id: SessionId) -> ThrottleCornerBox:
    """Per corner, the Tukey box of throttle % over the samples between entry and exit (complete laps)."""
    prepared = _prepared(state, session_id)
    box = throttle_corner_box(prepared.driving, prepared.view.track).collect()
    return ThrottleCornerBox(session_id=session_id, corners=_rows(box.drop("outliers"), ThrottleBox))


@_session_get("corner_classification", "session_corner_classification")
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
    prepared = _prepared(state, session_id)
    summary = _summary(prepared, None).lazy()
    bands = classify_corners(summary, low_max_kph=low_max, med_max_kph=med_max).collect()
    return CornerClassification(
        session_id=session_id, low_max_kph=low_max, med_max_kph=med_max, corners=_rows(bands, CornerBand)
    )


@_session_get("straight_line_speed", "session_straight_line_speed")
def straight_line_speed(state: State, session_id: SessionId) -> StraightLineSpeed:
    """Top speed on each of the track's named straights, per complete lap, with the best and mean."""
    prepared = _prepared(state, session_id)
    passes = (
        straight_speeds(prepared.telemetry.lazy(), prepared.view.track)
        .filter(pl.col("lap").is_in(prepared.complete_laps))
        .collect()
    )
    return StraightLineSpeed(
        session_id=session_id,
        straights=_rows(straight_summary(passes.lazy()).collect(), StraightSummaryRow),
        laps=_rows(passes, StraightPass),
    )


@_session_get("brake_acceleration", "session_brake_acceleration")
def brake_acceleration(state: State, session_id: SessionId) -> BrakeAcceleration:
    """Peak deceleration (g) braking into each corner and the exit acceleration (g), over the complete laps."""
    prepared = _prepared(state, session_id)
    summary = brake_accel_summary(prepared.passes().lazy()).collect()
    return BrakeAcceleration(
        session_id=session_id, g_derived=_g_derived(prepared), corners=_rows(summary, BrakeAccelCorner)
    )


router = Router(
    "/",
    route_handlers=[
        corners,
        scorecard,
        highlights,
        stats,
        friction_circle,
        hustle,
        end_of_braking,
        incidents,
        track_map,
        video_sync,
        clips,
        pedal_behavior,
        throttle_box,
        corner_classification,
        straight_line_speed,
        brake_acceleration,
    ],
    tags=["analysis"],
)

__all__ = ["Prepared", "router"]
