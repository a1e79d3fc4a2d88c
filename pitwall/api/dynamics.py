"""Vehicle-dynamics routes: ``/highlights``, ``/stats``, ``/friction_circle``, ``/hustle_map`` and
``/straight_line_speed`` of a session. Where no accelerometer was logged, ``g_lat``/``g_long``/``yaw_rate_dps``
are derived from GPS speed and course (:func:`pitwall.analysis.friction.add_derived_g`) and ``g_derived`` says so.

Errors, units and conventions: those of every session analysis route (:mod:`pitwall.api.views`).
"""

from __future__ import annotations

from typing import Annotated

import msgspec
import polars as pl
from litestar import Router
from litestar.datastructures import State
from litestar.params import Parameter

from pitwall.analysis.friction import friction_envelope, max_combined_g_expr, pick_friction_points
from pitwall.analysis.highlights import pick_highlights
from pitwall.analysis.hustle import hustle_map
from pitwall.analysis.speed import straight_speeds, straight_summary
from pitwall.analysis.stats import session_stats
from pitwall.api.errors import ApiError
from pitwall.api.views import SessionId, g_derived, per_view, rows, session_get, view_of
from pitwall.session_view import SessionView


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


@per_view
def highlights_body(view: SessionView) -> Highlights:
    """The body of :func:`highlights` (computed once per session version and arguments)."""
    moments = pick_highlights(
        laps=view.laps.lazy(),
        passes=view.passes.lazy(),
        telemetry=view.driving,
        sectors=view.sectors.lazy(),
        length_m=view.track.length_m,
    ).collect()
    return Highlights(session_id=view.session_id, highlights=rows(moments, Highlight))


@session_get("highlights", "session_highlights")
def highlights(state: State, session_id: SessionId) -> Highlights:
    """The top 8 moments: best lap, best sector, top speed, biggest corner gain, latest braking, most speed
    carried, best exit, peak g — each with ``t_s``, ``s_m``, ``lap`` and its number."""
    return highlights_body(view_of(state, session_id))


@per_view
def stats_body(view: SessionView) -> SessionStats:
    """The body of :func:`stats` (computed once per session version and arguments)."""
    row = session_stats(view.telemetry_g.lazy(), view.laps.lazy()).collect().row(0, named=True)
    return msgspec.convert({"session_id": view.session_id, "track_id": view.track.id, **row}, SessionStats)


@session_get("stats", "session_stats")
def stats(state: State, session_id: SessionId) -> SessionStats:
    """Session aggregates: laps (all / complete / valid), best, mean, median and spread of valid lap times,
    duration, distance, top and mean moving speed, time on throttle / full throttle / brakes, peak g."""
    return stats_body(view_of(state, session_id))


@per_view
def friction_circle_body(view: SessionView, max_points: int, sector_deg: int) -> FrictionCircle:
    """The body of :func:`friction_circle` (computed once per session version and arguments)."""
    driving = view.driving
    points = pick_friction_points(driving, max_points=max_points, sector_deg=10.0).collect()
    envelope = friction_envelope(driving, sector_deg=float(sector_deg)).collect()
    return FrictionCircle(
        session_id=view.session_id,
        g_derived=g_derived(view),
        max_combined_g=driving.select(max_combined_g_expr()).collect().item(),
        points=rows(points, FrictionPoint),
        envelope=rows(envelope, EnvelopeSector),
    )


@session_get("friction_circle", "session_friction_circle")
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
    return friction_circle_body(view_of(state, session_id), max_points, sector_deg)


@per_view
def hustle_body(view: SessionView, bin_m: float, full_th: float) -> HustleMap:
    """The body of :func:`hustle` (computed once per session version and arguments)."""
    length = view.track.length_m
    segments = hustle_map(view.driving, length_m=length, bin_m=bin_m, full_th=full_th).collect()
    return HustleMap(
        session_id=view.session_id,
        track_length_m=length,
        bin_m=bin_m,
        full_th_pct=full_th,
        segments=rows(segments, HustleSegment),
    )


@session_get("hustle_map", "session_hustle_map")
def hustle(
    state: State,
    session_id: SessionId,
    bin_m: Annotated[float, Parameter(ge=5, le=1000, description="segment length, metres")] = 50.0,
    full_th: Annotated[float, Parameter(ge=0, le=100, description="full-throttle threshold, %")] = 98.0,
) -> HustleMap:
    """Per ``bin_m`` segment of the lap: the share of time at full throttle over the complete laps."""
    return hustle_body(view_of(state, session_id), bin_m, full_th)


@per_view
def straight_line_speed_body(view: SessionView) -> StraightLineSpeed:
    """The body of :func:`straight_line_speed` (computed once per session version and arguments)."""
    passes = (
        straight_speeds(view.telemetry_g.lazy(), view.track)
        .filter(pl.col("lap").is_in(view.complete_lap_numbers))
        .collect()
    )
    return StraightLineSpeed(
        session_id=view.session_id,
        straights=rows(straight_summary(passes.lazy()).collect(), StraightSummaryRow),
        laps=rows(passes, StraightPass),
    )


@session_get("straight_line_speed", "session_straight_line_speed")
def straight_line_speed(state: State, session_id: SessionId) -> StraightLineSpeed:
    """Top speed on each of the track's named straights, per complete lap, with the best and mean."""
    return straight_line_speed_body(view_of(state, session_id))


router = Router(
    "/", route_handlers=[highlights, stats, friction_circle, hustle, straight_line_speed], tags=["analysis"]
)
