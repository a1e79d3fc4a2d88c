"""Braking, pedal and incident routes: ``/eob``, ``/brake_acceleration``, ``/pedal_behavior`` and
``/incidents`` of a session. Thresholds default to the one source in :mod:`pitwall.analysis` (brake and
throttle: :mod:`pitwall.analysis.pedals`; incidents: :data:`pitwall.analysis.incidents.INCIDENT_THRESHOLDS`).

Errors, units and conventions: those of every session analysis route (:mod:`pitwall.api.views`).
"""

from __future__ import annotations

from typing import Annotated

import msgspec
import polars as pl
from litestar import Router
from litestar.datastructures import State
from litestar.params import Parameter

from pitwall.analysis.braking import brake_accel_summary, eob_summary
from pitwall.analysis.incidents import INCIDENT_THRESHOLDS, detect_incidents
from pitwall.analysis.pedals import (
    BRAKE_UNITS,
    DEFAULT_BRAKE_TH,
    DEFAULT_THROTTLE_PCT,
    DEFAULT_TURN_G,
    brake_channel_expr,
    pedal_time_by_lap,
    pedal_time_session,
)
from pitwall.api.views import SessionId, g_derived, per_view, rows, session_get, view_of
from pitwall.session_view import SessionView


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


SpinDps = Annotated[float, Parameter(ge=10, le=2000, description="spin: yaw-rate threshold, deg/s")]
HalfWidth = Annotated[float, Parameter(ge=1, le=50, description="off-track: track half-width, m")]
LockupG = Annotated[float, Parameter(ge=0.5, le=10, description="lock-up: deceleration limit, g")]
StopKph = Annotated[float, Parameter(ge=0, le=50, description="stop: speed below, km/h")]
StopMinS = Annotated[float, Parameter(ge=0.5, le=3600, description="stop: minimum duration, s")]


@per_view
def end_of_braking_body(view: SessionView) -> EndOfBraking:
    """The body of :func:`end_of_braking` (computed once per session version and arguments)."""
    passes = view.passes
    summary = eob_summary(passes.lazy(), view.track).collect()
    return EndOfBraking(
        session_id=view.session_id,
        brake_channel=view.telemetry_g.select(brake_channel_expr()).item(),
        corners=rows(summary, EobCorner),
        passes=rows(passes.select("lap", "corner", "brake_point_s_m", "brake_release_s_m"), EobPass),
    )


@session_get("eob", "session_end_of_braking")
def end_of_braking(state: State, session_id: SessionId) -> EndOfBraking:
    """End of braking per corner (the brake release before the exit; from brake pressure, or from
    deceleration > 0.3 g when no brake channel was logged): mean, earliest, latest, spread and the distance
    to the apex, plus every pass's brake point and release."""
    return end_of_braking_body(view_of(state, session_id))


@per_view
def brake_acceleration_body(view: SessionView) -> BrakeAcceleration:
    """The body of :func:`brake_acceleration` (computed once per session version and arguments)."""
    summary = brake_accel_summary(view.passes.lazy()).collect()
    return BrakeAcceleration(
        session_id=view.session_id, g_derived=g_derived(view), corners=rows(summary, BrakeAccelCorner)
    )


@session_get("brake_acceleration", "session_brake_acceleration")
def brake_acceleration(state: State, session_id: SessionId) -> BrakeAcceleration:
    """Peak deceleration (g) braking into each corner and the exit acceleration (g), over the complete laps."""
    return brake_acceleration_body(view_of(state, session_id))


@per_view
def pedal_behavior_body(
    view: SessionView, throttle_th: float, brake_th: float | None, turn_g: float
) -> PedalBehavior:
    """The body of :func:`pedal_behavior` (computed once per session version and arguments)."""
    options = {"throttle_th": throttle_th, "brake_th": brake_th, "turn_g": turn_g}
    session = pedal_time_session(view.driving, **options).collect().row(0, named=True)  # type: ignore[arg-type]
    laps = pedal_time_by_lap(view.driving, **options).collect()  # type: ignore[arg-type]
    channel = session.pop("brake_channel")
    not_logged = session.pop("not_logged")
    unit = BRAKE_UNITS.get(channel or "")
    default_th = DEFAULT_BRAKE_TH.get(channel or "")
    threshold = brake_th if brake_th is not None else default_th
    states = {
        name: PedalState(
            time_s=session[f"{name}_s"],
            pct=None if session[f"{name}_frac"] is None else 100.0 * session[f"{name}_frac"],
        )
        for name in ("throttle_only", "brake_only", "trail_brake", "coast")
    }
    steps = view.driving.select(
        pl.len().alias("n"), pl.col("t_s").diff().over("lap").median().alias("dt")
    ).collect()
    return PedalBehavior(
        session_id=view.session_id,
        throttle_th_pct=throttle_th,
        brake_th=threshold,
        brake_unit=unit,
        brake_channel=channel,
        turn_g=turn_g,
        session=msgspec.convert(session, PedalTimes),
        laps=rows(laps, LapPedalTimes),
        states=states,
        thresholds=PedalThresholds(throttle_pct=throttle_th, brake_bar=threshold if unit == "bar" else None),
        frame_count=int(steps["n"][0]),
        frame_dt_s=steps["dt"][0],
        not_logged=not_logged,
    )


@session_get("pedal_behavior", "session_pedal_behavior")
def pedal_behavior(
    state: State,
    session_id: SessionId,
    throttle_th: Annotated[
        float, Parameter(ge=0, le=100, description="throttle on at ≥ this %")
    ] = DEFAULT_THROTTLE_PCT,
    brake_th: Annotated[
        float | None,
        Parameter(
            ge=0,
            le=1000,
            description="brake on at ≥ this (bar for brake_bar, % for brake_pct); default 2 bar / 5 %",
        ),
    ] = None,
    turn_g: Annotated[
        float, Parameter(ge=0, le=5, description="trail braking: |g_lat| ≥ this, g")
    ] = DEFAULT_TURN_G,
) -> PedalBehavior:
    """Four pedal states (throttle_only, brake_only, trail_brake, coast) as seconds and time fractions, per
    complete lap and over all of them."""
    return pedal_behavior_body(view_of(state, session_id), throttle_th, brake_th, turn_g)


@per_view
def incident_events(view: SessionView, **thresholds: float) -> pl.DataFrame:
    """The incidents of the view's complete laps (:func:`~pitwall.analysis.incidents.detect_incidents` with
    every one of its ``thresholds`` given by name): one computation per session version and limits, shared by
    ``/incidents`` and ``/clips`` (which cuts those at the default limits)."""
    return detect_incidents(view.driving, **thresholds).collect()


@per_view
def incidents_body(
    view: SessionView,
    spin_dps: float,
    half_width_m: float,
    lockup_g: float,
    stop_kph: float,
    stop_min_s: float,
) -> Incidents:
    """The body of :func:`incidents` (computed once per session version and arguments)."""
    thresholds = {
        "spin_dps": spin_dps,
        "half_width_m": half_width_m,
        "lockup_g": lockup_g,
        "stop_kph": stop_kph,
        "stop_min_s": stop_min_s,
    }
    found = incident_events(view, **{**INCIDENT_THRESHOLDS.as_dict(), **thresholds})
    return Incidents(
        session_id=view.session_id, count=found.height, thresholds=thresholds, incidents=rows(found, Incident)
    )


@session_get("incidents", "session_incidents")
def incidents(
    state: State,
    session_id: SessionId,
    spin_dps: SpinDps = INCIDENT_THRESHOLDS.spin_dps,
    half_width_m: HalfWidth = INCIDENT_THRESHOLDS.half_width_m,
    lockup_g: LockupG = INCIDENT_THRESHOLDS.lockup_g,
    stop_kph: StopKph = INCIDENT_THRESHOLDS.stop_kph,
    stop_min_s: StopMinS = INCIDENT_THRESHOLDS.stop_min_s,
) -> Incidents:
    """Flagged events in the complete laps, each with kind, time, place, lap, peak value vs threshold and
    severity: spins (yaw/course rate ≥ ``spin_dps`` while moving), off-track (``|offset_m|`` from the
    reference line > ``half_width_m`` for ≥ 0.3 s), lock-ups (deceleration ≥ ``lockup_g``: the default 2 g is
    beyond a car without downforce), stops on track (< ``stop_kph`` for ≥ ``stop_min_s``)."""
    return incidents_body(view_of(state, session_id), spin_dps, half_width_m, lockup_g, stop_kph, stop_min_s)


router = Router(
    "/", route_handlers=[end_of_braking, brake_acceleration, pedal_behavior, incidents], tags=["analysis"]
)
