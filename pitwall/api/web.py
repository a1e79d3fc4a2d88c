"""The browser door: the web app's static files, the notebooks' Vega-Lite specs as JSON, and file upload.

* ``GET /`` is the app shell (``pitwall/web/index.html``); ``GET /sw.js`` and ``GET /manifest.webmanifest``
  sit at the root so the service worker controls the whole origin; everything else is under
  ``GET /app/<path>``. Large assets are stored gzip-compressed on disk (``<name>.gz``) and sent as is with
  ``Content-Encoding: gzip`` to clients that accept it, decoded on the fly for the others.
* ``GET /session/<sid>/charts/<name>``: the Vega-Lite spec :mod:`pitwall.charts` builds for the notebooks
  (:data:`CHART_NAMES`), so a chart is the same in a notebook and on the phone.
* ``POST /session/upload``: a VBO file sent by the browser (multipart), stored under the upload dir (inside
  the import roots) and imported exactly as ``POST /session/import`` does.
"""

from __future__ import annotations

import gzip
import hashlib
import mimetypes
import re
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any, Final, cast

import anyio.to_thread
import msgspec
import polars as pl
from litestar import Request, Response, Router, get, post
from litestar.datastructures import State, UploadFile
from litestar.enums import RequestEncodingType
from litestar.params import Body, Parameter

from pitwall import charts
from pitwall.analysis.delta import braking_points, delta_t
from pitwall.analysis.maps import reference_polyline
from pitwall.api.deps import settings_of, track_of
from pitwall.api.errors import ApiError
from pitwall.api.schemas import ImportRequest, ImportResponse
from pitwall.api.sessions import import_session
from pitwall.api.views import per_view, view_of
from pitwall.config import Settings
from pitwall.session_view import SessionView

WEB_DIR: Final = Path(__file__).resolve().parent.parent / "web"
"""The static app (plain ES modules; vendored libraries under ``vendor/``)."""

MAX_UPLOAD_BYTES: Final = 512 * 1024 * 1024
"""Largest file ``POST /session/upload`` accepts (bytes)."""

TRACE_CHANNELS: Final = ("speed_kph", "throttle_pct", "brake_bar", "brake_pct")
"""Channels of the two-lap ``traces`` chart, as in the lap-compare notebook."""

CHART_NAMES: Final = ("track_map", "traces")
"""The charts ``GET /session/<sid>/charts/<name>`` serves."""

REDOC_JS_URL: Final = "/app/vendor/redoc/redoc.standalone.js"
"""The vendored Redoc bundle ``/schema`` loads (no CDN, no Google fonts)."""

FAVICON_LINK: Final = "<link rel='icon' type='image/svg+xml' href='/app/icon.svg'>"
"""The ``/schema`` page's favicon tag (served by Pitwall, not a CDN)."""

_SAFE_NAME: Final = re.compile(r"[^A-Za-z0-9._-]+")


# -- static files -------------------------------------------------------------------------------------------


def _static_file(relative: str, request: Request[Any, Any, Any]) -> Response[bytes]:
    """The file ``relative`` under :data:`WEB_DIR` (or its ``.gz`` twin), encoded for ``request``; 404 when
    absent or outside the folder."""
    root = WEB_DIR.resolve()
    path = (root / relative).resolve()
    if root not in path.parents:
        raise ApiError(404, "not found", relative)
    media_type = mimetypes.guess_type(path.name)[0] or "application/octet-stream"
    if path.suffix == ".mjs":
        media_type = "text/javascript"
    elif path.suffix == ".webmanifest":
        media_type = "application/manifest+json"
    headers = {"Cache-Control": "no-cache", "Vary": "Accept-Encoding"}
    if path.is_file():
        return Response(path.read_bytes(), media_type=media_type, headers=headers)
    packed = path.with_name(path.name + ".gz")
    if not packed.is_file():
        raise ApiError(404, "not found", relative)
    body = packed.read_bytes()
    if "gzip" in request.headers.get("accept-encoding", ""):
        return Response(body, media_type=media_type, headers={**headers, "Content-Encoding": "gzip"})
    return Response(gzip.decompress(body), media_type=media_type, headers=headers)


@get("/", operation_id="web_app", include_in_schema=False, sync_to_thread=True)
def web_index(request: Request[Any, Any, Any]) -> Response[bytes]:
    """The web app's shell."""
    return _static_file("index.html", request)


@get("/sw.js", operation_id="web_service_worker", include_in_schema=False, sync_to_thread=True)
def web_service_worker(request: Request[Any, Any, Any]) -> Response[bytes]:
    """The service worker, at the root so its scope is the whole app."""
    return _static_file("sw.js", request)


@get("/manifest.webmanifest", operation_id="web_manifest", include_in_schema=False, sync_to_thread=True)
def web_manifest(request: Request[Any, Any, Any]) -> Response[bytes]:
    """The PWA manifest."""
    return _static_file("manifest.webmanifest", request)


@get("/app/{path:path}", operation_id="web_asset", include_in_schema=False, sync_to_thread=True)
def web_asset(request: Request[Any, Any, Any], path: str) -> Response[bytes]:
    """A static file of the app (gzip-encoded when stored compressed and accepted)."""
    return _static_file(path.lstrip("/"), request)


class TrackOutline(msgspec.Struct):
    """The active track's reference line for the live map: ``points`` start at the start/finish line."""

    track: str
    length_m: float
    points: list[dict[str, float]]


@get("/track/outline", operation_id="track_outline", sync_to_thread=True)
def track_outline(state: State) -> TrackOutline:
    """The active track's reference polyline (``s_m`` metres along the lap, ``lat_deg``, ``lon_deg``; at
    most 1000 points, the first at the start/finish line). 404 without an active track."""
    track = track_of(state)
    points = reference_polyline(track).collect().select("s_m", "lat_deg", "lon_deg")
    return TrackOutline(track=track.name, length_m=float(track.length_m), points=points.to_dicts())


# -- charts -------------------------------------------------------------------------------------------------


def _lap_param(view_laps: pl.DataFrame, lap: int | None, default: int | None, name: str) -> int:
    chosen = default if lap is None else lap
    if chosen is None or chosen not in set(view_laps.filter(pl.col("kind") == "flying")["lap"].to_list()):
        raise ApiError(400, "invalid lap", {name: chosen, "reason": "not a complete flying lap"})
    return chosen


@get(
    "/session/{session_id:str}/charts/{name:str}",
    operation_id="session_chart_spec",
    sync_to_thread=True,
)
def session_chart(
    state: State,
    session_id: str,
    name: str,
    lap: Annotated[int | None, Parameter(description="track_map: one lap (all laps when absent)")] = None,
    channel: Annotated[str, Parameter(description="track_map: colouring channel")] = "speed_kph",
    lap_a: Annotated[int | None, Parameter(description="traces: reference lap (default: best)")] = None,
    lap_b: Annotated[int | None, Parameter(description="traces: compared lap (optional)")] = None,
) -> dict[str, Any]:
    """The Vega-Lite v5 spec (JSON) of the notebook chart ``name`` for a session: ``track_map`` (fixes
    coloured by ``channel``, over the track's reference line) or ``traces`` (speed/throttle/brake of
    ``lap_a`` and ``lap_b`` along the lap distance in metres, delta-T of B vs A in seconds, braking points as
    dashed rules). 404 unknown chart or session, 400 unknown channel or lap."""
    if name not in CHART_NAMES:
        raise ApiError(404, "unknown chart", {"name": name, "charts": list(CHART_NAMES)})
    return chart_spec(view_of(state, session_id), name, lap, channel, lap_a, lap_b)


@per_view
def chart_spec(
    view: SessionView, name: str, lap: int | None, channel: str, lap_a: int | None, lap_b: int | None
) -> dict[str, Any]:
    """The body of :func:`session_chart` (computed once per session version and arguments)."""
    if name == "track_map":
        telemetry = view.telemetry if lap is None else view.lap_telemetry(lap)
        frame = telemetry.collect()
        if channel not in frame.columns or frame[channel].null_count() == frame.height:
            raise ApiError(400, "invalid channel", {"channel": channel, "reason": "not logged"})
        chart: Any = charts.track_map(
            frame, channel=channel, reference=reference_polyline(view.track).collect()
        )
        return chart.to_dict()
    first = _lap_param(view.laps, lap_a, view.best_lap(), "lap_a")
    picks = (
        [first] if lap_b is None or lap_b == first else [first, _lap_param(view.laps, lap_b, None, "lap_b")]
    )
    traces = [view.lap_traces([n]).with_columns(pl.lit(f"lap {n}").alias("label")) for n in picks]
    delta = delta_t(traces[1].lazy(), traces[0].lazy()).collect() if len(traces) == 2 else None
    marks = pl.concat(
        [
            braking_points(trace.lazy(), view.track)
            .collect()
            .select(
                pl.col("s_brake_m").alias("s_m"),
                pl.format("T{} brake at {} m", "corner", pl.col("s_brake_m").round(0)).alias("text"),
                pl.lit(f"lap {n}").alias("label"),
            )
            for n, trace in zip(picks, traces, strict=True)
        ]
    )
    chart = charts.trace_panels(
        pl.concat(traces, how="diagonal_relaxed"),
        channels=list(TRACE_CHANNELS),
        delta=delta,
        marks=marks,
        width=340,
    )
    return chart.to_dict()


# -- upload -------------------------------------------------------------------------------------------------


class UploadForm(msgspec.Struct):
    """``POST /session/upload`` (multipart/form-data): the file and the optional import fields."""

    file: UploadFile
    driver: str = ""
    driver_level: str = ""
    car: str = ""


def upload_dir_of(settings: Settings) -> Path:
    """Where uploads are stored: ``settings.upload_dir``, else ``uploads/`` in the first import root."""
    return settings.upload_dir or settings.import_roots[0] / "uploads"


@post("/session/upload", status_code=200, operation_id="upload_session")
async def upload_session(
    state: State, data: Annotated[UploadForm, Body(media_type=RequestEncodingType.MULTI_PART)]
) -> ImportResponse:
    """Store an uploaded VBO file under the upload dir (named ``<sha256 prefix>-<file name>``) and import it
    as ``POST /session/import`` does (same answers: 400 unreadable, 409 already imported, 403 when the upload
    dir is outside the import roots). 413 above :data:`MAX_UPLOAD_BYTES`, 400 empty file."""
    content = await data.file.read()
    if not content:
        raise ApiError(400, "invalid request", "the uploaded file is empty")
    if len(content) > MAX_UPLOAD_BYTES:
        raise ApiError(413, "file too large", {"max_bytes": MAX_UPLOAD_BYTES})
    folder = upload_dir_of(settings_of(state))
    name = _SAFE_NAME.sub("_", Path(data.file.filename or "upload.vbo").name).strip("._") or "upload.vbo"
    target = folder / f"{hashlib.sha256(content).hexdigest()[:12]}-{name}"
    if not target.exists():
        folder.mkdir(parents=True, exist_ok=True)
        partial = target.with_name(target.name + ".part")
        partial.write_bytes(content)
        partial.replace(target)
    request = ImportRequest(
        vbo_path=str(target), driver=data.driver, driver_level=data.driver_level, car=data.car
    )
    fn = cast("Callable[..., ImportResponse]", import_session.fn)  # the very handler of /session/import
    return await anyio.to_thread.run_sync(lambda: fn(state=state, data=request))


router = Router(
    "/",
    route_handlers=[
        web_index,
        web_service_worker,
        web_manifest,
        web_asset,
        track_outline,
        session_chart,
        upload_session,
    ],
    tags=["web"],
)
