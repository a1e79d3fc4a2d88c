"""The storage protocol every backend implements with identical behaviour.

Backends: :mod:`pitwall.store.duckdb` (default, one ``.duckdb`` file) and :mod:`pitwall.store.sqlite`
(stdlib ``sqlite3``; for devices where DuckDB does not build). Tabular data crosses this boundary as Polars
DataFrames whose columns follow :mod:`pitwall.schema`; bulk writes go through Arrow.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Final, Protocol

import polars as pl
import pyarrow as pa

from pitwall.schema import TallSink

LEGACY_HASH_PREFIX: Final = "v1:"
"""Marks a ``content_hash`` stored before migration 6, when :func:`pitwall.importer.recording_hash` still took
in the computed distance (whose last bits depend on the CPU and numpy): such a session is recognised by its
legacy hash on re-import and then given the current one."""


class StoreError(Exception):
    """Base class of storage errors."""


class SessionExists(StoreError):
    """A session with this id already has rows (HTTP 409)."""


class DuplicateContent(StoreError):
    """An import of content already stored (same ``content_hash``); ``session_id`` is the existing session.
    Checked inside the import's write transaction, so concurrent imports of one file make one session."""

    def __init__(self, session_id: str, content_hash: str) -> None:
        super().__init__(f"already imported as session {session_id} (sha256 {content_hash[:12]}…)")
        self.session_id = session_id


class UnknownSession(StoreError):
    """No session with this id (HTTP 404)."""


class DatabaseLocked(StoreError):
    """The database file is held by another process (e.g. a running server)."""


class ReadOnlyStore(StoreError):
    """A write to a store opened read-only (a parquet lake, :mod:`pitwall.store.lake`) (HTTP 409)."""


@dataclass
class SessionRow:
    """One row of the ``sessions`` table. Times are timezone-aware UTC."""

    session_id: str
    started_at: datetime
    driver: str = ""
    driver_level: str = ""
    track: str = ""  # display name, e.g. "Sonoma Raceway"
    track_id: str = ""  # library id, e.g. "sonoma"
    car: str = ""
    note: str = ""
    source: str = "api"  # api | vbo | live | simulator | replay
    vbo_source: str = ""  # file name of an imported VBO
    content_hash: str = ""  # pitwall.importer.recording_hash of an imported file, for idempotent imports
    ended_at: datetime | None = None
    n_frames: int = 0
    duration_s: float = 0.0
    distance_m: float = 0.0
    meta: dict[str, Any] = field(default_factory=dict)  # reader facts (VBO sections, gates, device…)


@dataclass
class SessionImport:
    """Everything one import writes, atomically: the session row and its tables (frames of canonical columns,
    any subset, with canonical dtypes or castable to them; no ``session_id``: the store stamps every row)."""

    session: SessionRow
    telemetry: pl.DataFrame
    signals: TallSink  # tall rows, or channels that stand for them (stored as their rows)
    registry: pl.DataFrame  # signal_registry rows to upsert (new names only)


class Store(Protocol):
    """Storage API. Every method is safe to call from a worker thread; one writer per process."""

    backend: str  # "duckdb" | "sqlite"
    path: str

    def close(self) -> None: ...

    @property
    def schema_version(self) -> int:
        """The highest applied migration (``pitwall.store.migrations``)."""
        ...

    # sessions ---------------------------------------------------------------------------------------
    def create_session(self, row: SessionRow) -> None:
        """Insert a session row; :class:`SessionExists` if the id is taken."""

    def import_session(self, data: SessionImport) -> None:
        """Write session row, telemetry, tall signals and registry entries in one transaction.

        Raises :class:`SessionExists` if the id already has a row; on any error nothing is left behind.
        Recomputes the session's capabilities.
        """

    def get_session(self, session_id: str) -> SessionRow:
        """The session row; :class:`UnknownSession` if absent."""

    def list_sessions(self, *, limit: int = 50, active_only: bool = False) -> pl.DataFrame:
        """Sessions newest first with derived ``lap_count`` and ``best_lap_s`` (null when no laps)."""

    def active_session_id(self) -> str | None:
        """The newest session without ``ended_at`` (``None``: none), without a query when nothing changed."""

    def end_session(self, session_id: str, *, at: datetime | None = None) -> SessionRow:
        """Stamp ``ended_at`` (once; later calls keep the first stamp). :class:`UnknownSession` if absent."""

    def update_session(self, session_id: str, **fields: Any) -> None:
        """Update columns of a session row (track, track_id, n_frames, duration_s, distance_m, meta…)."""

    def find_session_by_hash(self, content_hash: str) -> str | None:
        """The id of a session imported from a file with this sha256, if any."""

    def holds_legacy_hashes(self) -> bool:
        """Does a session still carry a hash stored before migration 6 (:data:`LEGACY_HASH_PREFIX`)?"""

    def delete_session(self, session_id: str) -> None:
        """Remove a session and every row that belongs to it."""

    # telemetry ----------------------------------------------------------------------------------------
    def append_telemetry(
        self, session_id: str, frames: pl.DataFrame, *, signals: pl.DataFrame | None = None
    ) -> pl.Series:
        """Append wide frames (any subset of canonical columns + ``t_s``) and, in the same transaction, the
        tall rows ``signals`` (as :meth:`append_signals`); assigns and returns ``frame_idx``."""

    def read_telemetry(
        self,
        session_id: str,
        *,
        columns: list[str] | None = None,
        t_from: float | None = None,
        t_to: float | None = None,
    ) -> pl.DataFrame:
        """Telemetry ordered by ``frame_idx`` with canonical dtypes (empty frame if none)."""

    def count_telemetry(self, session_id: str) -> int: ...

    def append_signals(self, session_id: str, rows: pl.DataFrame) -> int:
        """Append tall rows (signal_name, t_s, value); registers unknown names (source ``api``)."""

    def read_signals(self, session_id: str, names: list[str] | None = None) -> pl.DataFrame: ...

    def append_video_frames(self, session_id: str, rows: pl.DataFrame) -> int: ...

    def read_video_frames(self, session_id: str) -> pl.DataFrame: ...

    # registry and capabilities ------------------------------------------------------------------------
    def list_registry(self) -> pl.DataFrame: ...

    def register_signals(self, rows: pl.DataFrame) -> int:
        """Insert registry rows whose ``signal_name`` is new; returns how many were added."""

    def get_capabilities(self, session_id: str) -> pl.DataFrame: ...

    def recompute_capabilities(self, session_id: str) -> pl.DataFrame:
        """Rebuild per-signal sample count, mean Hz, useful flag and enabled coaches for a session."""

    # laps ---------------------------------------------------------------------------------------------
    def replace_laps(self, session_id: str, laps: pl.DataFrame) -> None:
        """Replace the session's computed laps (``schema.LAPS`` columns)."""

    def list_laps(self, *, session_id: str | None = None, limit: int = 20) -> pl.DataFrame: ...

    def add_lap(self, session_id: str, lap: dict[str, Any]) -> dict[str, Any]:
        """Insert one manual lap row (method ``manual``); returns it as stored."""

    def leaderboard(self, *, track: str | None = None, limit: int = 50) -> pl.DataFrame:
        """Best valid lap per (driver, car, track), fastest first."""

    # notes, diagnostics, tokens ---------------------------------------------------------------------
    def add_coaching_note(self, session_id: str, text: str, source: str, payload: dict[str, Any]) -> int: ...

    def list_coaching_notes(self, session_id: str, *, limit: int = 50) -> pl.DataFrame: ...

    def add_llm_friction(self, row: dict[str, Any]) -> None: ...

    def list_llm_friction(self, *, limit: int = 100) -> pl.DataFrame: ...

    def add_conversation_turns(self, rows: pl.DataFrame) -> int:
        """Append Q&A turns (``CONVERSATIONS`` columns) atomically; returns how many."""

    def list_conversations(
        self, *, session_id: str | None = None, driver_id: str | None = None, limit: int = 200
    ) -> pl.DataFrame:
        """Stored turns of a session and/or driver, oldest first (the ``limit`` newest)."""

    def add_agent_trace(self, row: dict[str, Any]) -> None:
        """Log one step of the coach's router or tools (``AGENT_TRACES`` columns, ``payload`` a dict)."""

    def list_agent_traces(
        self, *, session_id: str | None = None, since: datetime | None = None, limit: int = 200
    ) -> pl.DataFrame:
        """Trace rows newest first, after ``since`` when given."""

    def add_spectator_token(
        self, token_hash: str, expires_at: datetime, label: str, *, session_id: str | None = None
    ) -> None: ...

    def spectator_token_session(self, token_hash: str) -> str | None:
        """The session a token is limited to (``None``: unlimited or unknown token)."""

    def spectator_token_valid(self, token_hash: str, *, now: datetime) -> bool: ...

    def revoke_spectator_token(self, token_hash: str) -> bool: ...

    # export -------------------------------------------------------------------------------------------
    def export_batches(self, session_id: str, table: str, *, batch_rows: int = 50_000) -> Iterator[pa.Table]:
        """Stream one of :data:`pitwall.schema.EXPORT_TABLES` for a session as Arrow tables of ``batch_rows``
        rows whose schema is identical on every backend (``schema.arrow_schema``)."""

    def export_row_count(self, session_id: str, table: str) -> int: ...
