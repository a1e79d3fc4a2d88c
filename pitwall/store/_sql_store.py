"""The :class:`~pitwall.store.base.Store` implementation shared by both backends, written once in portable SQL.

A backend subclass supplies a write :class:`~pitwall.store._db.Db` (used under one lock: one writer per
process) and :meth:`SqlStore._read`, which hands out a separate read connection so readers never wait for the
writer. Every write method is one transaction; failures roll back and leave nothing behind.

Bad input (unknown columns, missing ``t_s``, values that do not cast to the canonical dtype) raises
``ValueError``; unknown sessions raise :class:`~pitwall.store.base.UnknownSession`.
"""

from __future__ import annotations

import itertools
import json
import math
import threading
from abc import ABC, abstractmethod
from collections.abc import Iterator, Mapping, Sequence
from contextlib import AbstractContextManager, contextmanager, suppress
from dataclasses import asdict, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Final

import polars as pl
import pyarrow as pa
import pyarrow.compute as pc

from pitwall import schema
from pitwall.analysis.capabilities import capabilities_frame
from pitwall.store._db import Db
from pitwall.store._frames import prepare, rebatch, utc
from pitwall.store._tables import (
    AGENT_TRACES,
    CONVERSATIONS,
    LLM_FRICTION,
    SEQ_KEYED,
    SESSION_SCOPED,
    SESSION_SEQ,
    SESSIONS,
    TABLES,
)
from pitwall.store.base import (
    LEGACY_HASH_PREFIX,
    DuplicateContent,
    SessionExists,
    SessionImport,
    SessionRow,
    StoreError,
    UnknownSession,
)
from pitwall.store.migrations import current_version, migrate

EXPORT_COLUMNS: Final[dict[str, dict[str, pl.DataType]]] = {
    "telemetry": dict(schema.TELEMETRY),
    "telemetry_signals": dict(schema.TELEMETRY_SIGNALS),
    "signal_registry": {"session_id": pl.String(), **schema.SIGNAL_REGISTRY},
    "capabilities": dict(schema.CAPABILITIES),
}
"""Columns of each export table. Every row's ``session_id`` is the requested one, added after the read (the
registry is not kept per session)."""

EXPORT_FETCH_ROWS: Final = 16_384
"""Rows per Arrow batch an export reads from the database (whatever the batches it yields). A power of two:
DuckDB grows each Arrow buffer to the next power of two of its bytes, so a batch of 50,000 rows held 400 KB of
doubles in 512 KiB; batches of 2**14 rows fill theirs exactly. With the server's two malloc arenas
(:mod:`pitwall.arenas`) the export's peak fell 84 -> 76 MB on a 4-h session, 54 -> 50 MB on a 1-h one
(``benchmarks/store_write.py``)."""

_COMPLETE_KINDS: Final = "('out', 'flying', 'in')"

_LIST_SESSIONS: Final = f"""
SELECT {", ".join(f"s.{c}" for c in SESSIONS)}, COALESCE(l.lap_count, 0) AS lap_count, l.best_lap_s
FROM sessions s LEFT JOIN (
    SELECT session_id,
           COUNT(*) FILTER (WHERE valid AND kind IN {_COMPLETE_KINDS}) AS lap_count,
           MIN(duration_s) FILTER (WHERE valid AND kind = 'flying') AS best_lap_s
    FROM laps GROUP BY session_id
) l ON l.session_id = s.session_id
{{where}}
ORDER BY s.started_at DESC, s.session_id DESC
LIMIT ?
"""

_LEADERBOARD: Final = """
SELECT driver, car, track, track_id, best_lap_s, session_id, lap, started_at, clock_repairs FROM (
    SELECT s.driver, s.car, s.track, s.track_id, l.duration_s AS best_lap_s, l.session_id, l.lap, s.started_at,
           l.clock_repairs,
           ROW_NUMBER() OVER (
               PARTITION BY s.driver, s.car, s.track
               ORDER BY l.duration_s, s.started_at, l.session_id, l.lap
           ) AS pick
    FROM laps l JOIN sessions s ON s.session_id = l.session_id
    WHERE l.valid AND l.kind = 'flying' AND l.duration_s IS NOT NULL {where}
) best
WHERE pick = 1
ORDER BY best_lap_s, started_at, driver, car, track
LIMIT ?
"""

LEADERBOARD_COLUMNS: Final[dict[str, pl.DataType]] = {
    "rank": pl.Int64(),
    "driver": pl.String(),
    "car": pl.String(),
    "track": pl.String(),
    "track_id": pl.String(),
    "best_lap_s": pl.Float64(),
    "session_id": pl.String(),
    "lap": pl.Int32(),
    "started_at": pl.Datetime("us", "UTC"),
    "clock_repairs": pl.Int32(),
}

LAP_LIST_ORDER: Final = {
    "started_at": True,
    "session_id": False,
    "lap": False,
    "t_start_s": False,
    "method": False,
}
"""How lap listings are ordered (column → descending; nulls last): newest session first, then by lap number."""

_LAP_LIST_ORDER_SQL: Final = ", ".join(
    f"{'s' if column == 'started_at' else 'l'}.{column}{' DESC' if descending else ''} NULLS LAST"
    for column, descending in LAP_LIST_ORDER.items()
)
""":data:`LAP_LIST_ORDER` as the ``ORDER BY`` of :meth:`SqlStore.list_laps` (``s``: sessions, ``l``: laps)."""

LAP_LIST_COLUMNS: Final[dict[str, pl.DataType]] = {
    **schema.LAPS,
    "driver": pl.String(),
    "car": pl.String(),
    "track": pl.String(),
    "started_at": pl.Datetime("us", "UTC"),  # the session's start: laps are listed newest session first
}


def export_schema(table: str) -> pa.Schema:
    """The Arrow schema every backend exports ``table`` with; ``ValueError`` for a table not exported."""
    return schema.arrow_schema(_export_columns(table))


def _export_columns(table: str) -> dict[str, pl.DataType]:
    if table not in EXPORT_COLUMNS:
        raise ValueError(f"unknown export table {table!r}; expected one of {', '.join(schema.EXPORT_TABLES)}")
    return EXPORT_COLUMNS[table]


def _window_starts(first: float, last: float, rows: int, per_window: int) -> list[float]:
    """Where the time windows after the first begin (s), cutting a signal's ``rows`` samples from ``first`` to
    ``last`` s into equal spans of time, one per ``per_window`` rows: about ``per_window`` rows each at an
    even rate (an uneven rate only makes windows uneven). Empty when one window holds them all or the span is
    not finite. Rows of one time fall in one window, so the windows in order, each sorted, are the signal
    sorted."""
    windows = math.ceil(rows / per_window)
    span = last - first
    if windows < 2 or not math.isfinite(span):
        return []
    return [first + span * k / windows for k in range(1, windows)]


def _in_frame_order(batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
    """One page of telemetry sorted by ``frame_idx``. Pages are read without ``ORDER BY``: rows are stored in the
    order they were written, which is frame order, so this check passes and the rows go on as read; rows found
    out of order (e.g. deleted and written again) are sorted here, stably, within their page. The database's
    sort made reading a page ~1.8x slower and left the export up to ~20 MB more resident
    (``benchmarks/README.md``, session 6)."""
    pages = list(batches)
    if not pages:
        return
    page = pa.Table.from_batches(pages)
    del pages
    frame = page.column("frame_idx")
    if len(frame) > 1 and not pc.all(pc.less(frame[:-1], frame[1:])).as_py():
        page = page.sort_by("frame_idx")
    yield from page.to_batches()


def _stamped(
    batches: Iterator[pa.RecordBatch], target: pa.Schema, session_id: str
) -> Iterator[pa.RecordBatch]:
    """``batches`` (``target``'s other columns) with ``target``'s ``session_id`` column put in its place,
    ``session_id`` on every row. An export's session id is the one it was asked for, so it is not read from
    the database: copying the same text out of every row was ~25 % of DuckDB's read of a telemetry page.
    One column, cut per batch without a copy."""
    index = target.get_field_index("session_id")
    field = target.field(index)
    column = pa.array([], field.type)
    for batch in batches:
        if len(column) < batch.num_rows:
            column = pa.repeat(pa.scalar(session_id, field.type), batch.num_rows)
        yield batch.add_column(index, field, column.slice(0, batch.num_rows))


def _checked(
    df: pl.DataFrame, columns: Mapping[str, pl.DataType], what: str, *, complete: bool = True
) -> pl.DataFrame:
    """:func:`prepare` with input errors reported as ``ValueError`` naming the offending columns."""
    unknown = [c for c in df.columns if c not in columns]
    if unknown:
        raise ValueError(f"{what}: unknown columns {unknown}; expected a subset of {list(columns)}")
    try:
        return prepare(df, columns, complete=complete)
    except pl.exceptions.PolarsError as err:
        raise ValueError(f"{what}: values do not match the canonical dtypes: {err}") from err


def _require_values(df: pl.DataFrame, names: Sequence[str], what: str) -> None:
    missing = [name for name in names if name not in df.columns or df[name].null_count()]
    if missing:
        raise ValueError(f"{what}: {', '.join(missing)} must be set on every row")


def _telemetry_rows(frames: pl.DataFrame, *, first_idx: int) -> pl.DataFrame:
    """Wide frames as stored: canonical columns (:func:`_checked`; ``session_id`` dropped, the store sets it),
    ``frame_idx`` numbered from ``first_idx`` in row order; ``ValueError`` for bad values or a missing
    ``t_s``."""
    rows = _checked(
        frames.drop("session_id", strict=False).with_columns(
            frame_idx=pl.int_range(first_idx, first_idx + pl.len(), dtype=pl.Int64)
        ),
        schema.TELEMETRY,
        "telemetry",
        complete=False,
    )
    _require_values(rows, ["t_s"], "telemetry")
    return rows


def _logged(df: pl.DataFrame) -> pl.DataFrame:
    """``df`` without its all-null columns: an insert leaves those NULL without copying a column of nulls."""
    return df.select([name for name in df.columns if df[name].null_count() < df.height])


MANUAL_LAP_TOLERANCE_S: Final = 1.0
"""How far (s) a manual lap's times may lie outside the logged telemetry and still count as backed by it."""


def _backed(lap: Mapping[str, Any], t0: float | None, t1: float | None) -> bool:
    """Whether a manual lap fits the session's telemetry span ``t0``..``t1`` (s)."""
    if t0 is None or t1 is None:
        return False
    tol = MANUAL_LAP_TOLERANCE_S
    start, end = lap.get("t_start_s"), lap.get("t_end_s")
    if start is not None and end is not None:
        return bool(t0 - tol <= start < end <= t1 + tol)
    return bool(lap["duration_s"] <= (t1 - t0) + tol)


def _filters(**equal: str | None) -> tuple[str, tuple[Any, ...]]:
    """``WHERE a = ? AND b = ?`` over the given (non-``None``) columns, and its parameters."""
    given = {name: value for name, value in equal.items() if value is not None}
    where = " AND ".join(f"{name} = ?" for name in given)
    return (f"WHERE {where}" if where else ""), tuple(given.values())


def _one_row(values: Mapping[str, Any]) -> pl.DataFrame:
    return pl.DataFrame({name: [value] for name, value in values.items()})


def session_frame(*rows: SessionRow) -> pl.DataFrame:
    """Sessions as a frame of the stored ``sessions`` columns, one row each (``meta`` as sorted JSON text, times
    in UTC), checked like every stored row: built column by column and checked once, however many rows (the
    lake writes its ``sessions.parquet`` of every session from one call)."""
    values = [_session_values(row) for row in rows]
    names = list(values[0]) if values else list(SESSIONS)
    try:
        frame = pl.DataFrame({name: [v[name] for v in values] for name in names}, schema_overrides=SESSIONS)
    except (TypeError, pl.exceptions.PolarsError) as err:
        raise ValueError(f"session: values do not match the canonical dtypes: {err}") from err
    return _checked(frame, SESSIONS, "session")


def _session_values(row: SessionRow) -> dict[str, Any]:
    values = asdict(row)
    values["meta"] = json.dumps(row.meta, sort_keys=True, default=str)
    values["started_at"] = utc(row.started_at)
    values["ended_at"] = utc(row.ended_at) if row.ended_at is not None else None
    return values


def _session_row(values: Mapping[str, Any]) -> SessionRow:
    present = {name: value for name, value in values.items() if value is not None}
    present["meta"] = json.loads(present.get("meta") or "{}")
    return SessionRow(**present)


class SqlStore(ABC):
    """Shared storage logic over a backend's :class:`Db` primitives (see module docs)."""

    backend: str
    path: str
    seq_keyed: tuple[str, ...] = SEQ_KEYED
    """Tables whose session rows are read by the session's number (:data:`SESSION_SEQ`)."""

    def __init__(self, path: Path, writer: Db) -> None:
        self.path = str(path)
        self._writer = writer
        self._lock = threading.Lock()
        self._sessions_version = 0  # bumped after every committed write (see active_session_id)
        self._active: tuple[int, str | None] | None = None  # (version, answer) of active_session_id
        migrate(self._write)

    @abstractmethod
    def _read(self) -> AbstractContextManager[Db]:
        """A connection for reads that do not wait for the writer (returned to the backend on exit)."""

    @abstractmethod
    def close(self) -> None: ...

    @contextmanager
    def _write(self) -> Iterator[Db]:
        """The writer inside one transaction, under the process-wide write lock; rolled back on any error."""
        with self._lock:
            db = self._writer
            db.begin()
            try:
                yield db
                db.commit()
                self._sessions_version += (
                    1  # after the commit: a reader memoising meanwhile re-reads next time
                )
            except BaseException:
                with suppress(Exception):  # the original error matters, not a failed rollback
                    db.rollback()
                raise

    @property
    def schema_version(self) -> int:
        """The highest applied migration (see :mod:`pitwall.store.migrations`)."""
        with self._read() as db:
            return current_version(db)

    # sessions -------------------------------------------------------------------------------------------
    @staticmethod
    def _exists(db: Db, session_id: str) -> bool:
        return bool(db.fetch_rows("SELECT 1 FROM sessions WHERE session_id = ?", (session_id,)))

    @staticmethod
    def _seq(db: Db, session_id: str) -> int | None:
        """The session's number (``sessions.seq``; its rows' :data:`SESSION_SEQ`), ``None`` when unknown."""
        rows = db.fetch_rows("SELECT seq FROM sessions WHERE session_id = ?", (session_id,))
        return None if not rows or rows[0][0] is None else int(rows[0][0])

    @classmethod
    def _key(cls, db: Db, table: str, session_id: str) -> tuple[str, Any]:
        """The column and value that pick a session's rows of ``table``: its number where the table keeps it
        (:attr:`seq_keyed`), else its id. An unknown session's number is ``None``, which matches no row."""
        if table in cls.seq_keyed:
            return SESSION_SEQ, cls._seq(db, session_id)
        return "session_id", session_id

    def _require(self, db: Db, session_id: str) -> int:
        """The session's number; :class:`UnknownSession` when there is no such session."""
        seq = self._seq(db, session_id)
        if seq is None:
            raise UnknownSession(session_id)
        return seq

    def _insert_session(self, db: Db, row: SessionRow) -> int:
        """Insert the row with the next session number (returned); :class:`SessionExists`,
        :class:`DuplicateContent`."""
        frame = session_frame(row)
        if self._exists(db, row.session_id):
            raise SessionExists(row.session_id)
        if row.content_hash and (
            same := db.fetch_rows(
                "SELECT session_id FROM sessions WHERE content_hash = ? LIMIT 1", (row.content_hash,)
            )
        ):
            raise DuplicateContent(str(same[0][0]), row.content_hash)
        ((seq,),) = db.fetch_rows("SELECT COALESCE(MAX(seq), 0) + 1 FROM sessions")
        db.insert_frame("sessions", frame.with_columns(seq=pl.lit(seq, pl.Int64)))
        return int(seq)

    @staticmethod
    def _session(db: Db, session_id: str) -> SessionRow:
        found = db.fetch_frame(
            f"SELECT {TABLES['sessions'].column_list} FROM sessions WHERE session_id = ?",
            (session_id,),
            SESSIONS,
        )
        if found.is_empty():
            raise UnknownSession(session_id)
        return _session_row(found.row(0, named=True))

    def create_session(self, row: SessionRow) -> None:
        """Insert a session row; :class:`SessionExists` if the id is taken."""
        with self._write() as db:
            self._insert_session(db, row)

    def import_session(self, data: SessionImport) -> None:
        """Session row, telemetry, tall signals, registry entries and capabilities in one transaction.

        :class:`~pitwall.store.base.DuplicateContent` when a session with the same non-empty ``content_hash``
        exists (checked in the transaction: one of several concurrent imports of a file wins).

        ``n_frames`` is stored as the telemetry's row count and ``frame_idx`` is assigned 0…n−1 in row order.
        Tall signal names missing from the registry are registered with the session's ``source``.
        """
        row = replace(data.session, n_frames=data.telemetry.height)
        with self._write() as db:
            seq = self._insert_session(db, row)
            telemetry = _telemetry_rows(data.telemetry, first_idx=0)  # bad telemetry fails first, as ever
            self._register(db, data.registry, source=row.source)
            if isinstance(data.signals, schema.SignalChannels):
                self._insert_channels(db, row.session_id, seq, data.signals, source=row.source)
            else:
                self._insert_signals(db, row.session_id, seq, data.signals, source=row.source)
            # after the tall rows: DuckDB holds the telemetry (fewer rows than a row group) in memory until the
            # commit, and reuses for it what the tall rows' insert worked in (their row groups go to disk as
            # they fill); the other way round both were held at once (~10 MB more for an hour)
            self._write_telemetry(db, row.session_id, seq, telemetry)
            # from the rows in memory, not read back: the same rows the transaction just wrote
            self._store_capabilities(db, row.session_id, data.telemetry, data.signals)

    def get_session(self, session_id: str) -> SessionRow:
        with self._read() as db:
            return self._session(db, session_id)

    def active_session_id(self) -> str | None:
        """The newest session without ``ended_at`` (``None`` when there is none), memoised until the next write
        in this process (the server is the database's only writer while it runs): ``/health`` asks on every
        call and must not query each time."""
        version = self._sessions_version
        if self._active is None or self._active[0] != version:
            active = self.list_sessions(limit=1, active_only=True)
            self._active = (version, str(active["session_id"][0]) if active.height else None)
        return self._active[1]

    def list_sessions(self, *, limit: int = 50, active_only: bool = False) -> pl.DataFrame:
        """Sessions newest first (``started_at``) with derived columns:

        ``lap_count``: valid complete laps (``valid`` and kind out, flying or in; incomplete laps excluded);
        ``best_lap_s``: fastest valid flying lap, seconds, null when none. ``active_only``: ``ended_at`` null.
        """
        where = "WHERE s.ended_at IS NULL" if active_only else ""
        columns = {**SESSIONS, "lap_count": pl.Int64(), "best_lap_s": pl.Float64()}
        with self._read() as db:
            return db.fetch_frame(_LIST_SESSIONS.format(where=where), (limit,), columns)

    def end_session(self, session_id: str, *, at: datetime | None = None) -> SessionRow:
        """Stamp ``ended_at`` (default now); idempotent: the first stamp is kept."""
        stamp = utc(at) if at is not None else datetime.now(UTC)
        with self._write() as db:
            self._require(db, session_id)
            db.execute(
                "UPDATE sessions SET ended_at = COALESCE(ended_at, ?) WHERE session_id = ?",
                (stamp, session_id),
            )
            return self._session(db, session_id)

    def update_session(self, session_id: str, **fields: Any) -> None:
        """Update columns of a session row; ``meta`` replaces the whole JSON object."""
        if "session_id" in fields:
            raise ValueError("session_id cannot be changed")
        if "meta" in fields:
            fields["meta"] = json.dumps(fields["meta"], sort_keys=True, default=str)
        values = {name: utc(v) if isinstance(v, datetime) else v for name, v in fields.items()}
        typed = _checked(
            _one_row(values), {name: SESSIONS[name] for name in values if name in SESSIONS}, "session"
        )
        with self._write() as db:
            self._require(db, session_id)
            if values:
                assignments = ", ".join(f"{name} = ?" for name in typed.columns)
                db.execute(
                    f"UPDATE sessions SET {assignments} WHERE session_id = ?", (*typed.row(0), session_id)
                )

    def find_session_by_hash(self, content_hash: str) -> str | None:
        if not content_hash:
            return None
        with self._read() as db:
            rows = db.fetch_rows(
                "SELECT session_id FROM sessions WHERE content_hash = ? ORDER BY started_at LIMIT 1",
                (content_hash,),
            )
        return str(rows[0][0]) if rows else None

    def holds_legacy_hashes(self) -> bool:
        with self._read() as db:
            return bool(
                db.fetch_rows(
                    "SELECT 1 FROM sessions WHERE content_hash LIKE ? LIMIT 1", (LEGACY_HASH_PREFIX + "%",)
                )
            )

    def delete_session(self, session_id: str) -> None:
        """Remove a session and its rows in every session-scoped table."""
        with self._write() as db:
            seq = self._require(db, session_id)
            for table in SESSION_SCOPED:
                key, value = (SESSION_SEQ, seq) if table in self.seq_keyed else ("session_id", session_id)
                db.execute(f"DELETE FROM {table} WHERE {key} = ?", (value,))
            db.execute("DELETE FROM sessions WHERE session_id = ?", (session_id,))

    # telemetry --------------------------------------------------------------------------------------------
    def _insert_telemetry(
        self, db: Db, session_id: str, seq: int, frames: pl.DataFrame, *, first_idx: int
    ) -> pl.Series:
        if frames.height == 0:
            return pl.Series("frame_idx", [], dtype=pl.Int64)
        rows = _telemetry_rows(frames, first_idx=first_idx)
        self._write_telemetry(db, session_id, seq, rows)
        return rows["frame_idx"]

    @staticmethod
    def _write_telemetry(db: Db, session_id: str, seq: int, rows: pl.DataFrame) -> None:
        """Insert rows checked by :func:`_telemetry_rows` (their all-null columns left out)."""
        db.insert_frame("telemetry", _logged(rows), {"session_id": session_id, SESSION_SEQ: seq})

    def append_telemetry(
        self, session_id: str, frames: pl.DataFrame, *, signals: pl.DataFrame | None = None
    ) -> pl.Series:
        """Append wide frames (any subset of canonical columns; ``t_s`` required on every row) and, in the same
        transaction, the tall rows ``signals`` (``signal_name``, ``t_s`` s, ``value``; as :meth:`append_signals`).

        Assigns ``frame_idx`` continuing from the session's largest; ``session_id``/``frame_idx`` given in
        ``frames`` are overwritten. Adds the row count to the session's ``n_frames``. Returns the ``frame_idx``.
        """
        with self._write() as db:
            seq = self._require(db, session_id)
            ((last,),) = db.fetch_rows(
                f"SELECT MAX(frame_idx) FROM telemetry WHERE {SESSION_SEQ} = ?", (seq,)
            )
            assigned = self._insert_telemetry(
                db, session_id, seq, frames, first_idx=0 if last is None else last + 1
            )
            db.execute(
                "UPDATE sessions SET n_frames = COALESCE(n_frames, 0) + ? WHERE session_id = ?",
                (len(assigned), session_id),
            )
            if signals is not None:
                self._insert_signals(db, session_id, seq, signals, source="api")
            return assigned

    @classmethod
    def _telemetry(
        cls, db: Db, session_id: str, columns: list[str], t_from: float | None, t_to: float | None
    ) -> pl.DataFrame:
        key, value = cls._key(db, "telemetry", session_id)
        where, params = [f"{key} = ?"], list[Any]([value])
        if t_from is not None:
            where.append("t_s >= ?")
            params.append(t_from)
        if t_to is not None:
            where.append("t_s <= ?")
            params.append(t_to)
        types = {name: schema.TELEMETRY[name] for name in columns}
        sql = f"SELECT {', '.join(columns)} FROM telemetry WHERE {' AND '.join(where)}"
        if "frame_idx" not in columns:
            return db.fetch_frame(sql + " ORDER BY frame_idx", params, types)
        frame = db.fetch_frame(sql, params, types)  # rows come in insertion order, almost always frame order:
        return frame if frame["frame_idx"].is_sorted() else frame.sort("frame_idx")  # no sort then

    def read_telemetry(
        self,
        session_id: str,
        *,
        columns: list[str] | None = None,
        t_from: float | None = None,
        t_to: float | None = None,
    ) -> pl.DataFrame:
        """Telemetry ordered by ``frame_idx``, canonical dtypes; ``columns`` selects (in that order);
        ``t_from``/``t_to`` bound ``t_s`` (seconds, inclusive). Empty frame for an unknown session."""
        wanted = list(dict.fromkeys(columns)) if columns is not None else list(schema.TELEMETRY)
        unknown = [name for name in wanted if name not in schema.TELEMETRY]
        if unknown:
            raise ValueError(f"unknown telemetry columns {unknown}")
        with self._read() as db:
            return self._telemetry(db, session_id, wanted, t_from, t_to)

    def count_telemetry(self, session_id: str) -> int:
        with self._read() as db:
            key, value = self._key(db, "telemetry", session_id)
            ((count,),) = db.fetch_rows(f"SELECT COUNT(*) FROM telemetry WHERE {key} = ?", (value,))
        return int(count)

    def _insert_signals(self, db: Db, session_id: str, seq: int, rows: pl.DataFrame, *, source: str) -> int:
        if rows.height == 0:
            return 0
        tall = _checked(
            rows.drop("session_id", strict=False), schema.TELEMETRY_SIGNALS, "signals", complete=False
        )
        _require_values(tall, ["signal_name", "t_s"], "signals")
        self._register(db, tall.select(pl.col("signal_name").unique(maintain_order=True)), source=source)
        db.insert_frame("telemetry_signals", _logged(tall), {"session_id": session_id, SESSION_SEQ: seq})
        return tall.height

    def _insert_channels(
        self, db: Db, session_id: str, seq: int, channels: schema.SignalChannels, *, source: str
    ) -> None:
        """:meth:`_insert_signals` of the tall rows ``channels`` stand for, from the channels, their floats
        normalised as :func:`prepare` does (-0.0 → 0.0; only a channel holding one is copied). Channels holding a
        NaN go as their tall rows: that row is kept with a NULL value, which channels cannot hold."""
        if any(column.is_nan().any() for column in (channels.t_s, *channels.values.iter_columns())):
            self._insert_signals(db, session_id, seq, channels.rows(), source=source)
            return
        t_s = prepare(channels.t_s.to_frame("t_s"), {"t_s": pl.Float64()}).get_column("t_s")
        values = prepare(channels.values, dict.fromkeys(channels.values.columns, pl.Float64()))
        names = pl.DataFrame({"signal_name": channels.names()}, schema={"signal_name": pl.String()})
        self._register(db, names, source=source)
        constants = {"session_id": session_id, SESSION_SEQ: seq}
        db.insert_channels("telemetry_signals", schema.SignalChannels(t_s, values), constants)

    def append_signals(self, session_id: str, rows: pl.DataFrame) -> int:
        """Append tall rows (``signal_name``, ``t_s`` s, ``value``); unknown names are registered (source
        ``api``, unit ``""``). Returns the number of rows appended."""
        with self._write() as db:
            seq = self._require(db, session_id)
            return self._insert_signals(db, session_id, seq, rows, source="api")

    def read_signals(self, session_id: str, names: list[str] | None = None) -> pl.DataFrame:
        """Tall rows ordered by ``signal_name``, ``t_s``; ``names`` filters (an empty list selects none)."""
        with self._read() as db:
            key, value = self._key(db, "telemetry_signals", session_id)
            where = f"{key} = ?"
            if names is not None:
                where += f" AND signal_name IN ({', '.join('?' * len(names))})" if names else " AND FALSE"
            sql = f"SELECT {TABLES['telemetry_signals'].column_list} FROM telemetry_signals WHERE {where} ORDER BY signal_name, t_s"
            return db.fetch_frame(sql, [value, *(names or [])], schema.TELEMETRY_SIGNALS)

    def append_video_frames(self, session_id: str, rows: pl.DataFrame) -> int:
        """Append video frame metadata (:data:`pitwall.schema.VIDEO_FRAMES`; ``t_s`` required)."""
        if rows.height == 0:
            return 0
        frames = _checked(
            rows.with_columns(session_id=pl.lit(session_id)), schema.VIDEO_FRAMES, "video_frames"
        )
        _require_values(frames, ["t_s"], "video_frames")
        with self._write() as db:
            self._require(db, session_id)
            db.insert_frame("video_frames", frames)
        return frames.height

    def read_video_frames(self, session_id: str) -> pl.DataFrame:
        sql = f"SELECT {TABLES['video_frames'].column_list} FROM video_frames WHERE session_id = ? ORDER BY t_s, frame_no"
        with self._read() as db:
            return db.fetch_frame(sql, (session_id,), schema.VIDEO_FRAMES)

    # registry and capabilities ------------------------------------------------------------------------------
    def _register(self, db: Db, rows: pl.DataFrame, *, source: str) -> int:
        if rows.height == 0:
            return 0
        known = {name for (name,) in db.fetch_rows("SELECT signal_name FROM signal_registry")}
        if "signal_name" in rows.columns and known.issuperset(rows["signal_name"].unique().to_list()):
            return 0  # the usual case on every live write: nothing to check or insert
        entries = _checked(rows, schema.SIGNAL_REGISTRY, "signal_registry").with_columns(
            pl.col("unit").fill_null(""),
            pl.col("source").fill_null(source),
            pl.col("description").fill_null(""),
        )
        _require_values(entries, ["signal_name"], "signal_registry")
        new = entries.unique("signal_name", keep="first", maintain_order=True).filter(
            ~pl.col("signal_name").is_in(list(known))
        )
        db.insert_frame("signal_registry", new)
        return new.height

    def list_registry(self) -> pl.DataFrame:
        sql = f"SELECT {TABLES['signal_registry'].column_list} FROM signal_registry ORDER BY signal_name"
        with self._read() as db:
            return db.fetch_frame(sql, (), schema.SIGNAL_REGISTRY)

    def register_signals(self, rows: pl.DataFrame) -> int:
        """Insert registry rows whose ``signal_name`` is new (null ``source`` → ``api``, null unit → ``""``);
        returns how many were added."""
        with self._write() as db:
            return self._register(db, rows, source="api")

    def get_capabilities(self, session_id: str) -> pl.DataFrame:
        sql = f"SELECT {TABLES['capabilities'].column_list} FROM capabilities WHERE session_id = ? ORDER BY signal_name"
        with self._read() as db:
            return db.fetch_frame(sql, (session_id,), schema.CAPABILITIES)

    def _recompute(self, db: Db, session_id: str) -> pl.DataFrame:
        telemetry = self._telemetry(db, session_id, list(schema.TELEMETRY), None, None)
        key, value = self._key(db, "telemetry_signals", session_id)
        signals = db.fetch_frame(
            f"SELECT {TABLES['telemetry_signals'].column_list} FROM telemetry_signals WHERE {key} = ?",
            (value,),
            schema.TELEMETRY_SIGNALS,
        )
        return self._store_capabilities(db, session_id, telemetry, signals)

    @staticmethod
    def _store_capabilities(
        db: Db, session_id: str, telemetry: pl.DataFrame, signals: schema.TallSink
    ) -> pl.DataFrame:
        """Replace the session's capabilities with those of its rows ``telemetry`` and ``signals``."""
        capabilities = capabilities_frame(session_id, telemetry, signals).collect()
        db.execute("DELETE FROM capabilities WHERE session_id = ?", (session_id,))
        db.insert_frame("capabilities", capabilities)
        return capabilities

    def recompute_capabilities(self, session_id: str) -> pl.DataFrame:
        """Rebuild the session's capabilities (:func:`pitwall.analysis.capabilities.capabilities_frame`)."""
        with self._write() as db:
            self._require(db, session_id)
            return self._recompute(db, session_id)

    # laps ---------------------------------------------------------------------------------------------------
    def replace_laps(self, session_id: str, laps: pl.DataFrame) -> None:
        """Replace the session's computed laps (every lap whose method is not ``manual``)."""
        rows = _checked(laps.with_columns(session_id=pl.lit(session_id)), schema.LAPS, "laps")
        _require_values(rows, ["lap"], "laps")
        with self._write() as db:
            self._require(db, session_id)
            db.execute(
                "DELETE FROM laps WHERE session_id = ? AND COALESCE(method, '') <> 'manual'", (session_id,)
            )
            db.insert_frame("laps", rows)

    def list_laps(self, *, session_id: str | None = None, limit: int = 20) -> pl.DataFrame:
        """Laps (:data:`pitwall.schema.LAPS` + the session's driver, car, track and start) in
        :data:`LAP_LIST_ORDER`."""
        where, params = ("WHERE l.session_id = ?", [session_id, limit]) if session_id else ("", [limit])
        laps = ", ".join(f"l.{name}" for name in schema.LAPS)
        sql = (
            f"SELECT {laps}, s.driver, s.car, s.track, s.started_at FROM laps l "
            f"JOIN sessions s ON s.session_id = l.session_id {where} "
            f"ORDER BY {_LAP_LIST_ORDER_SQL} LIMIT ?"
        )
        with self._read() as db:
            return db.fetch_frame(sql, params, LAP_LIST_COLUMNS)

    def add_lap(self, session_id: str, lap: dict[str, Any]) -> dict[str, Any]:
        """Insert one manual lap (method ``manual``; kind defaults to ``flying``, valid to true).

        Needs ``duration_s`` (s, > 0) or ``t_start_s`` and ``t_end_s``; ``lap`` defaults to the session's next
        lap number. A lap the session's telemetry does not cover (its times outside the logged span, or a
        duration longer than it; no telemetry at all) is stored with ``valid`` false and the ``reason``, so it
        never reaches the leaderboard. Returns the stored row.
        """
        values: dict[str, Any] = {
            "kind": "flying",
            "valid": True,
            **lap,
            "session_id": session_id,
            "method": "manual",
        }
        if values.get("duration_s") is None and None not in (values.get("t_start_s"), values.get("t_end_s")):
            values["duration_s"] = values["t_end_s"] - values["t_start_s"]
        row = _checked(_one_row(values), schema.LAPS, "lap")
        duration = row["duration_s"][0]
        if duration is None or duration <= 0:
            raise ValueError("lap: needs a positive duration_s, or t_start_s and t_end_s")
        with self._write() as db:
            seq = self._require(db, session_id)
            ((t0, t1),) = db.fetch_rows(
                f"SELECT MIN(t_s), MAX(t_s) FROM telemetry WHERE {SESSION_SEQ} = ?", (seq,)
            )
            if not _backed(row.row(0, named=True), t0, t1):
                logged = 0.0 if t0 is None else t1 - t0
                reason = f"manual lap not backed by the session's telemetry ({logged:.1f} s logged)"
                row = row.with_columns(valid=pl.lit(False), reason=pl.lit(reason))
            if row["lap"][0] is None:
                ((last,),) = db.fetch_rows("SELECT MAX(lap) FROM laps WHERE session_id = ?", (session_id,))
                row = row.with_columns(lap=pl.lit(1 if last is None else last + 1, dtype=pl.Int32))
            db.insert_frame("laps", row)
        return row.row(0, named=True)

    def leaderboard(self, *, track: str | None = None, limit: int = 50) -> pl.DataFrame:
        """Best valid flying lap per (driver, car, track), fastest first, with ``rank`` from 1.

        ``track`` matches the session's track name or track id, case-insensitively.
        """
        where, params = "", list[Any]([limit])
        if track:
            where = "AND (lower(s.track) = lower(?) OR lower(s.track_id) = lower(?))"
            params = [track, track, limit]
        board = {name: dtype for name, dtype in LEADERBOARD_COLUMNS.items() if name != "rank"}
        with self._read() as db:
            best = db.fetch_frame(_LEADERBOARD.format(where=where), params, board)
        return best.with_row_index("rank", offset=1).with_columns(pl.col("rank").cast(pl.Int64))

    # notes, diagnostics, tokens ------------------------------------------------------------------------------
    def add_coaching_note(self, session_id: str, text: str, source: str, payload: dict[str, Any]) -> int:
        """Store a coaching note (payload as JSON); returns its id."""
        with self._write() as db:
            self._require(db, session_id)
            ((note_id,),) = db.fetch_rows(
                "INSERT INTO coaching_notes (session_id, created_at, text, source, payload) "
                "VALUES (?, ?, ?, ?, ?) RETURNING id",
                (
                    session_id,
                    datetime.now(UTC),
                    text,
                    source,
                    json.dumps(payload, sort_keys=True, default=str),
                ),
            )
        return int(note_id)

    def list_coaching_notes(self, session_id: str, *, limit: int = 50) -> pl.DataFrame:
        """Newest first; ``payload`` is the JSON text."""
        table = TABLES["coaching_notes"]
        sql = f"SELECT id, {table.column_list} FROM coaching_notes WHERE session_id = ? ORDER BY created_at DESC, id DESC LIMIT ?"
        with self._read() as db:
            return db.fetch_frame(sql, (session_id, limit), table.read_columns)

    def add_llm_friction(self, row: dict[str, Any]) -> None:
        """Log one LLM call outcome (columns of ``LLM_FRICTION``; ``created_at`` defaults to now)."""
        values = {"created_at": datetime.now(UTC), **row}
        if isinstance(values["created_at"], datetime):
            values["created_at"] = utc(values["created_at"])
        frame = _checked(_one_row(values), LLM_FRICTION, "llm_friction")
        with self._write() as db:
            db.insert_frame("llm_friction", frame)

    def list_llm_friction(self, *, limit: int = 100) -> pl.DataFrame:
        table = TABLES["llm_friction"]
        sql = f"SELECT id, {table.column_list} FROM llm_friction ORDER BY created_at DESC, id DESC LIMIT ?"
        with self._read() as db:
            return db.fetch_frame(sql, (limit,), table.read_columns)

    def add_conversation_turns(self, rows: pl.DataFrame) -> int:
        """Append Q&A turns (columns of ``CONVERSATIONS``: ``session_id``, ``driver_id``, ``qa_key``, ``turn``,
        ``role``, ``text``, ``emotion``, ``created_at``) in one transaction; returns how many."""
        frame = _checked(rows, CONVERSATIONS, "conversations")
        _require_values(frame, ("created_at", "role", "text"), "conversations")
        with self._write() as db:
            db.insert_frame("conversations", frame)
        return frame.height

    def list_conversations(
        self, *, session_id: str | None = None, driver_id: str | None = None, limit: int = 200
    ) -> pl.DataFrame:
        """Stored turns of a session and/or a driver, oldest first (the ``limit`` newest)."""
        table = TABLES["conversations"]
        where, params = _filters(session_id=session_id, driver_id=driver_id)
        sql = (
            f"SELECT * FROM (SELECT id, {table.column_list} FROM conversations {where} "
            "ORDER BY created_at DESC, id DESC LIMIT ?) newest ORDER BY created_at, id"
        )
        with self._read() as db:
            return db.fetch_frame(sql, (*params, limit), table.read_columns)

    def add_agent_trace(self, row: dict[str, Any]) -> None:
        """Log one step of the coach's router or tools (columns of ``AGENT_TRACES``; ``payload`` a dict,
        ``created_at`` defaults to now)."""
        values = {"created_at": datetime.now(UTC), **row}
        values["created_at"] = utc(values["created_at"])
        values["payload"] = json.dumps(values.get("payload") or {}, sort_keys=True, default=str)
        frame = _checked(_one_row(values), AGENT_TRACES, "agent_traces")
        with self._write() as db:
            db.insert_frame("agent_traces", frame)

    def list_agent_traces(
        self, *, session_id: str | None = None, since: datetime | None = None, limit: int = 200
    ) -> pl.DataFrame:
        """Trace rows newest first, only those after ``since`` when given; ``payload`` is the JSON text."""
        table = TABLES["agent_traces"]
        where, params = _filters(session_id=session_id)
        if since is not None:
            where = f"{where} {'AND' if where else 'WHERE'} created_at > ?"
            params = (*params, utc(since))
        sql = f"SELECT id, {table.column_list} FROM agent_traces {where} ORDER BY created_at DESC, id DESC LIMIT ?"
        with self._read() as db:
            return db.fetch_frame(sql, (*params, limit), table.read_columns)

    def add_spectator_token(
        self, token_hash: str, expires_at: datetime, label: str, *, session_id: str | None = None
    ) -> None:
        """Store a token's hash (limited to ``session_id`` when given: :class:`UnknownSession` if absent);
        :class:`StoreError` if that hash exists."""
        with self._write() as db:
            if session_id is not None:
                self._require(db, session_id)
            if db.fetch_rows("SELECT 1 FROM spectator_tokens WHERE token_hash = ?", (token_hash,)):
                raise StoreError("spectator token already exists")
            db.execute(
                "INSERT INTO spectator_tokens (token_hash, session_id, label, created_at, expires_at, revoked) "
                "VALUES (?, ?, ?, ?, ?, FALSE)",
                (token_hash, session_id, label, datetime.now(UTC), utc(expires_at)),
            )

    def spectator_token_session(self, token_hash: str) -> str | None:
        """The session a token is limited to (``None``: unlimited or unknown token)."""
        with self._read() as db:
            rows = db.fetch_rows(
                "SELECT session_id FROM spectator_tokens WHERE token_hash = ?", (token_hash,)
            )
        return None if not rows or rows[0][0] is None else str(rows[0][0])

    def spectator_token_valid(self, token_hash: str, *, now: datetime) -> bool:
        """True when the token exists, is not revoked and ``expires_at`` is after ``now``."""
        with self._read() as db:
            rows = db.fetch_rows(
                "SELECT 1 FROM spectator_tokens WHERE token_hash = ? AND NOT revoked AND expires_at > ?",
                (token_hash, utc(now)),
            )
        return bool(rows)

    def revoke_spectator_token(self, token_hash: str) -> bool:
        """Revoke a token; False when no such token exists or it was already revoked."""
        with self._write() as db:
            if not db.fetch_rows(
                "SELECT 1 FROM spectator_tokens WHERE token_hash = ? AND NOT revoked", (token_hash,)
            ):
                return False
            db.execute("UPDATE spectator_tokens SET revoked = TRUE WHERE token_hash = ?", (token_hash,))
            return True

    # export -------------------------------------------------------------------------------------------------
    @classmethod
    def _export_source(cls, db: Db, session_id: str, table: str) -> tuple[str, list[Any]]:
        """(FROM clause, params) of a session's rows of an export table (the whole registry)."""
        _export_columns(table)
        if table == "signal_registry":
            return "FROM signal_registry", []
        key, value = cls._key(db, table, session_id)
        return f"FROM {table} WHERE {key} = ?", [value]

    def export_batches(self, session_id: str, table: str, *, batch_rows: int = 50_000) -> Iterator[pa.Table]:
        """Stream ``table`` for a session as Arrow tables of exactly ``batch_rows`` rows (last one shorter),
        each made of the pages read without a copy (:func:`rebatch`), with :func:`export_schema`'s schema on
        every backend, from one read snapshot, in a fixed order (telemetry by ``frame_idx``; signals by name,
        time, value; registry and capabilities by name).
        ``ValueError`` (raised immediately) for a table that is not exported."""
        _export_columns(table)
        return self._stream(session_id, table, batch_rows)

    def _stream(self, session_id: str, table: str, batch_rows: int) -> Iterator[pa.Table]:
        with self._read() as db:
            db.begin_read()
            try:
                pages = self._export_pages(db, session_id, table, batch_rows)
                yield from rebatch(_stamped(pages, export_schema(table), session_id), batch_rows)
            finally:
                db.rollback()

    @classmethod
    def _export_pages(cls, db: Db, session_id: str, table: str, batch_rows: int) -> Iterator[pa.RecordBatch]:
        """The export's rows in order, without their session id (:func:`_stamped` adds it), as batches of at
        most :data:`EXPORT_FETCH_ROWS` rows, fetched so that nothing spans more than a page (constant memory in
        the database too): telemetry in ``frame_idx`` ranges of ``batch_rows`` (the store assigns frame_idx
        from 0 without gaps; a gap only makes a page shorter), each put in order by :func:`_in_frame_order`;
        tall signals one signal at a time, in time windows of about ``batch_rows`` rows (:func:`_window_starts`;
        the database sorts a window, not a whole signal); the registry and capabilities are small."""
        columns = {name: dtype for name, dtype in _export_columns(table).items() if name != "session_id"}
        select = ", ".join(columns)
        source, params = cls._export_source(db, session_id, table)
        if table == "telemetry":
            ((top,),) = db.fetch_rows(f"SELECT MAX(frame_idx) {source}", params)
            page_sql = f"SELECT {select} {source} AND frame_idx >= ? AND frame_idx < ?"
            for low in range(0, -1 if top is None else top + 1, batch_rows):
                yield from _in_frame_order(
                    db.fetch_arrow(page_sql, [*params, low, low + batch_rows], columns, EXPORT_FETCH_ROWS)
                )
        elif table == "telemetry_signals":
            spans = db.fetch_rows(
                f"SELECT signal_name, MIN(t_s), MAX(t_s), COUNT(*) {source} GROUP BY signal_name ORDER BY signal_name",
                params,
            )
            window = f"SELECT {select} {source} AND signal_name = ? AND t_s >= ?"
            order = "ORDER BY t_s, value NULLS LAST"
            for name, first, last, rows in spans:
                starts = [first, *_window_starts(first, last, rows, batch_rows)]
                for low, high in itertools.pairwise(starts):
                    yield from db.fetch_arrow(
                        f"{window} AND t_s < ? {order}",
                        [*params, name, low, high],
                        columns,
                        EXPORT_FETCH_ROWS,
                    )
                yield from db.fetch_arrow(
                    f"{window} {order}", [*params, name, starts[-1]], columns, EXPORT_FETCH_ROWS
                )
        else:
            yield from db.fetch_arrow(
                f"SELECT {select} {source} ORDER BY signal_name", params, columns, EXPORT_FETCH_ROWS
            )

    def export_row_count(self, session_id: str, table: str) -> int:
        """Rows :meth:`export_batches` would yield (the whole registry for ``signal_registry``)."""
        with self._read() as db:
            source, params = self._export_source(db, session_id, table)
            ((count,),) = db.fetch_rows(f"SELECT COUNT(*) {source}", params)
        return int(count)
