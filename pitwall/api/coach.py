"""Coach routes (the rule coach) and the live-cue lifespan: thin handlers over :mod:`pitwall.coach`.

* ``GET /coach/concepts`` — the nine concepts of ``data/coach/concepts.yaml`` with their ``fires_when`` rules;
* ``POST /analyze`` — burst coaching from the PWA's burst summary: cues (≤ 3, none in a corner or past the
  apex, none repeated within ``CueLimits.repeat_gap_s`` wall seconds per session), a pace note, and a
  ``coaching_notes`` row when ``session_id`` is given;
* ``GET /coach/brief`` — pre-session brief: track, weather phase, the driver's weak corners from earlier sessions;
* ``POST /coach/debrief`` — post-session debrief: markdown narrative, emotion, fragments and the top 3
  opportunities, whose ``gain_s`` are ``GET /session/<sid>/corners``' ``delta_to_reference_s`` (reference "auto");
* ``POST /score`` — a deterministic rubric (consistency, corner grades, pedals) with a reason per item. This
  replaces the contract's "503 without GEMINI_API_KEY": the rule score is always available;
* ``GET /insights`` — corners and concepts that recur across sessions.

Every text here is rendered by templates from findings (``coach_source: "rule"``). The live coach (lifespan
:func:`coach_lifespan`) subscribes to the ``telemetry`` topic and publishes disciplined cues on ``cues``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
import time
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Annotated, Any, Final, cast
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import anyio.to_thread
import msgspec
import polars as pl
from litestar import Litestar, Router, get, post
from litestar.datastructures import State
from litestar.params import Parameter

from pitwall.analysis.scorecard import overall_grade
from pitwall.api.corners import corner_reference
from pitwall.api.deps import settings_of, store_of
from pitwall.api.errors import ApiError
from pitwall.api.phrasing import phrase_logged
from pitwall.api.sessions import resolve_import_path
from pitwall.api.views import track_library_of, view_of
from pitwall.coach.concepts import Concept, load_concepts
from pitwall.coach.cues import CUE_LIMITS, BurstSummary, CueGate, burst_metrics, candidate_cues
from pitwall.coach.findings import Finding
from pitwall.coach.history import (
    HISTORY_COLUMNS,
    corner_history,
    insights,
    render_brief,
    surface_state,
    weak_corners,
    weather_phase,
)
from pitwall.coach.live import FRAME_DECODER, LiveCoach
from pitwall.coach.metrics import (
    confidence,
)
from pitwall.coach.pace_notes import pace_note
from pitwall.coach.render import emotion_for, render_findings, render_markdown
from pitwall.coach.review import review_view
from pitwall.coach.rules import SessionReview
from pitwall.coach.score import score_rubric
from pitwall.formats.errors import ReadError
from pitwall.importer import import_vbo_file
from pitwall.session_view import SessionView
from pitwall.store.base import Store, UnknownSession
from pitwall.track import Track

log = logging.getLogger("pitwall.coach")

COACH_ENGINE: Final = "rule"
"""What ``/health`` reports as ``coach`` while the rule coach runs."""
LIVE_QUEUE_EVENTS: Final = 8192
"""The live coach's telemetry queue bound (≈ 1 s at 8,000 frames/s); a slow coach loses its oldest frames."""
MAX_HISTORY_SESSIONS: Final = 50

_gate_lock = threading.Lock()


# -------------------------------------------------------------------------------------------------------
# Resources
# -------------------------------------------------------------------------------------------------------


def concepts_of(state: State) -> tuple[Concept, ...]:
    """The loaded concepts; 503 when the concepts file could not be read."""
    concepts = state.get("coach_concepts")
    if concepts is None:
        raise ApiError(503, "coach not available", state.get("coach_error"))
    return cast("tuple[Concept, ...]", concepts)


def _load(state: State) -> None:
    try:
        state.coach_concepts = load_concepts()
        state.coach_engine, state.coach_error = COACH_ENGINE, None
    except ReadError as exc:
        log.error("rule coach not loaded: %s", exc)
        state.coach_concepts, state.coach_engine, state.coach_error = None, None, str(exc)
    state.coach_gates = {}


def _track_of_session(state: State, store: Store, session_id: str) -> Track | None:
    """The session's library track, else the active track (``None`` when neither)."""
    library = track_library_of(state)
    try:
        track_id = store.get_session(session_id).track_id
    except UnknownSession:  # e.g. frames of a session this database does not hold: the active track
        track_id = ""
    if track_id and library is not None:
        with contextlib.suppress(KeyError):
            return library.get(track_id)
    return cast("Track | None", state.get("track"))


async def _run_live_coach(state: State) -> None:
    """Subscribe to telemetry, feed the live coach, publish its cues (until the bus closes or cancel)."""
    bus = state.bus
    store = state.get("store")
    concepts = concepts_of(state)

    def track_for(session_id: str) -> Track | None:
        return None if store is None else _track_of_session(state, store, session_id)

    coach = LiveCoach(concepts=concepts, track_for=track_for)

    def step(payloads: list[bytes]) -> list[dict[str, Any]]:
        try:
            frames = [FRAME_DECODER.decode(data) for data in payloads]
        except msgspec.DecodeError as exc:  # not a telemetry frame: skip the batch, keep coaching
            log.warning("live coach skipped %d frames: %s", len(payloads), exc)
            return []
        return coach.feed(frames)

    sub = bus.subscribe("telemetry", maxlen=LIVE_QUEUE_EVENTS)
    try:
        while True:
            batch = await sub.next_batch(max_items=2048, timeout=None)
            if not batch:
                return
            cues = await anyio.to_thread.run_sync(step, [event.data for event in batch])
            for cue in cues:
                bus.publish_cue(cue.pop("session_id"), cue.pop("text"), emotion=cue.pop("emotion"), **cue)
    except Exception:  # the coach must never take the live path down (the routes keep working)
        log.exception("live coach stopped")
    finally:
        bus.unsubscribe(sub)


@asynccontextmanager
async def coach_lifespan(app: Litestar) -> AsyncIterator[None]:
    """Load the concepts (``state.coach_engine`` = ``"rule"``) and run the live coach on the bus, when both exist.

    Runs after :func:`pitwall.api.realtime.realtime` (it needs ``state.bus``) and stops before it."""
    state = app.state
    await anyio.to_thread.run_sync(_load, state)
    task = None
    if state.get("bus") is not None and state.get("coach_concepts") is not None:
        task = asyncio.create_task(_run_live_coach(state), name="pitwall-live-coach")
    try:
        yield
    finally:
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task


# -------------------------------------------------------------------------------------------------------
# Shapes
# -------------------------------------------------------------------------------------------------------

Number = float | int | None


class ConceptRule(msgspec.Struct):
    metric: str
    op: str
    value: float


class ConceptItem(msgspec.Struct):
    id: str
    name: str
    description: str
    fires_when: dict[str, list[ConceptRule]]
    cue: str


class ConceptsResponse(msgspec.Struct):
    """``GET /coach/concepts``."""

    concepts: list[ConceptItem]
    count: int


class AnalyzeRequest(msgspec.Struct):
    """The PWA's burst summary (every field optional and validated; unknown fields ignored). ``s_m`` (m along
    the lap), ``sample_hz`` and ``sats`` are ours: they place the pace note and set the confidence.
    ``avg_steering_deg`` and ``distance_m`` are validated but no rule reads them yet."""

    session_id: Annotated[str, msgspec.Meta(min_length=1, max_length=200)] | None = None
    burst_id: Annotated[int, msgspec.Meta(ge=0)] | None = None
    avg_speed_kmh: Annotated[float, msgspec.Meta(ge=0, le=500)] | None = None
    max_combo_g: Annotated[float, msgspec.Meta(ge=0, le=10)] | None = None
    max_lateral_g: Annotated[float, msgspec.Meta(ge=-10, le=10)] | None = None
    max_long_g: Annotated[float, msgspec.Meta(ge=-10, le=10)] | None = None
    max_brake_bar: Annotated[float, msgspec.Meta(ge=0, le=500)] | None = None
    avg_throttle_pct: Annotated[float, msgspec.Meta(ge=0, le=100)] | None = None
    avg_steering_deg: Annotated[float, msgspec.Meta(ge=-1080, le=1080)] | None = None
    coast_frames: Annotated[int, msgspec.Meta(ge=0)] | None = None
    trail_brake_frames: Annotated[int, msgspec.Meta(ge=0)] | None = None
    frame_count: Annotated[int, msgspec.Meta(ge=0)] | None = None
    corners_visited: list[str] | int | None = None
    distance_m: Annotated[float, msgspec.Meta(ge=0)] | None = None
    in_corner: bool = False
    past_apex: bool = False
    s_m: Annotated[float, msgspec.Meta(ge=0)] | None = None
    sample_hz: Annotated[float, msgspec.Meta(gt=0, le=10_000)] | None = None
    sats: Annotated[int, msgspec.Meta(ge=0, le=99)] | None = None


class CueOut(msgspec.Struct):
    """A spoken cue: ``cue``/``concept`` the concept id, ``metrics`` the numbers that triggered it."""

    id: str
    cue: str
    concept: str
    text: str
    metrics: dict[str, Number]
    confidence: float
    tts_ms: int
    emotion: str


class PaceNoteOut(msgspec.Struct):
    corner: str
    corner_name: str | None
    direction: str
    distance_m: float | None
    markers: list[str]
    text: str


class AnalyzeResponse(msgspec.Struct):
    """``POST /analyze``: ``held_back`` says why candidate cues were not spoken (``in_corner``, ``past_apex``,
    ``repeat_gap``, ``max_items``) or is null."""

    coaching: str
    cues: list[CueOut]
    pace_note: str | None
    pace_note_detail: PaceNoteOut | None
    coach_source: str
    burst_id: int | None
    source: str
    session_id: str | None
    held_back: str | None
    metrics: dict[str, Number]
    note_id: int | None


class FindingOut(msgspec.Struct):
    kind: str
    concept: str | None
    corner: str | None
    corner_name: str | None
    sector: int | None
    lap: int | None
    s_m: float | None
    gain_s: float | None
    confidence: float
    metrics: dict[str, Number]
    text: str


class Opportunity(FindingOut):
    rank: int = 0


class Fragments(msgspec.Struct):
    """What the narrative was built from: session metrics, the highlight sentences, the fired concepts."""

    telemetry: dict[str, Number]
    highlights: list[str]
    concepts: list[ConceptItem]


class DebriefRequest(msgspec.Struct, forbid_unknown_fields=True):
    """``session_id`` of a stored session, or ``vbo_path`` of a VBO under the import roots (imported first;
    an already imported file is debriefed as its existing session)."""

    session_id: Annotated[str, msgspec.Meta(min_length=1, max_length=200)] | None = None
    driver_id: Annotated[str, msgspec.Meta(max_length=200)] = ""
    vbo_path: str | None = None


class DebriefResponse(msgspec.Struct):
    session_id: str
    driver_id: str
    track_id: str
    narrative: str
    emotion: str
    coach_source: str
    opportunities: list[Opportunity]
    findings: list[FindingOut]
    fragments: Fragments
    reference_file: str | None
    note_id: int


class BriefResponse(msgspec.Struct):
    narrative_md: str
    focus: list[str]
    emotion: str
    weather_phase: str | None
    surface_state: str | None
    track_id: str
    track: str
    hour_local: int
    weather: dict[str, Any] | None
    weak_corners: list[dict[str, Any]]
    sessions_considered: int
    coach_source: str


class ScoreRequest(msgspec.Struct, forbid_unknown_fields=True):
    session_id: Annotated[str, msgspec.Meta(min_length=1, max_length=200)]


class RubricOut(msgspec.Struct):
    item: str
    grade: str | None
    grade_points: float | None
    metrics: dict[str, Number]
    reason: str


class ScoreResponse(msgspec.Struct):
    """``POST /score``: overall ``grade`` (A–F, mean of the items' grade points) and the rubric items."""

    session_id: str
    grade: str | None
    grade_points: float | None
    items: list[RubricOut]
    narrative: str
    coach_source: str
    reference_file: str | None


class Insight(msgspec.Struct):
    id: str
    kind: str
    title: str
    detail: str
    est_gain_s: float | None
    n_sessions: int


class InsightsResponse(msgspec.Struct):
    insights: list[Insight]
    sessions: list[str]
    skipped: list[str]


# -------------------------------------------------------------------------------------------------------
# Session analysis → findings
# -------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class SessionCoaching:
    """A session's review and what produced it (one computation shared by debrief, score, insights, brief)."""

    view: SessionView
    summary: pl.DataFrame
    review: SessionReview
    reference_file: str | None


def session_coaching(state: State, session_id: str) -> SessionCoaching:
    """Review one session with the pipelines the analysis routes use (404 unknown, 400 without a complete
    lap); the corner summary uses the same reference as ``GET /session/<sid>/corners`` (``auto``)."""
    view = view_of(state, session_id)
    _, source = corner_reference(view, "auto")
    summary, review = review_view(view, concepts_of(state))
    return SessionCoaching(view, summary, review, source)


def _finding_out(
    finding: Finding, concepts: Sequence[Concept], cls: type[FindingOut] = FindingOut, **extra: Any
) -> Any:
    return msgspec.convert({**finding.to_dict(), "text": render_findings([finding], concepts), **extra}, cls)


def _concept_items(concepts: Sequence[Concept]) -> list[ConceptItem]:
    return msgspec.convert([c.to_dict() for c in concepts], list[ConceptItem])


# -------------------------------------------------------------------------------------------------------
# Routes
# -------------------------------------------------------------------------------------------------------


@get("/coach/concepts", operation_id="coach_concepts", sync_to_thread=False)
def coach_concepts(state: State) -> ConceptsResponse:
    """The nine pedagogical concepts with ``description`` and ``fires_when`` (a rule over named metrics whose
    thresholds live in ``data/coach/concepts.yaml``) and the spoken ``cue`` template."""
    concepts = concepts_of(state)
    return ConceptsResponse(concepts=_concept_items(concepts), count=len(concepts))


@post("/analyze", operation_id="analyze_burst", status_code=200, sync_to_thread=True)
def analyze(state: State, data: AnalyzeRequest) -> AnalyzeResponse:
    """Burst coaching: the concepts that fire over the burst's metrics become cues (text, triggering numbers,
    confidence, ``tts_ms``), at most 3, none while ``in_corner`` or ``past_apex``, none repeated within
    ``CueLimits.repeat_gap_s`` seconds for the same session; a rally pace note for the corner ahead (from
    ``s_m`` or the last of ``corners_visited``). Writes a ``coaching_notes`` row when ``session_id`` is given
    (404 when unknown)."""
    concepts = concepts_of(state)
    if (
        data.frame_count is not None
        and max(data.coast_frames or 0, data.trail_brake_frames or 0) > data.frame_count
    ):
        raise ApiError(
            400, "invalid request", "coast_frames and trail_brake_frames cannot exceed frame_count"
        )
    store = store_of(state) if data.session_id is not None else None
    if store is not None and data.session_id is not None:
        store.get_session(data.session_id)  # unknown → 404
    visited = tuple(data.corners_visited) if isinstance(data.corners_visited, list) else ()
    burst = BurstSummary(
        avg_speed_kmh=data.avg_speed_kmh,
        max_combo_g=data.max_combo_g,
        max_lateral_g=None if data.max_lateral_g is None else abs(data.max_lateral_g),
        max_long_g=None if data.max_long_g is None else abs(data.max_long_g),
        max_brake_bar=data.max_brake_bar,
        avg_throttle_pct=data.avg_throttle_pct,
        coast_frames=data.coast_frames,
        trail_brake_frames=data.trail_brake_frames,
        frame_count=data.frame_count,
    )
    metrics = burst_metrics(burst)
    candidates = candidate_cues(metrics, concepts, confidence=confidence(data.sample_hz, data.sats))
    with _gate_lock:
        gate = state.coach_gates.setdefault(data.session_id or "", CueGate(CUE_LIMITS))
        spoken, held_back = gate.admit(
            candidates, now_s=time.monotonic(), in_corner=data.in_corner, past_apex=data.past_apex
        )
    track = (
        _track_of_session(state, store, data.session_id)
        if store is not None and data.session_id is not None
        else cast("Track | None", state.get("track"))
    )
    note = (
        None
        if track is None
        else pace_note(track, s_m=data.s_m, after_corner=visited[-1] if visited else None)
    )
    cues = [msgspec.convert({"id": f"{data.burst_id}:{c.cue}", **c.to_dict()}, CueOut) for c in spoken]
    coaching = " ".join(f"{c.text}." for c in spoken)
    note_id = None
    if store is not None and data.session_id is not None:
        payload = {
            "kind": "burst",
            "burst_id": data.burst_id,
            "cues": [msgspec.to_builtins(c) for c in cues],
            "metrics": metrics,
            "pace_note": None if note is None else note.text,
            "held_back": held_back,
        }
        note_id = store.add_coaching_note(
            data.session_id, coaching or (note.text if note else ""), COACH_ENGINE, payload
        )
    return AnalyzeResponse(
        coaching=coaching,
        cues=cues,
        pace_note=None if note is None else note.text,
        pace_note_detail=None if note is None else msgspec.convert(note.to_dict(), PaceNoteOut),
        coach_source=COACH_ENGINE,
        burst_id=data.burst_id,
        source=COACH_ENGINE,
        session_id=data.session_id,
        held_back=held_back,
        metrics=dict(metrics),
        note_id=note_id,
    )


def _debrief_session(state: State, data: DebriefRequest) -> str:
    if data.vbo_path is not None:
        path = resolve_import_path(data.vbo_path, settings_of(state).import_roots)
        try:
            result = import_vbo_file(
                store_of(state), path, library=state.get("library"), driver=data.driver_id
            )
        except ReadError as exc:
            raise ApiError(
                400, "unreadable VBO", {"message": str(exc), "line": exc.line, "reason": exc.reason}
            ) from exc
        return result.session_id
    if data.session_id is None:
        raise ApiError(400, "invalid request", "give session_id or vbo_path")
    return data.session_id


@post("/coach/debrief", operation_id="coach_debrief", status_code=200, sync_to_thread=True)
def debrief(state: State, data: DebriefRequest) -> DebriefResponse:
    """Post-session debrief: a markdown ``narrative`` rendered from the session's findings, an ``emotion`` tag,
    the ``fragments`` it was built from and the top 3 ``opportunities`` (corners with the most time to gain;
    ``gain_s`` equals ``/session/<sid>/corners`` ``delta_to_reference_s``). 404 unknown session or missing
    ``vbo_path`` file, 403 a path outside the import roots, 400 no complete lap or an unreadable VBO.
    Written to ``coaching_notes`` (``payload.kind`` = ``debrief``)."""
    concepts = concepts_of(state)
    session_id = _debrief_session(state, data)
    coaching = session_coaching(state, session_id)
    review, view = coaching.review, coaching.view
    top = review.top
    template = render_markdown(review.findings, top, concepts, title=f"Debrief: {view.track.name}")
    phrased = phrase_logged(state, review.findings, template, role="debrief", session_id=session_id)
    narrative = phrased.text
    fired_ids = {f.concept for f in review.findings if f.concept}
    emotion = emotion_for(review.findings)
    findings = [_finding_out(f, concepts) for f in review.findings]
    opportunities = [_finding_out(f, concepts, Opportunity, rank=i) for i, f in enumerate(top, 1)]
    note_id = store_of(state).add_coaching_note(
        session_id,
        narrative,
        COACH_ENGINE,
        {
            "kind": "debrief",
            "driver_id": data.driver_id,
            "findings": [f.to_dict() for f in review.findings],
        },
    )
    return DebriefResponse(
        session_id=session_id,
        driver_id=data.driver_id,
        track_id=view.track.id,
        narrative=narrative,
        emotion=emotion,
        coach_source=phrased.source,
        opportunities=opportunities,
        findings=findings,
        fragments=Fragments(
            telemetry=dict(review.metrics),
            highlights=[o.text for o in opportunities],
            concepts=_concept_items([c for c in concepts if c.id in fired_ids]),
        ),
        reference_file=coaching.reference_file,
        note_id=note_id,
    )


@post("/score", operation_id="score_session", status_code=200, sync_to_thread=True)
def score(state: State, data: ScoreRequest) -> ScoreResponse:
    """Deterministic rubric grade of a session: ``consistency`` (lap-time variation), ``corners`` (mean A–F
    corner grade, as ``/session/<sid>/scorecard``) and ``pedals`` (time coasting), each with a reason; the
    overall grade is the mean of the graded items. Replaces the contract's 503-without-key: always available.
    404 unknown session, 400 no complete lap."""
    coaching = session_coaching(state, data.session_id)
    overall = overall_grade(coaching.summary.lazy()).collect().row(0, named=True)
    items, grade, points = score_rubric(coaching.review.metrics, overall)
    template = " ".join(f"{i.item.capitalize()}: {i.grade or 'not graded'}, {i.reason}." for i in items)
    phrased = phrase_logged(state, (), template, role="score", session_id=data.session_id)
    narrative = phrased.text
    return ScoreResponse(
        session_id=data.session_id,
        grade=grade,
        grade_points=points,
        items=msgspec.convert([i.to_dict() for i in items], list[RubricOut]),
        narrative=narrative,
        coach_source=phrased.source,
        reference_file=coaching.reference_file,
    )


def _driver_sessions(
    store: Store, *, driver: str | None, track_id: str | None, exclude: str | None, limit: int
) -> list[str]:
    sessions = store.list_sessions(limit=MAX_HISTORY_SESSIONS * 4)
    if driver:
        sessions = sessions.filter(pl.col("driver") == driver)
    if track_id:
        sessions = sessions.filter(pl.col("track_id") == track_id)
    if exclude:
        sessions = sessions.filter(pl.col("session_id") != exclude)
    return sessions["session_id"].head(limit).to_list()


def corner_stack(
    state: State, session_ids: Sequence[str]
) -> tuple[pl.DataFrame, dict[str, int], list[str], list[str]]:
    """Stacked corner summaries (:data:`~pitwall.coach.history.HISTORY_COLUMNS`), concept → sessions fired,
    sessions used, sessions skipped (no complete lap…)."""
    parts, used, skipped = [], [], []
    concept_sessions: dict[str, int] = {}
    for sid in session_ids:
        try:
            coaching = session_coaching(state, sid)
        except ApiError:
            skipped.append(sid)
            continue
        used.append(sid)
        parts.append(
            coaching.summary.select(
                pl.lit(sid).alias("session_id"), "corner", "corner_name", "delta_to_reference_s"
            )
        )
        for concept_id in {f.concept for f in coaching.review.findings if f.concept}:
            concept_sessions[concept_id] = concept_sessions.get(concept_id, 0) + 1
    stack = pl.concat(parts) if parts else pl.DataFrame(schema=HISTORY_COLUMNS)
    return stack, concept_sessions, used, skipped


def _history(
    state: State, session_ids: Sequence[str]
) -> tuple[pl.DataFrame, dict[str, int], list[str], list[str]]:
    """:func:`corner_stack` with the stack aggregated per corner (:func:`~pitwall.coach.history.corner_history`)."""
    stack, concept_sessions, used, skipped = corner_stack(state, session_ids)
    return corner_history(stack.lazy()).collect(), concept_sessions, used, skipped


HistoryLimit = Annotated[
    int, Parameter(ge=1, le=MAX_HISTORY_SESSIONS, description="newest sessions considered")
]


@get("/insights", operation_id="coach_insights", sync_to_thread=True)
def coach_insights(
    state: State,
    driver: Annotated[
        str | None, Parameter(max_length=200, description="only this driver's sessions")
    ] = None,
    track_id: Annotated[
        str | None, Parameter(max_length=200, description="only sessions on this track")
    ] = None,
    limit: HistoryLimit = 10,
) -> InsightsResponse:
    """Insights across the newest ``limit`` sessions: corners losing time against the reference in several
    sessions (``est_gain_s`` = mean loss, s) and concepts that fired in several sessions (``est_gain_s`` null).
    Sessions without a complete lap are listed in ``skipped``."""
    concepts = concepts_of(state)
    ids = _driver_sessions(store_of(state), driver=driver, track_id=track_id, exclude=None, limit=limit)
    history, concept_sessions, used, skipped = _history(state, ids)
    items = insights(history, concept_sessions, concepts)
    return InsightsResponse(insights=msgspec.convert(items, list[Insight]), sessions=used, skipped=skipped)


@get("/coach/brief", operation_id="coach_brief", sync_to_thread=True)
def coach_brief(
    state: State,
    driver: Annotated[str | None, Parameter(max_length=200)] = None,
    focus: Annotated[
        str | None, Parameter(max_length=500, description="what the driver wants to work on")
    ] = None,
    goal: Annotated[str | None, Parameter(max_length=500)] = None,
    session_id: Annotated[
        str | None, Parameter(max_length=200, description="the session about to run")
    ] = None,
    hour_local: Annotated[int | None, Parameter(ge=0, le=23, description="local hour; default now")] = None,
    limit: HistoryLimit = 10,
) -> BriefResponse:
    """Pre-session brief: the track (the session's, else the active one; 404 when none), the weather phase of
    ``hour_local`` from the track file with the surface state, and the driver's weak corners from earlier
    sessions on that track (mean loss against the reference, s). 404 unknown ``session_id``."""
    store = store_of(state)
    track: Track | None
    if session_id is not None:
        store.get_session(session_id)  # unknown → 404
        track = _track_of_session(state, store, session_id)
    else:
        track = cast("Track | None", state.get("track"))
    if track is None:
        raise ApiError(404, "no track", "neither the session's track nor an active track is available")
    hour = hour_local if hour_local is not None else _local_hour(track)
    phase = weather_phase(track, hour)
    surface = surface_state(phase)
    ids = _driver_sessions(store, driver=driver, track_id=track.id, exclude=session_id, limit=limit)
    history, _, used, _ = _history(state, ids)
    weak = weak_corners(history)
    wanted = [item.strip() for item in (focus or "").split(",") if item.strip()]
    weak_focus = [f"T{w['corner']}" + (f" ({w['corner_name']})" if w["corner_name"] else "") for w in weak]
    template = render_brief(
        track, phase=phase, surface=surface, weak=weak, focus=[*wanted, *weak_focus], goal=goal, driver=driver
    )
    phrased = phrase_logged(state, (), template, role="brief", session_id=session_id)
    return BriefResponse(
        narrative_md=phrased.text,
        focus=[*wanted, *weak_focus],
        emotion="determined" if weak else "encouraging",
        weather_phase=None if phase is None else phase.label,
        surface_state=surface,
        track_id=track.id,
        track=track.name,
        hour_local=hour,
        weather=None
        if phase is None
        else msgspec.structs.asdict(msgspec.convert(phase, _Weather, from_attributes=True)),
        weak_corners=weak,
        sessions_considered=len(used),
        coach_source=phrased.source,
    )


class _Weather(msgspec.Struct):
    hour_from: int
    hour_to: int
    label: str
    air_temp_c: float
    track_temp_c: float
    wind_kph: float
    note: str


def _local_hour(track: Track) -> int:
    """The current hour at the track (its ``timezone``; UTC when unknown)."""
    try:
        zone = ZoneInfo(track.timezone) if track.timezone else UTC
    except (ZoneInfoNotFoundError, ValueError):
        zone = UTC
    return datetime.now(zone).hour


router = Router(
    "/",
    route_handlers=[coach_concepts, analyze, debrief, coach_brief, score, coach_insights],
    tags=["coach"],
)
