"""Sessions: CRUD, VBO import, ingest of frames and video frames, and the cache reset.

(Tall signals are ingested by ``POST /session/<sid>/signals`` in :mod:`pitwall.api.signals`, next to the
``GET`` of the same path.)

Store errors map to the one error shape in :mod:`pitwall.api.app`: unknown session → 404, existing id → 409,
no database → 503.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Sequence
from contextlib import suppress
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any

import msgspec
import polars as pl
from litestar import Router, delete, get, post
from litestar.datastructures import State
from litestar.params import Parameter

from pitwall import compat
from pitwall.api.deps import settings_of, store_of
from pitwall.api.errors import ApiError
from pitwall.api.schemas import (
    INGEST_COLUMNS,
    Appended,
    FrameAppended,
    FrameError,
    FramesAppended,
    FramesIn,
    FrameValue,
    ImportRequest,
    ImportResponse,
    ResetResult,
    SessionDetail,
    SessionEnded,
    SessionList,
    SessionStart,
    SessionStarted,
    VideoFramesIn,
    frames_frame,
    iso_utc,
    json_record,
    json_rows,
)
from pitwall.api.views import view_cache_of, view_of
from pitwall.formats.errors import ReadError
from pitwall.importer import (
    InvalidSessionId,
    candidate_ids,
    check_session_id,
    import_vbo_file,
    make_session_id,
)
from pitwall.live.recovery import LIVE_SOURCES
from pitwall.store.base import SessionExists, SessionRow, Store, UnknownSession
from pitwall.validate import RANGES, BadValue, first_bad_signal, first_bad_value

MAX_DETAIL_LAPS = 10_000
COMPLETE_LAP_KINDS = ("out", "flying", "in")
"""Laps counted in ``lap_count`` (as ``Store.list_sessions`` counts them; incomplete laps are not)."""
"""``GET /session/<sid>`` lists every lap of a session up to this many."""


def _valid_id(session_id: str) -> str:
    try:
        return check_session_id(session_id)
    except InvalidSessionId as exc:
        raise ApiError(400, "invalid session id", str(exc)) from exc


# -- CRUD -------------------------------------------------------------------------------------------------


@post("/session/start", status_code=200, operation_id="start_session", sync_to_thread=True)
def start_session(state: State, data: SessionStart) -> SessionStarted:
    """Open a session row. ``session_id`` defaults to ``<track-slug>-<UTC %Y%m%d-%H%M%S>`` (a ``-2``… suffix
    when that id exists); ``track`` defaults to the active track. 409 when a supplied id exists."""
    store = store_of(state)
    active = state.get("track")
    track_name = data.track or (active.name if active is not None else "")
    row = SessionRow(
        session_id="",
        started_at=datetime.now(UTC),
        driver=data.driver,
        driver_level=data.driver_level,
        track=track_name,
        track_id=active.id if active is not None and track_name == active.name else "",
        car=data.car,
        note=data.note,
        source="api",
    )
    if data.session_id is not None:
        row.session_id = _valid_id(data.session_id)
        store.create_session(row)
        return SessionStarted(started=True, session_id=row.session_id)
    for candidate in candidate_ids(make_session_id(track_name, row.started_at)):
        row.session_id = candidate
        try:
            store.create_session(row)
            return SessionStarted(started=True, session_id=row.session_id)
        except SessionExists:
            continue
    raise ApiError(409, "session exists", f"every id up to {row.session_id} is taken")


@post("/session/{session_id:str}/end", status_code=200, operation_id="end_session", sync_to_thread=True)
def end_session(state: State, session_id: str) -> SessionEnded:
    """Stamp ``ended_at`` = now. Idempotent: later calls return the first stamp. 404 unknown session.

    A session fed through the API (``/frames``) without stored laps gets its lap table stored at its first
    end (as sliced for the lap routes), so ``/sessions`` and ``/leaderboard`` count its laps."""
    store = store_of(state)
    before = store.get_session(session_id)
    row = store.end_session(session_id)
    assert row.ended_at is not None
    if (
        before.source == "api"
        and before.ended_at is None
        and store.list_laps(session_id=session_id, limit=1).is_empty()
    ):
        with suppress(ApiError):  # no telemetry or no track: nothing to slice
            store.replace_laps(session_id, view_of(state, session_id, require_complete_lap=False).laps)
    return SessionEnded(ended=True, session_id=row.session_id, ended_at=iso_utc(row.ended_at))


@get("/sessions", operation_id="list_sessions", sync_to_thread=True)
def list_sessions(
    state: State,
    limit: Annotated[int, Parameter(ge=1, le=500, description="rows, 1..500")] = 50,
    active_only: Annotated[bool, Parameter(description="only sessions without ended_at")] = False,
) -> SessionList:
    """Sessions newest first; each row carries derived ``lap_count`` and ``best_lap_s`` (null without laps).
    The reader facts (``meta``) are in ``GET /session/<sid>`` only."""
    sessions = store_of(state).list_sessions(limit=limit, active_only=active_only)
    rows = json_rows(sessions.drop("meta", strict=False))
    return SessionList(sessions=rows, count=len(rows))


class SessionDeleted(msgspec.Struct):
    deleted: bool
    session_id: str


@delete("/session/{session_id:str}", operation_id="delete_session", status_code=200, sync_to_thread=True)
def delete_session(state: State, session_id: str) -> SessionDeleted:
    """Remove a session and every row that belongs to it (telemetry, signals, laps, notes, conversations,
    traces, video frames, capabilities, its spectator tokens) in one transaction. 404 unknown session, 409 a
    live session that is still being recorded (end it first)."""
    store = store_of(state)
    row = store.get_session(session_id)
    if row.ended_at is None and row.source in LIVE_SOURCES:
        raise ApiError(409, "session is live", f"{session_id} is being recorded; end it first")
    store.delete_session(session_id)
    view_cache_of(state).clear()
    return SessionDeleted(deleted=True, session_id=session_id)


@get("/session/{session_id:str}", operation_id="get_session", sync_to_thread=True)
def get_session(state: State, session_id: str) -> SessionDetail:
    """The session row (with ``meta``: the reader's facts), its laps and its last 50 coaching notes, newest
    first (``payload``: the finding's numbers). 404 unknown session."""
    store = store_of(state)
    row = store.get_session(session_id)
    laps = store.list_laps(session_id=session_id, limit=MAX_DETAIL_LAPS)
    notes = [
        {**note, "payload": json.loads(note["payload"]) if note["payload"] else None}
        for note in json_rows(store.list_coaching_notes(session_id, limit=50))
    ]
    lap_count, best_lap_s = lap_summary(laps)
    return SessionDetail(
        session=json_record(row),
        laps=json_rows(laps),
        coaching_notes=notes,
        lap_count=lap_count,
        best_lap_s=best_lap_s,
        notes=notes,
    )


def lap_summary(laps: pl.DataFrame) -> tuple[int, float | None]:
    """``(lap_count, best_lap_s)`` of a session's laps (:data:`pitwall.schema.LAPS` columns) by the rule of
    ``Store.list_sessions``: valid complete laps (kind out, flying or in) and the fastest valid flying lap
    (s; ``None`` without one)."""
    valid = laps.filter(pl.col("valid"))
    best = valid.filter(pl.col("kind") == "flying").select(pl.col("duration_s").min()).item()
    count = valid.filter(pl.col("kind").is_in(COMPLETE_LAP_KINDS)).height
    return count, None if best is None else float(best)


@post("/session/reset", status_code=200, operation_id="reset_caches", sync_to_thread=True)
def reset(state: State) -> ResetResult:
    """Clear every in-memory cache registered in ``app.state.caches`` (the database is not touched).
    ``cleared`` maps each cache to the number of entries it dropped (null when it does not say)."""
    caches: dict[str, Callable[[], Any]] = state.caches
    cleared = {name: clear() for name, clear in list(caches.items())}
    return ResetResult(reset=True, cleared={k: v if isinstance(v, int) else None for k, v in cleared.items()})


# -- import -----------------------------------------------------------------------------------------------


def resolve_import_path(raw: str, roots: Sequence[Path]) -> Path:
    """The real path of ``raw`` (symlinks resolved) when it lies under one of ``roots``: 403 outside them
    (including a symlink pointing out), 404 when no such file exists."""
    if not raw.strip() or "\0" in raw:
        raise ApiError(400, "invalid request", "vbo_path must be a non-empty path")
    real = Path(os.path.realpath(raw))
    real_roots = [Path(os.path.realpath(root)) for root in roots]
    if not any(real == root or root in real.parents for root in real_roots):
        raise ApiError(
            403, "path outside import roots", {"vbo_path": raw, "import_roots": [str(r) for r in real_roots]}
        )
    if not real.is_file():
        raise ApiError(404, "file not found", raw)
    return real


@post("/session/import", status_code=200, operation_id="import_session", sync_to_thread=True)
def import_session(state: State, data: ImportRequest) -> ImportResponse:
    """Parse a VBO from disk into a new session (telemetry, tall signals, registry, capabilities; atomic).

    ``vbo_path`` must resolve under the server's import roots (403); missing file 404; unreadable VBO 400
    (``detail`` names file, line and reason); 409 when the id exists or the same file (sha256) was already
    imported (``detail.session_id`` names that session)."""
    store = store_of(state)
    path = resolve_import_path(data.vbo_path, settings_of(state).import_roots)
    if data.session_id is not None:
        _valid_id(data.session_id)
    try:
        result = import_vbo_file(
            store,
            path,
            library=state.get("library"),
            driver=data.driver,
            driver_level=data.driver_level,
            session_id=data.session_id,
            car=data.car,
        )
    except ReadError as exc:
        raise ApiError(
            400,
            "unreadable VBO",
            {"message": str(exc), "file": exc.path, "line": exc.line, "reason": exc.reason},
        ) from exc
    if result.status == "skipped":
        raise ApiError(
            409, "already imported", {"session_id": result.session_id, "vbo_source": result.vbo_source}
        )
    return msgspec.convert(result, ImportResponse, from_attributes=True)


# -- ingest -----------------------------------------------------------------------------------------------


def session_for_write(
    state: State, session_id: str, fields: FramesIn | None, frame_t_s: pl.Series | None
) -> tuple[Store, SessionRow, bool]:
    """The store and the session row a write goes to, and whether this write created it.

    A session that does not exist yet is created (as the original bridge does, so an ingest pipeline never
    loses its first batch): ``meta.implicit`` is true, ``source`` is ``api``, the track is the active track,
    ``started_at`` the first frame's epoch time when the frames are clocked in epoch seconds, else now.
    """
    store = store_of(state)
    try:
        return store, store.get_session(session_id), False
    except UnknownSession:
        pass
    _valid_id(session_id)
    active = state.get("track")
    epoch_s = compat.first_epoch_s(frame_t_s) if frame_t_s is not None else None
    row = SessionRow(
        session_id=session_id,
        started_at=datetime.fromtimestamp(epoch_s, UTC) if epoch_s is not None else datetime.now(UTC),
        driver=fields.driver if fields else "",
        driver_level=fields.driver_level if fields else "",
        track=(fields.track if fields else "") or (active.name if active is not None else ""),
        track_id=active.id if active is not None and not (fields and fields.track) else "",
        car=fields.car if fields else "",
        note=fields.note if fields else "",
        source="api",
        meta={"implicit": True},
    )
    try:
        store.create_session(row)
    except SessionExists:  # a concurrent first write created it
        return store, store.get_session(session_id), False
    return store, row, True


def _canonical(frames: list[dict[str, FrameValue]]) -> tuple[pl.DataFrame, compat.SplitFrames]:
    """Validated canonical wide frames (original keys converted) and the split that produced them."""
    try:
        split = compat.split_frames(frames, INGEST_COLUMNS, compat.default_aliases())
        wide = frames_frame(split.wide)
    except (FrameError, compat.AliasError) as exc:
        raise ApiError(400, "invalid frames", str(exc)) from exc
    before_rebase = {**RANGES, "t_s": (RANGES["t_s"][0], compat.EPOCH_MAX_S)}  # session or epoch seconds
    _refuse(first_bad_value(wide, ranges=before_rebase))
    if split.tall and (row := first_bad_signal(pl.Series([value for _, _, value in split.tall]))) is not None:
        name, frame_no, value = split.tall[row]
        raise ApiError(
            400,
            "invalid value",
            {"frame": frame_no, "field": name, "value": repr(value), "reason": "not a plausible number"},
        )
    return wide, split


def _refuse(bad: BadValue | None) -> None:
    """400 naming the frame (0-based, in the request) and the field of a refused value."""
    if bad is not None:
        detail = {"frame": bad.row, "field": bad.column, "value": repr(bad.value), "reason": bad.reason}
        raise ApiError(400, "invalid value", detail)


def _ingest(
    state: State, session_id: str, frames: list[dict[str, FrameValue]], fields: FramesIn | None
) -> tuple[pl.Series, compat.SplitFrames, bool]:
    """Append frames with canonical or original keys: wide rows, tall samples (at their frame's ``t_s``),
    epoch clocks rebased on the session start; publishes the rows on the telemetry stream. Returns the new
    ``frame_idx`` values, the split and whether the session was created."""
    wide, split = _canonical(frames)
    store, row, created = session_for_write(state, session_id, fields, wide["t_s"])
    wide = compat.rebase_epoch(wide, row.started_at)
    try:
        _refuse(first_bad_value(wide.select("t_s")))
    except ApiError:
        if created:  # nothing half-written: the session this request created goes again
            store.delete_session(session_id)
        raise
    signals = None
    if split.tall:
        names, frame_no, values = zip(*split.tall, strict=True)
        signals = pl.DataFrame(
            {"signal_name": names, "t_s": wide["t_s"].gather(list(frame_no)), "value": values},
            schema={"signal_name": pl.String, "t_s": pl.Float64, "value": pl.Float64},
        )
    idx = store.append_telemetry(session_id, wide, signals=signals)  # one transaction: nothing half-written
    store.update_session(
        session_id,
        n_frames=int(idx[-1]) + 1,
        duration_s=max(row.duration_s, float(wide["t_s"].max())),  # type: ignore[arg-type]
    )
    bus = state.get("bus")
    if bus is not None:
        bus.publish_frames(wide.with_columns(session_id=pl.lit(session_id), frame_idx=idx))
    return idx, split, created


@post("/session/{session_id:str}/frames", status_code=200, operation_id="append_frames", sync_to_thread=True)
def append_frames(state: State, session_id: str, data: FramesIn) -> FramesAppended:
    """Append a batch of wide frames (``{"frames": [{"t_s": 0.0, "speed_kph": 88.2, …}, …]}``), with
    canonical keys or the original clients' (``{"timestamp": 0.0, "speed": 24.5, …}``; the alias table
    ``data/compat/frame_aliases.yaml`` converts names and units). Other numeric keys are stored as tall
    signals, keys not stored are listed in ``ignored``; a wrong value type → 400. An unknown session id is
    created (``created``: true; ``meta.implicit``). Frames clocked in Unix epoch seconds are rebased on the
    session start (``utc`` keeps the instant). Each row is also published on ``/telemetry/stream``."""
    if not data.frames:
        raise ApiError(400, "invalid frames", "no frames")
    idx, split, created = _ingest(state, session_id, data.frames, data)
    return FramesAppended(
        session_id=session_id,
        appended=idx.len(),
        first_frame_idx=int(idx[0]),
        last_frame_idx=int(idx[-1]),
        n_appended=idx.len(),
        n_signals=len(split.tall),
        ignored=split.ignored,
        created=created,
    )


@post("/session/{session_id:str}/frame", status_code=200, operation_id="append_frame", sync_to_thread=True)
def append_frame(state: State, session_id: str, data: dict[str, FrameValue]) -> FrameAppended:
    """Append one wide frame (an object of column → value, canonical or original keys, ``t_s`` or
    ``timestamp`` required; rules as ``/frames``); returns its ``frame_idx``."""
    idx, split, created = _ingest(state, session_id, [data], None)
    return FrameAppended(
        session_id=session_id,
        frame_idx=int(idx[0]),
        n_appended=1,
        n_signals=len(split.tall),
        ignored=split.ignored,
        created=created,
    )


@post(
    "/session/{session_id:str}/video_frames",
    status_code=200,
    operation_id="append_video_frames",
    sync_to_thread=True,
)
def append_video_frames(state: State, session_id: str, data: VideoFramesIn) -> Appended:
    """Append video frame metadata: ``t_s`` (session seconds), ``video_file``, ``video_t_ms``, ``frame_no``
    — or the original body (``timestamp``, ``file_path``, ``file_offset_s`` s or ``avitime_ms``; ``width``
    and ``height`` are not stored). 404 unknown session."""
    store = store_of(state)
    store.get_session(session_id)  # UnknownSession → 404
    try:
        rows = compat.video_frames(data.frames, compat.default_aliases())
    except compat.AliasError as exc:
        raise ApiError(400, "invalid request", str(exc)) from exc
    return Appended(session_id=session_id, appended=store.append_video_frames(session_id, rows))


router = Router(
    "/",
    route_handlers=[
        delete_session,
        start_session,
        end_session,
        list_sessions,
        get_session,
        reset,
        import_session,
        append_frames,
        append_frame,
        append_video_frames,
    ],
    tags=["sessions"],
)
