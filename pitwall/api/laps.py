"""Lap routes: ``/session/<sid>/laps``, ``/lap_time_table``, ``/lap_time_distribution``, ``/ideal_lap``,
``/sector_times``, ``/delta`` and ``/optimal_lap``.

Every number comes from the pure pipelines of :mod:`pitwall.analysis.laps`, ``sectors``, ``delta`` and
``optimal`` run on the session's :class:`~pitwall.session_view.SessionView` (cached per session and frame
count). Status codes: 404 unknown session / no telemetry, 400 when the session has no complete lap (not for
``/laps``, which lists whatever was found) or a parameter is invalid, 503 without a database. Times are seconds
(``_s``), distances metres (``_m``), speeds km/h (``_kph``), full precision.
"""

from __future__ import annotations

from typing import Annotated, Any, Final

import msgspec
import polars as pl
from litestar import Router, get
from litestar.datastructures import State
from litestar.params import Parameter

from pitwall.analysis.delta import braking_delta, braking_points, delta_t, stitch_traces
from pitwall.analysis.optimal import (
    DEFAULT_SEGMENT_M,
    SeamTolerance,
    mini_sector_times,
    optimal_pieces,
    optimal_summary,
    optimal_trace,
)
from pitwall.analysis.sectors import (
    lap_time_distribution,
    lap_time_table,
    sector_table,
    sector_times,
)
from pitwall.api.errors import ApiError
from pitwall.api.schemas import TukeyBox
from pitwall.api.views import per_view, view_of
from pitwall.session_view import SessionView

SID = Annotated[str, Parameter(description="session id")]
STEP_M = Annotated[float, Parameter(ge=0.5, le=50.0, description="grid step along the lap, metres (0.5..50)")]
SEGMENT_M = Annotated[
    float, Parameter(ge=10.0, le=1000.0, description="mini-sector length, metres (10..1000)")
]
DEFAULT_TOLERANCE: Final = SeamTolerance()


class LapEntry(msgspec.Struct, omit_defaults=True):
    """One entry of ``/laps``: the full session (``method`` ``all``) or a lap (with ``lap``, ``kind``, …)."""

    name: str
    t_start: float
    t_end: float
    duration_s: float
    distance_m: float | None
    method: str
    lap: int | None = None
    kind: str | None = None
    valid: bool | None = None
    reason: str | None = None
    clock_repairs: int | None = None  # clock faults repaired inside the lap (its time is the repaired one)


class LapsEnvelope(msgspec.Struct):
    laps: list[LapEntry]
    track_length_m: float


class SectorDef(msgspec.Struct):
    sector: int
    s_start_m: float
    s_end_m: float


class LapTimeTable(msgspec.Struct):
    """Rows: ``lap, kind, method, valid, reason, t_start_s, t_end_s, duration_s, distance_m, s1_s…,
    delta_to_best_s, is_best_lap, is_best_s1…`` (see ``pitwall.analysis.sectors.lap_time_table``).

    Aliases the original PWA reads, beside them: top-level ``session_id``, ``lap_count``,
    ``best_lap_number`` (= ``best_lap``); per row ``lap_number`` (= ``lap``), ``lap_time_s``
    (= ``duration_s``), ``is_best`` (= ``is_best_lap``) and ``sectors: [{name: "S1", time_s, is_best}]``
    (= ``s1_s``/``is_best_s1``…, ``time_s`` null when the sector was not timed)."""

    session_id: str
    laps: list[dict[str, Any]]
    sectors: list[SectorDef]
    best_lap: int | None
    best_lap_s: float | None
    best_lap_number: int | None
    lap_count: int


class SectorTimes(msgspec.Struct):
    """Rows: ``lap, s1_s, s2_s…`` for the complete (flying) laps."""

    laps: list[dict[str, Any]]
    sectors: list[SectorDef]


class LapTimeDistribution(TukeyBox):
    """Tukey box of the valid flying lap times (s); null figures when no lap is valid."""

    outliers: list[float]
    outlier_laps: list[int]


class IdealSector(msgspec.Struct):
    sector: int
    s_start_m: float
    s_end_m: float
    best_s: float | None
    lap: int | None


class IdealLap(msgspec.Struct):
    """Σ best sectors over valid flying laps; ``gain_s`` = best lap − ideal lap."""

    ideal_lap_s: float | None
    best_lap_s: float | None
    gain_s: float | None
    sectors: list[IdealSector]


class DeltaReference(msgspec.Struct):
    kind: str  # best | ideal | optimal | lap | session
    label: str
    session_id: str
    lap: int | None
    lap_time_s: float


class DeltaPoint(msgspec.Struct):
    s_m: float
    t_s: float
    ref_t_s: float
    delta_s: float
    speed_kph: float | None
    ref_speed_kph: float | None


class BrakingComparison(msgspec.Struct):
    corner: str
    s_brake_m: float
    ref_s_brake_m: float
    delta_m: float


class DeltaBody(msgspec.Struct):
    """Delta-T along ``s_m``: ``delta_s = t_lap(s) − t_ref(s)``, positive = slower than the reference;
    braking points per corner with ``delta_m`` positive = braking later than the reference."""

    session_id: str
    lap: int
    lap_time_s: float
    ref: DeltaReference
    final_delta_s: float
    step_m: float
    points: list[DeltaPoint]
    braking: list[BrakingComparison]


class OptimalSegment(msgspec.Struct):
    seg: int
    s_start_m: float
    s_end_m: float
    lap: int | None
    time_s: float | None
    best_time_s: float | None
    best_lap: int | None


class SeamToleranceBody(msgspec.Struct):
    offset_m: float
    speed_frac: float
    heading_deg: float


class OptimalLap(msgspec.Struct):
    """Achievable optimal lap (mini-sectors joined only where laps agree at the seams) next to the plain
    Σ best mini-sectors and Σ best sectors (ideal lap)."""

    optimal_lap_s: float | None
    sum_best_mini_sectors_s: float | None
    ideal_lap_s: float | None
    best_lap_s: float | None
    segment_m: float
    n_segments: int
    n_switches: int
    laps_used: list[int]
    tolerance: SeamToleranceBody
    segments: list[OptimalSegment]


# -- computations on a view (shared by the handlers and their tests) ------------------------------------


def _sector_defs(view: SessionView) -> list[SectorDef]:
    return [SectorDef(**row) for row in sector_table(view.track).collect().iter_rows(named=True)]


def _best(view: SessionView) -> tuple[int | None, float | None]:
    best = view.best_lap()
    if best is None:
        return None, None
    return best, float(view.laps.filter(pl.col("lap") == best)["duration_s"][0])


@per_view
def laps_envelope(view: SessionView) -> LapsEnvelope:
    """``/laps``: the full session, then every lap."""
    span = view.telemetry.select(
        pl.col("t_s").min().alias("t0"),
        pl.col("t_s").max().alias("t1"),
        (pl.col("distance_m").max() - pl.col("distance_m").min()).alias("d"),
    ).collect()
    t0, t1, distance = span.row(0)
    entries = [LapEntry("Full session", t0, t1, t1 - t0, distance, "all")]
    entries += [
        LapEntry(
            name=f"Lap {row['lap']}",
            t_start=row["t_start_s"],
            t_end=row["t_end_s"],
            duration_s=row["duration_s"],
            distance_m=row["distance_m"],
            method=row["method"],
            lap=row["lap"],
            kind=row["kind"],
            valid=row["valid"],
            reason=row["reason"],
            clock_repairs=row["clock_repairs"],
        )
        for row in view.laps.sort("lap").iter_rows(named=True)
    ]
    return LapsEnvelope(laps=entries, track_length_m=view.track.length_m)


def _with_original_keys(row: dict[str, Any], sectors: list[SectorDef]) -> dict[str, Any]:
    """A lap-time-table row plus the keys the original PWA reads (see :class:`LapTimeTable`)."""
    return {
        **row,
        "lap_number": row["lap"],
        "lap_time_s": row["duration_s"],
        "is_best": row["is_best_lap"],
        "sectors": [
            {
                "name": f"S{d.sector}",
                "time_s": row.get(f"s{d.sector}_s"),
                "is_best": bool(row.get(f"is_best_s{d.sector}")),
            }
            for d in sectors
        ],
    }


@per_view
def lap_time_table_body(view: SessionView) -> LapTimeTable:
    table = lap_time_table(view.telemetry, view.laps.lazy(), view.track).collect()
    best_lap, best_s = _best(view)
    sectors = _sector_defs(view)
    return LapTimeTable(
        session_id=view.session_id,
        laps=[_with_original_keys(row, sectors) for row in table.to_dicts()],
        sectors=sectors,
        best_lap=best_lap,
        best_lap_s=best_s,
        best_lap_number=best_lap,
        lap_count=table.height,
    )


@per_view
def sector_times_body(view: SessionView) -> SectorTimes:
    times = sector_times(view.telemetry, view.laps.lazy(), view.track).collect()
    return SectorTimes(laps=times.to_dicts(), sectors=_sector_defs(view))


@per_view
def distribution_body(view: SessionView) -> LapTimeDistribution:
    return msgspec.convert(
        lap_time_distribution(view.laps.lazy()).collect().row(0, named=True), LapTimeDistribution
    )


@per_view
def ideal_lap_body(view: SessionView) -> IdealLap:
    ideal = view.ideal
    ideal_s = ideal["ideal_lap_s"][0]
    _, best_s = _best(view)
    gain = None if ideal_s is None or best_s is None else best_s - ideal_s
    sectors = [
        IdealSector(**{k: row[k] for k in ("sector", "s_start_m", "s_end_m", "best_s", "lap")})
        for row in ideal.iter_rows(named=True)
    ]
    return IdealLap(ideal_lap_s=ideal_s, best_lap_s=best_s, gain_s=gain, sectors=sectors)


def _valid_laps(view: SessionView) -> list[int]:
    laps = view.complete_laps().filter(pl.col("valid"))["lap"].to_list()
    if not laps:
        raise ApiError(400, "no valid lap", _lap_reasons(view))
    return laps


def _lap_reasons(view: SessionView) -> dict[str, Any]:
    return {str(r["lap"]): r["reason"] for r in view.complete_laps().iter_rows(named=True)}


@per_view
def optimal_body(
    view: SessionView, *, segment_m: float, tolerance: SeamTolerance = DEFAULT_TOLERANCE
) -> OptimalLap:
    traces = view.lap_traces(_valid_laps(view)).lazy()
    pieces = optimal_pieces(mini_sector_times(traces, segment_m=segment_m), tolerance=tolerance).collect()
    summary = optimal_summary(pieces.lazy()).collect().row(0, named=True)
    ideal_s = view.ideal["ideal_lap_s"][0]
    return OptimalLap(
        optimal_lap_s=summary["optimal_lap_s"],
        sum_best_mini_sectors_s=summary["sum_best_mini_sectors_s"],
        ideal_lap_s=ideal_s,
        best_lap_s=_best(view)[1],
        segment_m=segment_m,
        n_segments=summary["n_segments"],
        n_switches=summary["n_switches"],
        laps_used=summary["laps_used"],
        tolerance=SeamToleranceBody(tolerance.offset_m, tolerance.speed_frac, tolerance.heading_deg),
        segments=[OptimalSegment(**row) for row in pieces.iter_rows(named=True)],
    )


def _complete_lap(view: SessionView, lap: int) -> float:
    row = view.complete_laps().filter(pl.col("lap") == lap)
    if row.height == 0:
        raise ApiError(
            400,
            "not a complete lap",
            {
                "session_id": view.session_id,
                "lap": lap,
                "complete_laps": view.complete_laps()["lap"].to_list(),
            },
        )
    return float(row["duration_s"][0])


def reference_trace(
    state: State | None, view: SessionView, ref: str, *, step_m: float
) -> tuple[pl.DataFrame, DeltaReference]:
    """The reference lap trace for ``ref``: ``best`` (fastest valid lap), ``ideal`` (Σ best sectors, stitched),
    ``optimal`` (achievable optimal, stitched), ``<lap>`` (a complete lap of this session) or ``<sid>:<lap>`` (a
    complete lap of another session on the same track)."""
    sid = view.session_id
    if ref in ("ideal", "optimal"):
        valid = _valid_laps(view)
        traces = view.lap_traces(valid, step_m)
        if ref == "ideal":
            pieces = view.ideal
            if pieces["lap"].null_count():
                raise ApiError(400, "no ideal lap", "a sector has no time on any valid lap")
            trace = stitch_traces(
                traces.lazy(), pieces.lazy().select("lap", "s_start_m", "s_end_m")
            ).collect()
        else:
            chosen = optimal_pieces(mini_sector_times(traces.lazy())).collect()
            trace = optimal_trace(traces.lazy(), chosen.lazy()).collect()
        label = "ideal lap (Σ best sectors)" if ref == "ideal" else "achievable optimal lap"
        return trace, DeltaReference(ref, label, sid, None, float(trace["t_s"][-1]))
    if ref == "best":
        best = view.best_lap()
        if best is None:
            raise ApiError(400, "no valid lap", _lap_reasons(view))
        return _lap_trace(view, best, step_m), DeltaReference(
            "best", f"best lap (lap {best})", sid, best, _complete_lap(view, best)
        )
    other_sid, colon, lap_text = ref.rpartition(":")
    if not lap_text.isdigit() or (colon and not other_sid):
        raise ApiError(400, "invalid ref", f"{ref!r}: use best, ideal, optimal, <lap> or <session_id>:<lap>")
    lap = int(lap_text)
    if not colon:
        return _lap_trace(view, lap, step_m), DeltaReference(
            "lap", f"lap {lap}", sid, lap, _complete_lap(view, lap)
        )
    if state is None:
        raise ValueError("a reference in another session needs the app state")
    other = view_of(state, other_sid)
    if other.track.id != view.track.id:
        raise ApiError(400, "different track", {"session": view.track.id, "ref_session": other.track.id})
    duration = _complete_lap(other, lap)
    return _lap_trace(other, lap, step_m), DeltaReference(
        "session", f"{other_sid} lap {lap}", other_sid, lap, duration
    )


def _lap_trace(view: SessionView, lap: int, step_m: float) -> pl.DataFrame:
    _complete_lap(view, lap)
    return view.lap_traces([lap], step_m)


def delta_body(state: State, view: SessionView, *, lap: int | None, ref: str, step_m: float) -> DeltaBody:
    """``/delta``: a reference within the session is computed once per session version and arguments; one in
    another session (``<sid>:<lap>``) each time (that session may change)."""
    if ":" in ref:
        return _delta(state, view, lap=lap, ref=ref, step_m=step_m)
    return _own_delta(view, lap=lap, ref=ref, step_m=step_m)


@per_view
def _own_delta(view: SessionView, *, lap: int | None, ref: str, step_m: float) -> DeltaBody:
    return _delta(None, view, lap=lap, ref=ref, step_m=step_m)


def _delta(state: State | None, view: SessionView, *, lap: int | None, ref: str, step_m: float) -> DeltaBody:
    if lap is None:
        lap = int(view.complete_laps()["lap"][-1])
    lap_time = _complete_lap(view, lap)
    trace = _lap_trace(view, lap, step_m)
    ref_trace, reference = reference_trace(state, view, ref, step_m=step_m)
    delta = delta_t(trace.lazy(), ref_trace.lazy()).collect()
    single = pl.lit(0, dtype=pl.Int32).alias("lap")  # a stitched reference brakes as one lap
    brakes = braking_delta(
        braking_points(trace.lazy(), view.track),
        braking_points(ref_trace.lazy().with_columns(single), view.track),
    ).collect()
    points = [
        DeltaPoint(r["s_m"], r["t_s"], r["ref_t_s"], r["delta_s"], r.get("speed_kph"), r.get("ref_speed_kph"))
        for r in delta.iter_rows(named=True)
    ]
    return DeltaBody(
        session_id=view.session_id,
        lap=lap,
        lap_time_s=lap_time,
        ref=reference,
        final_delta_s=float(delta["delta_s"][-1]),
        step_m=step_m,
        points=points,
        braking=[BrakingComparison(**row) for row in brakes.iter_rows(named=True)],
    )


# -- handlers -------------------------------------------------------------------------------------------


@get("/session/{session_id:str}/laps", operation_id="session_laps", sync_to_thread=True)
def session_laps_route(state: State, session_id: SID) -> LapsEnvelope:
    """Lap envelope: first ``{name: "Full session", method: "all", …}``, then ``Lap N`` entries with
    ``method`` (gps | distance | stint), ``kind`` (out | flying | in | incomplete), ``valid`` and ``reason``;
    ``track_length_m``. 404 when the session has no telemetry."""
    return laps_envelope(view_of(state, session_id, require_complete_lap=False))


@get("/session/{session_id:str}/lap_time_table", operation_id="lap_time_table", sync_to_thread=True)
def lap_time_table_route(state: State, session_id: SID) -> LapTimeTable:
    """Every lap with S1/S2/S3… sector times (s), ``delta_to_best_s`` and best flags over valid flying laps."""
    return lap_time_table_body(view_of(state, session_id))


@get("/session/{session_id:str}/sector_times", operation_id="sector_times", sync_to_thread=True)
def sector_times_route(state: State, session_id: SID) -> SectorTimes:
    """Sector times (s) of the complete laps, with the sector boundaries (m along the lap)."""
    return sector_times_body(view_of(state, session_id))


@get(
    "/session/{session_id:str}/lap_time_distribution",
    operation_id="lap_time_distribution",
    sync_to_thread=True,
)
def distribution_route(state: State, session_id: SID) -> LapTimeDistribution:
    """Tukey box-plot statistics (s) of the valid flying lap times, with outlier laps."""
    return distribution_body(view_of(state, session_id))


@get("/session/{session_id:str}/ideal_lap", operation_id="ideal_lap", sync_to_thread=True)
def ideal_lap_route(state: State, session_id: SID) -> IdealLap:
    """Σ best sectors over valid flying laps, which lap each sector came from, and the gain on the best lap."""
    return ideal_lap_body(view_of(state, session_id))


@get("/session/{session_id:str}/optimal_lap", operation_id="optimal_lap", sync_to_thread=True)
def optimal_lap_route(state: State, session_id: SID, segment_m: SEGMENT_M = DEFAULT_SEGMENT_M) -> OptimalLap:
    """Achievable optimal lap: best mini-sectors joined only where laps agree at the seam (|Δ offset| ≤ 1.5 m,
    speed within 3 %, heading within 5°), next to Σ best mini-sectors and Σ best sectors. 400 without a
    valid lap."""
    return optimal_body(view_of(state, session_id), segment_m=segment_m)


@get("/session/{session_id:str}/delta", operation_id="lap_delta", sync_to_thread=True)
def delta_route(
    state: State,
    session_id: SID,
    lap: Annotated[int | None, Parameter(ge=1, description="lap number (default: last complete lap)")] = None,
    ref: Annotated[
        str, Parameter(max_length=200, description="best | ideal | optimal | <lap> | <session_id>:<lap>")
    ] = "best",
    step_m: STEP_M = 2.0,
) -> DeltaBody:
    """Delta-T of ``lap`` against ``ref`` along the lap (``delta_s`` positive = slower), plus braking points
    per corner vs the reference (``delta_m`` positive = later). 400 for an incomplete lap or a bad ``ref``."""
    return delta_body(state, view_of(state, session_id), lap=lap, ref=ref, step_m=step_m)


router = Router(
    "/",
    route_handlers=[
        session_laps_route,
        lap_time_table_route,
        sector_times_route,
        distribution_route,
        ideal_lap_route,
        optimal_lap_route,
        delta_route,
    ],
    tags=["laps"],
)
