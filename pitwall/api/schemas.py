"""Request and response bodies of the core HTTP routes, as ``msgspec.Struct``s validated by Litestar.

Keys are snake_case exactly as in the contract (``spec/pitwall-api.md``). Units are in the key names
(``_s`` seconds, ``_m`` metres, ``_kph`` km/h); timestamps are ISO-8601 UTC strings ending in ``Z``.
A body that does not match its Struct is answered 400 with the one error shape.
"""

from __future__ import annotations

import dataclasses
import io
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Annotated, Any

import msgspec
import polars as pl
from litestar.params import KwargDefinition

from pitwall import schema

FrameValue = float | int | str | None
"""A cell of an ingested wide frame: numbers for numeric channels, an ISO-8601 string for ``utc``."""


def iso_utc(moment: datetime) -> str:
    """``2026-05-26T17:00:00Z`` (with microseconds when present). Naive datetimes are taken as UTC."""
    if moment.tzinfo is not None:
        moment = moment.astimezone(UTC).replace(tzinfo=None)
    return moment.isoformat() + "Z"


def json_value(value: Any) -> Any:
    """A cell as JSON: datetimes as :func:`iso_utc` strings, everything else unchanged."""
    return iso_utc(value) if isinstance(value, datetime) else value


def json_rows(df: pl.DataFrame) -> list[dict[str, Any]]:
    """A frame as a list of JSON objects (column → value) with :func:`json_value` cells."""
    return [{key: json_value(value) for key, value in row.items()} for row in df.iter_rows(named=True)]


def _polars_json(frame: pl.DataFrame) -> bytes | None:
    """``frame`` as Polars' JSON writer writes it (an array of row objects), or None when that differs from
    msgspec's encoding of the same values: Polars escapes names and strings and spells numbers (null for
    null, NaN and ±inf) byte for byte as msgspec does, except a positive exponent (``1e+16``; msgspec writes
    ``1e16``), so a body with ``e+`` anywhere is refused."""
    buffer = io.BytesIO()
    frame.write_json(buffer)
    body = buffer.getvalue()
    return body if b"e+" not in body else None


def float_rows_json(frame: pl.DataFrame) -> msgspec.Raw:
    """A frame of Float64 columns as one pre-encoded JSON array of objects (column name → number or null):
    byte for byte msgspec's encoding of ``frame.to_dicts()``, written by Polars without building the dicts
    (:func:`_polars_json`; msgspec's own in the rare case it differs)."""
    if any(dtype != pl.Float64 for dtype in frame.dtypes):
        raise TypeError(f"float_rows_json takes Float64 columns, got {frame.schema}")
    body = _polars_json(frame)
    return msgspec.Raw(body if body is not None else msgspec.json.encode(frame.to_dicts()))


def json_array(series: pl.Series) -> msgspec.Raw:
    """A Float64 or String series as one pre-encoded JSON array (null for null, NaN and ±inf): byte for byte
    msgspec's encoding of ``series.to_list()``, written by Polars without the Python list (:func:`_polars_json`
    of the series as one list cell, ``[{"c":[…]}]``, unwrapped; msgspec's own in the rare case it differs)."""
    if series.dtype not in (pl.Float64, pl.String):
        raise TypeError(f"json_array takes a Float64 or String series, got {series.dtype}")
    body = _polars_json(series.to_frame("c").select(pl.col("c").implode()))
    return msgspec.Raw(
        body[len(b'[{"c":') : -len(b"}]")] if body is not None else msgspec.json.encode(series.to_list())
    )


def json_record(record: Any) -> dict[str, Any]:
    """A dataclass instance (e.g. a ``SessionRow``) as a JSON object with :func:`json_value` fields."""
    return {key: json_value(value) for key, value in dataclasses.asdict(record).items()}


class CanStatus(msgspec.Struct):
    """Live CAN reader figures shown by ``/health`` (null when no reader runs)."""

    connected: bool
    fps: float | None
    frames_total: int | None


class SimulatorStatus(msgspec.Struct):
    """The built-in simulator as ``/health`` shows it: ``enabled`` (``--simulate``), ``running`` (a simulated
    live session is being recorded), ``lap_seconds`` (s, the simulated lap time), ``speed_multiplier`` (data
    seconds per wall second)."""

    enabled: bool
    running: bool
    lap_seconds: float
    speed_multiplier: float


class Health(msgspec.Struct):
    """``GET /health``. ``engine`` is null (no ML engine); ``coach`` is ``"rule"`` while the rule coach runs;
    ``simulator`` is the block the original PWA reads (:class:`SimulatorStatus`)."""

    status: str
    version: str
    engine: str | None
    coach: str | None
    track: str | None
    duckdb: bool
    active_session_id: str | None
    can: CanStatus | None
    timestamp: str
    simulator: SimulatorStatus | None = None


class SessionStart(msgspec.Struct, forbid_unknown_fields=True):
    """``POST /session/start``. ``session_id`` defaults to ``<track-slug>-<UTC %Y%m%d-%H%M%S>``; ``track``
    defaults to the active track's name."""

    driver: str = ""
    driver_level: str = ""
    track: str = ""
    car: str = ""
    note: str = ""
    session_id: str | None = None


class SessionStarted(msgspec.Struct):
    started: bool
    session_id: str


class SessionEnded(msgspec.Struct):
    """``POST /session/<sid>/end``: ``ended_at`` is the first stamp (later calls keep it)."""

    ended: bool
    session_id: str
    ended_at: str


class SessionList(msgspec.Struct):
    sessions: list[dict[str, Any]]
    count: int


class SessionDetail(msgspec.Struct):
    """``GET /session/<sid>``: the session row, its laps and its last 50 coaching notes (newest first);
    ``lap_count``/``best_lap_s`` as in ``/sessions`` and ``notes`` (= ``coaching_notes``) at the top level,
    where the original clients read them."""

    session: dict[str, Any]
    laps: list[dict[str, Any]]
    coaching_notes: list[dict[str, Any]]
    lap_count: int
    best_lap_s: float | None
    notes: list[dict[str, Any]]


class ResetResult(msgspec.Struct):
    """``POST /session/reset``: ``cleared`` maps each registered cache to the entries it dropped (null when the
    cache does not count them)."""

    reset: bool
    cleared: dict[str, int | None]


class ImportRequest(msgspec.Struct, forbid_unknown_fields=True):
    """``POST /session/import``: ``vbo_path`` must resolve under one of the server's import roots."""

    vbo_path: str
    driver: str = ""
    driver_level: str = ""
    session_id: str | None = None
    car: str = ""


class ImportResponse(msgspec.Struct):
    """A finished import: ``n_frames`` telemetry rows, ``duration_s`` seconds, ``distance_m`` metres."""

    session_id: str
    n_frames: int
    duration_s: float
    distance_m: float
    vbo_source: str
    capabilities_count: int
    track: str | None
    status: str  # "imported"
    clock_repairs: int = 0  # clock faults repaired (session.meta["clock_repairs"] lists them)


class FramesIn(msgspec.Struct, forbid_unknown_fields=True):
    """``POST /session/<sid>/frames``: wide frames, each an object of column → value.

    Keys: the canonical columns of ``pitwall.schema.TELEMETRY`` except ``session_id`` and ``frame_idx``
    (assigned by the server), or the original clients' keys (``data/compat/frame_aliases.yaml``); any other
    numeric key is stored as a tall signal. ``t_s`` (or ``timestamp``) is required; ``utc`` is an ISO-8601
    string. ``driver``…``note`` fill the session row when this write creates the session.
    """

    frames: list[dict[str, FrameValue]]
    driver: str = ""
    driver_level: str = ""
    track: str = ""
    car: str = ""
    note: str = ""


class FramesAppended(msgspec.Struct):
    """Frames appended: ``appended`` = ``n_appended`` wide rows (the original clients read ``n_appended``),
    ``n_signals`` tall samples, ``ignored`` keys not stored, ``created`` when this write created the session."""

    session_id: str
    appended: int
    first_frame_idx: int | None
    last_frame_idx: int | None
    n_appended: int
    n_signals: int
    ignored: list[str]
    created: bool
    saved: bool = True


class FrameAppended(msgspec.Struct):
    """One frame appended (``n_appended`` = 1; see :class:`FramesAppended` for the other fields)."""

    session_id: str
    frame_idx: int
    n_appended: int
    n_signals: int
    ignored: list[str]
    created: bool
    saved: bool = True


class VideoFramesIn(msgspec.Struct, forbid_unknown_fields=True):
    """``POST /session/<sid>/video_frames``: objects of ``t_s`` (session seconds), ``video_file``,
    ``video_t_ms`` (time within the file, ms) and optional ``frame_no``, or the original clients' ``{timestamp, avitime_ms, file_path, file_offset_s, width, height}`` (aliases in
    ``data/compat/frame_aliases.yaml``)."""

    frames: list[dict[str, FrameValue]]


class SignalSample(msgspec.Struct, forbid_unknown_fields=True):
    """One tall sample as the original clients send it: ``{name, t (s), value}``."""

    name: str
    t: float
    value: float


if TYPE_CHECKING:  # after decoding every item is a tuple (see SignalsIn.__post_init__)
    SignalItem = tuple[str, float, float]
else:  # what msgspec decodes: a tuple or an object
    SignalItem = tuple[str, float, float] | SignalSample


class SignalsIn(msgspec.Struct, forbid_unknown_fields=True):
    """``POST /session/<sid>/signals``: tall tuples ``[signal_name, t_s, value]`` or ``{name, t, value}``
    objects (ADR-015 sink); objects are turned into tuples on decoding."""

    signals: list[SignalItem]

    def __post_init__(self) -> None:
        self.signals = [s if isinstance(s, tuple) else (s.name, s.t, s.value) for s in self.signals]


class Appended(msgspec.Struct):
    """Rows appended; ``registered`` lists signal names that were new to the registry; ``created`` is true when
    this write created the session. ``n_appended`` repeats ``appended`` and ``saved`` is true, as the original
    clients read them."""

    session_id: str
    appended: int
    registered: list[str] = msgspec.field(default_factory=list)
    n_appended: int = -1
    saved: bool = True
    created: bool = False

    def __post_init__(self) -> None:
        self.n_appended = self.appended


class Rows(msgspec.Struct):
    """A generic table answer: ``rows`` of column → value, and their ``count``."""

    rows: list[dict[str, Any]]
    count: int


class TukeyBox(msgspec.Struct):
    """Box-plot statistics of one set of values (``pitwall.analysis.boxstats.BOX_COLUMNS`` but the outlier
    values), in the unit of those values: quartiles, 1.5 IQR fences, whiskers and the number of outliers.
    Responses extend it with what the box is of."""

    n: int
    min: float | None
    q1: float | None
    median: float | None
    q3: float | None
    max: float | None
    iqr: float | None
    lower_fence: float | None
    upper_fence: float | None
    whisker_low: float | None
    whisker_high: float | None
    n_outliers: int


class Capabilities(msgspec.Struct):
    """Per-signal inventory of a session: ``n_samples``, ``mean_hz``, ``useful``, ``coaches``. The original's
    keys beside them: ``signals`` (``{name, n_samples, mean_hz, useful}``), ``duration_s`` (s, first to last
    telemetry sample; null without telemetry), ``coaches_available`` / ``coaches_disabled`` (coach gating)."""

    session_id: str
    capabilities: list[dict[str, Any]]
    count: int
    signals: list[dict[str, Any]] = msgspec.field(default_factory=list)
    duration_s: float | None = None
    coaches_available: list[str] = msgspec.field(default_factory=list)
    coaches_disabled: list[str] = msgspec.field(default_factory=list)


class Registry(msgspec.Struct):
    """The signal catalogue; each entry also carries the original's key names (``name``, ``units``,
    ``group``, ``semantics``, ``obd2_pid``, ``min_useful_hz``); ``can_state`` with ``include_can_state=true``."""

    signals: list[dict[str, Any]]
    count: int
    can_state: dict[str, Any] | None = None


def _array_schema(*types: str) -> dict[str, Any]:
    """OpenAPI schema of a JSON array of ``types`` items, as Litestar writes it for ``list[float]``,
    ``list[float | None]``…: kept for fields pre-encoded by :func:`json_array` (Litestar sees a ``Raw``)."""
    return {
        "items": {"type": types[0]} if len(types) == 1 else {"oneOf": [{"type": t} for t in types]},
        "type": "array",
    }


NumbersJson = Annotated[msgspec.Raw, KwargDefinition(schema_extra=_array_schema("number"))]
"""A :func:`json_array` of Float64 without nulls (``list[float]`` in the OpenAPI document)."""

NullableNumbersJson = Annotated[msgspec.Raw, KwargDefinition(schema_extra=_array_schema("number", "null"))]
"""A :func:`json_array` of Float64 (``list[float | None]``)."""

NullableStringsJson = Annotated[msgspec.Raw, KwargDefinition(schema_extra=_array_schema("string", "null"))]
"""A :func:`json_array` of String (``list[str | None]``)."""

FloatRowsJson = Annotated[
    msgspec.Raw,
    KwargDefinition(
        schema_extra={
            "items": {"additionalProperties": _array_schema("number", "null")["items"], "type": "object"},
            "type": "array",
        }
    ),
]
"""A :func:`float_rows_json` (``list[dict[str, float | None]]``)."""


class ResampledSignal(msgspec.Struct):
    """One resampled signal: ``values`` on the common axis and, per point, ``source`` — ``measured`` when a
    sample lies on the grid point, ``interpolated`` otherwise, null where the signal has no data. ``kind``
    (``continuous`` | ``discrete`` | ``counter``) says how values between samples were found: only continuous
    channels are interpolated linearly, the others hold the previous sample. ``values`` and ``source`` are
    pre-encoded JSON arrays (:func:`json_array`)."""

    values: NullableNumbersJson
    source: NullableStringsJson
    kind: str = "continuous"


class ResampledSignals(msgspec.Struct):
    """``GET /session/<sid>/signals``: ``x`` is the common axis (``t_s`` seconds or ``distance_m`` metres),
    like ``rows`` pre-encoded (:func:`json_array`, :func:`float_rows_json`): the route's body is megabytes."""

    session_id: str
    axis: str
    x_name: str
    step: float
    interp: str
    n: int
    x: NumbersJson
    signals: dict[str, ResampledSignal]
    missing: list[str]
    # The original bridge's keys beside ours (``pitwall.api.signals``): interp as hold | lerp, the window,
    # the names, and ``rows`` = one ``{t, <name>: value…}`` per axis point (+ ``distance_m`` for lap_distance),
    # pre-encoded by :func:`float_rows_json`.
    interp_original: str = "lerp"
    rate_hz: float | None = None
    t_from: float | None = None
    t_to: float | None = None
    names: list[str] = msgspec.field(default_factory=list)
    rows: FloatRowsJson = msgspec.field(default_factory=lambda: msgspec.Raw(b"[]"))
    count: int = 0


class LapIn(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    """``POST /lap``: a manual lap; times in seconds since session start; ``duration_s`` defaults to
    ``t_end_s - t_start_s``; ``lap`` defaults to the session's next lap number. ``lap_number`` is the
    original's name for ``lap`` (give one of them)."""

    session_id: str
    lap: int | None = None
    lap_number: int | None = None
    t_start_s: float
    t_end_s: float
    duration_s: float | None = None
    distance_m: float | None = None
    kind: str = "flying"
    valid: bool = True
    reason: str | None = None


class LeaderboardEntry(msgspec.Struct):
    """One best lap: ``time`` is ``m:ss.mmm``; ``lap_time_s`` the same in seconds; ``clock_repairs``: clock
    faults repaired inside the lap (0: sound clock; null: stored before laps were checked)."""

    rank: int
    initials: str
    driver: str
    car: str
    track: str
    time: str
    lap_time_s: float
    session_id: str | None
    lap: int | None
    clock_repairs: int | None = None


class Leaderboard(msgspec.Struct):
    entries: list[LeaderboardEntry]
    count: int


class CarsList(msgspec.Struct):
    """``GET /cars``: every car YAML, the loaded one flagged ``loaded: true``."""

    cars: list[dict[str, Any]]
    loaded_id: str | None
    cars_dir: str


INGEST_COLUMNS: dict[str, pl.DataType] = {
    name: dtype for name, dtype in schema.TELEMETRY.items() if name not in ("session_id", "frame_idx")
}
"""Columns a client may send in ``/frames`` and ``/frame`` (``session_id``/``frame_idx`` are assigned)."""

_INT_BOUNDS: dict[type[pl.DataType], tuple[int, int]] = {
    pl.Int32: (-(2**31), 2**31 - 1),
    pl.Int64: (-(2**63), 2**63 - 1),
}


class FrameError(ValueError):
    """An ingested frame with an unknown column or a value of the wrong type (HTTP 400)."""


def frames_frame(frames: list[dict[str, FrameValue]]) -> pl.DataFrame:
    """Validate wide frames (column → value objects) into a frame with canonical dtypes.

    Every frame needs a numeric ``t_s`` (seconds since session start). Float channels take JSON numbers,
    integer channels (``sats``, ``gear``, ``video_file_idx``, ``video_t_ms``) integral numbers, ``utc`` an
    ISO-8601 string (naive means UTC). Raises :class:`FrameError` naming the frame index and column.
    """
    if not frames:
        raise FrameError("no frames")
    names = list(dict.fromkeys(name for frame in frames for name in frame))
    unknown = [name for name in names if name not in INGEST_COLUMNS]
    if unknown:
        raise FrameError(f"unknown column(s) {unknown}; allowed: {sorted(INGEST_COLUMNS)}")
    if "t_s" not in names:
        raise FrameError("every frame needs t_s (seconds since session start)")
    columns = [
        pl.Series(
            name,
            [_cell(i, name, frame.get(name)) for i, frame in enumerate(frames)],
            dtype=INGEST_COLUMNS[name],
        )
        for name in names
    ]
    return pl.DataFrame(columns)


def _cell(index: int, name: str, value: FrameValue) -> Any:
    dtype = INGEST_COLUMNS[name]
    if value is None:
        if name == "t_s":
            raise FrameError(f"frame {index}: t_s is required")
        return None
    if dtype == pl.Datetime("us", "UTC"):
        return _utc_cell(index, name, value)
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise FrameError(f"frame {index}: {name} expects a number, got {value!r}")
    bounds = _INT_BOUNDS.get(type(dtype))
    if bounds is None:
        return float(value)
    if isinstance(value, float) and not value.is_integer():
        raise FrameError(f"frame {index}: {name} expects an integer, got {value!r}")
    if not bounds[0] <= value <= bounds[1]:
        raise FrameError(f"frame {index}: {name} out of range: {value!r}")
    return int(value)


def _utc_cell(index: int, name: str, value: FrameValue) -> datetime:
    try:
        moment = datetime.fromisoformat(value) if isinstance(value, str) else None
    except ValueError:
        moment = None
    if moment is None:
        raise FrameError(f"frame {index}: {name} expects an ISO-8601 time string, got {value!r}")
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)
