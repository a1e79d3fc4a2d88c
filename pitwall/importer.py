"""The import service shared by ``POST /session/import``, the CLI and the bulk pipeline.

One logger file (any format :func:`pitwall.formats.detect.read_recording` reads) becomes one session: parse →
detect the track → choose the session id → write everything atomically (``Store.import_session``) →
:func:`finish_import` (post-import derivations). Imports are idempotent: the hash of the parsed data
(:func:`recording_hash`, not of the file's bytes, so the same samples with another header are the same
recording) is stored with the session, and a recording already imported is ``skipped``.

Parsing is separated from writing so the bulk pipeline parses in worker processes
(:func:`parse_for_import` returns picklable data) and writes from one process (:func:`import_vbo_file`).
"""

from __future__ import annotations

import dataclasses
import hashlib
import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Final, Literal, Protocol

import numpy as np
import numpy.typing as npt
import polars as pl

from pitwall import schema
from pitwall.analysis.clock import apply_clock_repair, repair_clock, repair_signal_times
from pitwall.analysis.geo import EARTH_RADIUS_M, accumulated_m
from pitwall.analysis.laps import LAP_COLUMNS
from pitwall.analysis.position import line_fingerprint, with_track_position
from pitwall.analysis.track_match import detect_track
from pitwall.formats.detect import read_recording
from pitwall.formats.errors import ReadError
from pitwall.formats.vbo import VboRecording
from pitwall.learned_tracks import gate_lap_marks, learn_track, learnt_track_id, loop_lap_marks
from pitwall.session_view import session_laps
from pitwall.store import prepare
from pitwall.store.base import (
    LEGACY_HASH_PREFIX,
    DuplicateContent,
    SessionExists,
    SessionImport,
    SessionRow,
    Store,
)
from pitwall.track import Track
from pitwall.validate import first_bad_signal, first_bad_value

SESSION_ID_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,127}")
"""Valid session ids: 1–128 characters, letters, digits, ``.``, ``_``, ``-``; no leading punctuation."""

MAX_ID_SUFFIX = 100
"""Auto-generated ids that collide get ``-2`` … ``-100`` appended (:func:`candidate_ids`)."""


class InvalidSessionId(ValueError):
    """A session id that does not match :data:`SESSION_ID_PATTERN` (HTTP 400)."""


class TrackSource(Protocol):
    """What the importer needs from a track library (``pitwall.formats.track.TrackLibrary``): its tracks, and
    a place for circuits learnt from recordings."""

    @property
    def tracks(self) -> list[Track]: ...

    def add_user_track(self, track: Track) -> Path | None: ...


@dataclass(frozen=True)
class ParsedImport:
    """A parsed VBO ready to be written; picklable, so it can cross from a worker process to the writer."""

    path: Path
    content_hash: str  # recording_hash: sha256 hex of the parsed samples
    recording: VboRecording  # with its clock repaired (see ``clock``)
    clock: dict[str, Any] = dataclasses.field(
        default_factory=dict
    )  # clock faults repaired (pitwall.analysis.clock)
    legacy_hash: str = ""  # recording_hash(legacy=True), when asked for (see parse_for_import)


@dataclass(frozen=True)
class ImportResult:
    """The outcome of one import. ``skipped`` means the same bytes were imported before as ``session_id``."""

    status: Literal["imported", "skipped"]
    session_id: str
    path: Path
    n_frames: int
    duration_s: float  # seconds from first to last kept sample
    distance_m: float  # cumulative GPS distance, metres
    vbo_source: str  # file name
    capabilities_count: int  # signals in the session's capability inventory
    track: str | None  # track display name, when detected
    clock_repairs: int = 0  # clock faults repaired in the file (session.meta["clock_repairs"])


def slugify(text: str) -> str:
    """Lower-case ASCII letters and digits, runs of anything else collapsed to ``-`` (``"Sonoma Raceway"``
    → ``"sonoma-raceway"``)."""
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")


def make_session_id(name: str, moment: datetime | None) -> str:
    """``<slug of name>-<UTC %Y%m%d-%H%M%S>`` (``-undated`` when no time is known); ``session`` when the
    name has no letters or digits."""
    stamp = moment.astimezone(UTC).strftime("%Y%m%d-%H%M%S") if moment is not None else "undated"
    return f"{slugify(name)[:96] or 'session'}-{stamp}"


def candidate_ids(base: str) -> Iterator[str]:
    """``base``, then ``base-2`` … ``base-100``: ids to try in turn for an auto-generated session id."""
    yield base
    yield from (f"{base}-{n}" for n in range(2, MAX_ID_SUFFIX + 1))


def check_session_id(session_id: str) -> str:
    """``session_id`` unchanged, or :class:`InvalidSessionId` when it does not match the id pattern."""
    if not SESSION_ID_PATTERN.fullmatch(session_id):
        raise InvalidSessionId(
            f"invalid session id {session_id!r}: 1-128 letters, digits, '.', '_' or '-', starting with a letter or digit"
        )
    return session_id


def parse_for_import(path: str | Path, *, legacy_hash: bool = False) -> ParsedImport:
    """Read and parse one logger file of any supported format (no database access; safe in worker processes).
    ``legacy_hash`` adds the recording's hash as databases stored it before migration 6
    (:meth:`~pitwall.store.base.Store.holds_legacy_hashes` says whether the target database has any).

    Raises :class:`~pitwall.formats.errors.ReadError` for a file that cannot be read, is in an unsupported
    format or cannot be parsed.
    """
    path = Path(path)
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise ReadError(path, f"cannot read file: {exc.strerror or exc}") from exc
    recording = read_recording(data, name=str(path))
    refuse_bad_values(recording)
    content_hash = recording_hash(recording)  # of the samples as logged, before any repair
    legacy = recording_hash(recording, legacy=True) if legacy_hash else ""
    recording, clock = repaired_clock(recording)
    return ParsedImport(path, content_hash, recording, clock, legacy)


def recording_hash(recording: VboRecording, *, legacy: bool = False) -> str:
    """sha256 hex of a recording's samples as logged: every canonical telemetry column the logger wrote (in
    schema order, as float64 bytes with NaN for null; ``utc`` as epoch µs; not the
    :data:`~pitwall.schema.COMPUTED_TELEMETRY` the reader or the import work out) and the tall signals (name,
    time, value). Independent of the file's header, comments, line endings and number formatting, so a
    re-export of the same samples is recognised as the same recording; and of the machine: the computed
    ``distance_m`` comes from numpy's trigonometry, whose last bits differ between CPUs (SVML kernels on
    AVX-512) and numpy versions.

    ``legacy``: the hash databases stored before migration 6 (:data:`~pitwall.store.base.LEGACY_HASH_PREFIX`),
    which also took in the computed columns but ``frame_idx``; only for recognising those sessions."""
    digest = hashlib.sha256()
    telemetry = recording.telemetry
    skipped = ("session_id", "frame_idx") if legacy else ("session_id", *schema.COMPUTED_TELEMETRY)
    for name in schema.TELEMETRY:
        if name in skipped:
            continue
        column = telemetry.get_column(name)
        if name == "utc":
            column = column.dt.epoch("us")
        elif name == "distance_m" and column.null_count() < column.len():  # legacy: as computed then
            column = pl.Series(_legacy_distance_m(telemetry["lat_deg"], telemetry["lon_deg"]))
        digest.update(name.encode())
        _update(digest, column.cast(pl.Float64).fill_null(float("nan")))
    runs = schema.signal_runs(recording.sink)
    for piece in _row_names_utf8(runs):
        digest.update(piece)
    for field in ("t_s", "value"):
        for _, part in runs:
            _update(digest, part[field].cast(pl.Float64))
    return digest.hexdigest()


def _legacy_distance_m(lat_deg: pl.Series, lon_deg: pl.Series) -> npt.NDArray[np.float64]:
    """The cumulative distance (m) as readers computed it before migration 6, bit for bit (on the same CPU and
    numpy): the haversine of consecutive fixes on differences of radians, operations in that order. Only for
    :func:`recording_hash`'s ``legacy`` hash; the distance stored now is :func:`~pitwall.analysis.geo.path_steps_m`'s."""
    lat, lon = np.radians(lat_deg.to_numpy()), np.radians(lon_deg.to_numpy())
    cos_lat = np.cos(lat)
    halves = [np.diff(angle) / 2 for angle in (lat, lon)]
    a, b = (np.square(np.sin(half)) for half in halves)
    a += cos_lat[:-1] * cos_lat[1:] * b
    return accumulated_m(np.arcsin(np.sqrt(np.clip(a, 0.0, 1.0))) * (2 * EARTH_RADIUS_M))


def _update(digest: hashlib._Hash, column: pl.Series) -> None:
    """Feed ``column``'s values to ``digest`` as its bytes, chunk by chunk: the bytes of the whole column, without
    the copy into one array a multi-chunk column's ``to_numpy`` makes (a parsed VBO's columns come in the CSV
    reader's chunks)."""
    for chunk in column.get_chunks():
        digest.update(np.ascontiguousarray(chunk.to_numpy()).data)


NAME_BLOCK_ROWS: Final = 2048
"""Tall row names per piece of :func:`_row_names_utf8` (~30 KB: well below the C allocator's mmap threshold)."""


def _row_names_utf8(runs: list[tuple[str, pl.DataFrame]]) -> Iterator[bytes]:
    """The name of every tall row, NUL-separated, UTF-8: the bytes of ``"\x00".join(names).encode()`` in pieces
    of at most :data:`NAME_BLOCK_ROWS` names — without a Python ``str`` per row, nor the whole (~7 MB for an
    hour's 576,000 rows), nor a piece per run (~1 MB each, which left the C allocator's heap ~8 MB larger)."""
    first = True
    for signal, rows in runs:
        name, n = signal.encode(), rows.height
        if n and first:
            yield name
            first, n = False, n - 1
        unit = b"\x00" + name
        block = unit * min(n, NAME_BLOCK_ROWS)
        for _ in range(n // NAME_BLOCK_ROWS):
            yield block
        if n % NAME_BLOCK_ROWS:
            yield unit * (n % NAME_BLOCK_ROWS)


CLOCK_REPAIRS_LISTED = 20
"""Clock faults listed one by one in ``session.meta["clock_repairs"]`` (all are counted)."""


def repaired_clock(recording: VboRecording) -> tuple[VboRecording, dict[str, Any]]:
    """The recording with its clock faults repaired (:func:`pitwall.analysis.clock.repair_clock`; telemetry
    and tall signals alike) and the facts for ``session.meta["clock_repairs"]``: ``count``, the first
    :data:`CLOCK_REPAIRS_LISTED` faults as ``{t_s, step_s}`` (the repaired time and the logged step, s) and
    every repaired time as ``repaired_t_s`` (s; the laps that contain one are marked ``clock_repairs``)."""
    repair = repair_clock(recording.telemetry)
    if repair.count == 0:
        return recording, {"count": 0}
    old_t = recording.telemetry["t_s"].to_numpy()
    fixed = dataclasses.replace(
        recording,
        telemetry=apply_clock_repair(recording.telemetry, repair),
        sink=repair_signal_times(recording.signals, old_t, repair),
    )
    faults = [
        {"t_s": round(float(repair.t_s[row]), 3), "step_s": round(step, 3)}
        for row, step in zip(repair.rows[:CLOCK_REPAIRS_LISTED], repair.steps_s, strict=False)
    ]
    repaired_t_s = [round(float(repair.t_s[row]), 3) for row in repair.rows]
    return fixed, {"count": repair.count, "faults": faults, "repaired_t_s": repaired_t_s}


def refuse_bad_values(recording: VboRecording) -> None:
    """:class:`~pitwall.formats.errors.ReadError` (file, line, column and value) when a channel holds a value
    that is not finite or outside its plausible range (:mod:`pitwall.validate`): nothing of the file is
    stored then."""
    bad = first_bad_value(recording.telemetry)
    if bad is not None:
        line = recording.line_of_row(bad.row)
        where = "" if line is not None else f" (data row {bad.row + recording.rows_dropped_prefix + 1})"
        raise ReadError(recording.path, bad.describe() + where, line=line)
    signal = _first_bad_sample(recording.sink)
    if signal is not None:
        reason = f"channel {signal['signal_name']} = {signal['value']!r} at t = {signal['t_s']} s: not a plausible number"
        raise ReadError(recording.path, reason)


def _first_bad_sample(sink: schema.TallSink) -> dict[str, Any] | None:
    """The first tall row of ``sink`` (in its order) whose value :func:`~pitwall.validate.first_bad_signal`
    refuses, as ``signal_name``, ``t_s`` (s), ``value``; ``None`` when all are plausible. Channels are checked
    one by one, without their tall rows."""
    parts = sink.samples() if isinstance(sink, schema.SignalChannels) else [("", sink)]
    for name, rows in parts:
        row = first_bad_signal(rows["value"])
        if row is not None:
            return {"signal_name": name, **rows.row(row, named=True)}
    return None


def skipped_result(store: Store, parsed: ParsedImport) -> ImportResult | None:
    """The ``skipped`` result when the parsed recording was imported before, else ``None``. A session found by
    its legacy hash (stored before migration 6) is given the current one, so it is found directly next time."""
    existing = store.find_session_by_hash(parsed.content_hash)
    if existing is None and parsed.legacy_hash:
        existing = store.find_session_by_hash(LEGACY_HASH_PREFIX + parsed.legacy_hash)
        if existing is not None:
            store.update_session(existing, content_hash=parsed.content_hash)
    if existing is None:
        return None
    row = store.get_session(existing)
    return _result("skipped", store, row, parsed.path)


def import_vbo_file(
    store: Store,
    source: str | Path | ParsedImport,
    *,
    library: TrackSource | None,
    driver: str = "",
    driver_level: str = "",
    session_id: str | None = None,
    car: str = "",
) -> ImportResult:
    """Import one VBO into ``store`` (see the module doc): ``source`` is the file, or the file already
    parsed by :func:`parse_for_import` (the bulk pipeline parses in worker processes). ``session_id``
    defaults to ``<track-slug or file stem>-<UTC of the first fix>``.

    Raises ``ReadError`` (unreadable file), :class:`InvalidSessionId`, ``SessionExists`` (explicit id taken).
    """
    parsed = (
        source
        if isinstance(source, ParsedImport)
        else parse_for_import(source, legacy_hash=store.holds_legacy_hashes())
    )
    if session_id is not None:
        check_session_id(session_id)
    if (skipped := skipped_result(store, parsed)) is not None:
        return skipped
    recording = parsed.recording
    track = detect_session_track(recording, library) or learn_session_track(recording, library)
    row = _session_row(parsed, driver=driver, driver_level=driver_level, car=car)
    candidates = (
        [session_id]
        if session_id
        else list(candidate_ids(make_session_id(track.name if track else parsed.path.stem, row.started_at)))
    )
    data = _session_import(row, recording, track)
    for candidate in candidates:
        row.session_id = candidate  # data.session is row
        try:
            store.import_session(data)
            break
        except DuplicateContent as same:  # imported meanwhile by a concurrent request or process
            return _result("skipped", store, store.get_session(same.session_id), parsed.path)
        except SessionExists:
            if candidate == candidates[-1]:
                raise
    try:
        finish_import(store, row.session_id, track, data.telemetry)
    except BaseException:
        store.delete_session(row.session_id)
        raise
    return _result("imported", store, store.get_session(row.session_id), parsed.path)


_LAP_ROWS: Final[dict[str, pl.DataType]] = {
    name: schema.TELEMETRY[name] for name in ("session_id", *LAP_COLUMNS)
}
"""The telemetry columns lap slicing reads (``session_id`` carried over), with their stored dtypes."""


def finish_import(store: Store, session_id: str, track: Track | None, telemetry: pl.DataFrame) -> None:
    """Post-import derivations on a stored session: sets its ``track``/``track_id`` from ``track`` and stores
    its laps (:func:`pitwall.session_view.session_laps`: VBO gates from ``meta["gates"]``, else the track's).
    ``telemetry``: the session's wide rows as the import handed them to the store, in frame order; the columns
    lap slicing reads are taken from them with the values the store keeps (:func:`pitwall.store.prepare`), which
    is what reading them back gives, without the read (~9 MB less at once for an hour).

    A failure here makes the importer delete the session, so an import stays all-or-nothing.
    """
    if track is not None:
        store.update_session(session_id, track=track.name, track_id=track.id)
        meta = store.get_session(session_id).meta
        rows = prepare(telemetry.with_columns(session_id=pl.lit(session_id)), _LAP_ROWS)
        store.replace_laps(session_id, session_laps(rows, track, meta))


def detect_session_track(recording: VboRecording, library: TrackSource | None) -> Track | None:
    """The library track the recording's GPS fixes lie on (``None`` without a library or a match)."""
    if library is None:
        return None
    fixes = recording.telemetry.select("lat_deg", "lon_deg").drop_nulls()
    if fixes.height == 0:
        return None
    return detect_track(fixes["lat_deg"].to_numpy(), fixes["lon_deg"].to_numpy(), library.tracks)


def learn_session_track(recording: VboRecording, library: TrackSource | None) -> Track | None:
    """A circuit learnt from a recording that the library does not know — timed by the logger's lap marks, else
    its own start/finish gate, else the loop its path repeats (:mod:`pitwall.learned_tracks`) — added to the
    library's user tracks (saved there) so the next session at the same place is detected; ``None`` without a
    library, or when the recording repeats no closed loop."""
    if library is None:
        return None
    timed_by = "the logger's own lap markers"
    marks = recording.lap_marks_s
    if not marks:
        timed_by, marks = "the file's own start line", gate_lap_marks(recording.telemetry, recording.gates)
    if not marks:
        timed_by = "a line across the repeating loop at its fastest point (the file has no timing)"
        marks = loop_lap_marks(recording.telemetry)
    if len(marks) < 2:
        return None
    named = recording.session_data.get("track", "").strip()
    fix = recording.telemetry.select("lat_deg", "lon_deg").drop_nulls()
    if fix.height == 0:
        return None
    name = named or f"Circuit at {fix['lat_deg'][0]:.4f}, {fix['lon_deg'][0]:.4f}"
    track = learn_track(
        recording.telemetry,
        marks,
        track_id=learnt_track_id(name, [t.id for t in library.tracks]),
        name=name,
        source_file=recording.path.name,
        timed_by=timed_by,
    )
    if track is not None:
        library.add_user_track(track)
    return track


def _session_row(parsed: ParsedImport, *, driver: str, driver_level: str, car: str) -> SessionRow:
    recording = parsed.recording
    telemetry = recording.telemetry
    utc = telemetry["utc"].drop_nulls()
    duration_s = _column_max(telemetry, "t_s")
    started_at = _as_utc(utc[0] if utc.len() else (recording.created_at or datetime.now(UTC)))
    ended_at = _as_utc(utc[-1]) if utc.len() else started_at + timedelta(seconds=duration_s)
    facts = recording.session_data
    return SessionRow(
        session_id="",
        started_at=started_at,
        ended_at=ended_at,
        driver=driver or facts.get("driver", ""),
        driver_level=driver_level,
        car=car or facts.get("vehicle", ""),
        source="vbo",
        vbo_source=parsed.path.name,
        content_hash=parsed.content_hash,
        n_frames=telemetry.height,
        duration_s=duration_s,
        distance_m=_column_max(telemetry, "distance_m"),
        meta={**_reader_facts(recording), "clock_repairs": parsed.clock or {"count": 0}},
    )


def _column_max(frame: pl.DataFrame, name: str) -> float:
    """The largest value of a numeric column; 0.0 when it has none."""
    value = frame.get_column(name).max()
    return float(value) if isinstance(value, int | float) else 0.0


def _as_utc(moment: datetime) -> datetime:
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def _reader_facts(recording: VboRecording) -> dict[str, Any]:
    """What the reader learned besides the data, JSON-ready (``gates`` are Gate field dicts in degrees)."""
    return {
        "gates": [dataclasses.asdict(gate) for gate in recording.gates],
        "session_data": dict(recording.session_data),
        "comments": dict(recording.comments),
        "sections": sorted(recording.sections),
        "created_at": recording.created_at.isoformat() if recording.created_at else None,
        "log_rate_hz": recording.log_rate_hz,
        "video": dataclasses.asdict(recording.video) if recording.video else None,
        "rows_in_file": recording.rows_in_file,
        "rows_dropped_prefix": recording.rows_dropped_prefix,
        "rows_dropped_duplicate": recording.rows_dropped_duplicate,
        "truncated_last_line": recording.truncated_last_line,
        "source_format": recording.source_format,
        "lap_marks_s": list(recording.lap_marks_s),
    }


def positioned_for_storage(telemetry: pl.DataFrame, track: Track) -> tuple[pl.DataFrame, dict[str, str]]:
    """``telemetry`` with its track position (``s_m``, ``offset_m``; :func:`pitwall.analysis.position
    .with_track_position`) and the session meta that names the track version they belong to
    (``positioned_on``): a :class:`~pitwall.session_view.SessionView` of the stored session reuses them while
    the track is unchanged. Requires ``lat_deg``, ``lon_deg`` (``heading_deg`` used when present)."""
    return with_track_position(telemetry, track), {"positioned_on": line_fingerprint(track)}


def _session_import(row: SessionRow, recording: VboRecording, track: Track | None) -> SessionImport:
    """The rows to store: with the samples' track position when the track is known (``meta.positioned_on``
    names the track version, so a view reuses them instead of positioning every sample again)."""
    telemetry, sink = recording.telemetry, recording.sink
    if track is not None:
        telemetry, facts = positioned_for_storage(telemetry, track)
        row.meta = {**row.meta, **facts}
    return SessionImport(
        session=row,
        telemetry=_stored(telemetry, schema.TELEMETRY),
        signals=sink if isinstance(sink, schema.SignalChannels) else _stored(sink, schema.TELEMETRY_SIGNALS),
        registry=schema.conform(recording.registry, schema.SIGNAL_REGISTRY),
    )


def _stored(frame: pl.DataFrame, columns: dict[str, pl.DataType]) -> pl.DataFrame:
    """The columns of ``frame`` a store keeps, as they are (no copy): canonical ``columns`` but ``session_id``,
    which the store gives every row itself — a column of it would be ~15 MB for an hour's tall rows, and all-null
    columns for the canonical channels not logged as much again, only to be dropped by the store."""
    return frame.select([name for name in frame.columns if name in columns and name != "session_id"])


def _result(
    status: Literal["imported", "skipped"], store: Store, row: SessionRow, path: Path
) -> ImportResult:
    return ImportResult(
        status=status,
        session_id=row.session_id,
        path=path,
        n_frames=row.n_frames,
        duration_s=row.duration_s,
        distance_m=row.distance_m,
        vbo_source=row.vbo_source,
        capabilities_count=store.get_capabilities(row.session_id).height,
        track=row.track or None,
        clock_repairs=int((row.meta.get("clock_repairs") or {}).get("count", 0)),
    )
