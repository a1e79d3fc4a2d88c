"""Map and video routes: ``/map`` (the reference line and every lap's GPS trace), ``/sync`` (telemetry ↔ video
frames) and ``/clips`` (the video cut list per lap and per incident) of a session. ``/map`` and ``/clips`` cover
every lap, ``/sync`` every sample.

Errors, units and conventions: those of every session analysis route (:mod:`pitwall.api.views`).
"""

from __future__ import annotations

from typing import Annotated, Literal

import msgspec
import polars as pl
from litestar import Router
from litestar.datastructures import State
from litestar.params import Parameter

from pitwall.analysis.incidents import INCIDENT_THRESHOLDS
from pitwall.analysis.maps import lap_polylines, reference_polyline
from pitwall.analysis.video import (
    clip_windows,
    pairs_from_frames,
    pairs_from_timeline,
    sync_summary,
    video_clips,
    video_timeline,
)
from pitwall.api.braking import incident_events
from pitwall.api.deps import store_of
from pitwall.api.views import SessionId, per_view, rows, session_get, view_of
from pitwall.session_view import SessionView


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


NO_VIDEO = "the session has no video_frames rows and its telemetry carries no video_file_idx/video_t_ms"


def _video_names(view: SessionView) -> tuple[str | None, str | None]:
    video = view.session.meta.get("video") or {}
    extensions = video.get("extensions") or []
    return video.get("base_name"), (str(extensions[0]) if extensions else None)


def _timeline(state: State, view: SessionView) -> tuple[pl.LazyFrame | None, str | None]:
    """The session's video timeline and where it came from (``video_frames`` — read each time: frames can be
    added to a session — or ``telemetry``)."""
    frames = store_of(state).read_video_frames(view.session_id)
    if frames.height:
        return frames.lazy().select("t_s", "video_file", "video_t_ms"), "video_frames"
    timeline = _telemetry_timeline(view)
    return (timeline.lazy(), "telemetry") if timeline.height else (None, None)


@per_view
def _telemetry_timeline(view: SessionView) -> pl.DataFrame:
    base, extension = _video_names(view)
    return video_timeline(view.telemetry, base_name=base, extension=extension).collect()


@per_view
def track_map_body(view: SessionView, max_points: int) -> TrackMap:
    """The body of :func:`track_map` (computed once per session version and arguments)."""
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
        session_id=view.session_id,
        track_id=view.track.id,
        track_name=view.track.name,
        track_length_m=view.track.length_m,
        reference_line=rows(reference_polyline(view.track, max_points=max_points).collect(), LinePoint),
        laps=laps,
    )


@session_get("map", "session_map")
def track_map(
    state: State,
    session_id: SessionId,
    max_points: Annotated[int, Parameter(ge=50, le=5000, description="points per line (at most)")] = 500,
) -> TrackMap:
    """The track's reference line and every lap's GPS trace (with lap ids, kind and validity), thinned."""
    return track_map_body(view_of(state, session_id), max_points)


@session_get("sync", "session_video_sync")
def video_sync(
    state: State,
    session_id: SessionId,
    tolerance_ms: Annotated[float, Parameter(gt=0, le=1000, description="sync tolerance, ms")] = 50.0,
) -> VideoSync:
    """Telemetry ↔ video frames matched within ±``tolerance_ms``, summarised per video file (pairs, matched
    share, worst error, time and video spans)."""
    view = view_of(state, session_id)
    timeline, source = _timeline(state, view)
    if timeline is None:
        return VideoSync(session_id, False, NO_VIDEO, None, tolerance_ms, None, None, [])
    if source == "video_frames":
        pairs = pairs_from_frames(view.telemetry, timeline, tolerance_ms=tolerance_ms)
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
        files=rows(files, SyncFile),
    )


@session_get("clips", "session_clips")
def clips(
    state: State,
    session_id: SessionId,
    kind: Annotated[Literal["all", "laps", "incidents"], Parameter(description="which cuts")] = "all",
    pre_s: Annotated[float, Parameter(ge=0, le=120, description="incident clips start this early, s")] = 3.0,
    post_s: Annotated[float, Parameter(ge=0, le=120, description="incident clips end this late, s")] = 3.0,
) -> Clips:
    """The video cut list: per lap (every lap) and per incident (default thresholds of ``/incidents``):
    file, start_ms, end_ms within that file."""
    view = view_of(state, session_id)
    timeline, _ = _timeline(state, view)
    if timeline is None:
        return Clips(session_id=session_id, available=False, reason=NO_VIDEO, clips=[])
    laps = view.laps.lazy() if kind != "incidents" else view.laps.lazy().head(0)
    found = incident_events(view, **INCIDENT_THRESHOLDS.as_dict())
    events = found.lazy() if kind != "laps" else found.lazy().head(0)
    cut = video_clips(timeline, clip_windows(laps, events, pre_s=pre_s, post_s=post_s)).collect()
    return Clips(session_id=session_id, available=True, reason=None, clips=rows(cut, Clip))


router = Router("/", route_handlers=[track_map, video_sync, clips], tags=["analysis"])
