"""Every stored table, declared once with canonical Polars dtypes and rendered to each backend's DDL.

Column dtypes come from :mod:`pitwall.schema` where the contract defines them; the tables that only the store
knows (sessions, notes, diagnostics, tokens) are declared here. A :class:`Dialect` maps each dtype to a SQL type:
DuckDB keeps native ``BOOLEAN`` / ``TIMESTAMPTZ``; SQLite stores booleans as 0/1 ``INTEGER`` and timestamps as
``INTEGER`` microseconds since the Unix epoch (UTC). Reading back converts both to canonical dtypes
(:func:`pitwall.store._frames.to_canonical`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Final

import polars as pl

from pitwall import schema

UTC_TIME: Final = pl.Datetime("us", "UTC")


@dataclass(frozen=True)
class Table:
    """One table: columns in storage order, constraints, and indexes.

    ``auto_id`` adds a leading ``id`` integer primary key assigned by the database (not part of ``columns``).
    ``storage`` are columns only the store reads and writes (after ``columns``; never part of a contract row).
    ``indexes`` are secondary indexes, created only by dialects that need them for point lookups (SQLite).
    """

    name: str
    columns: Mapping[str, pl.DataType]
    primary_key: tuple[str, ...] = ()
    not_null: tuple[str, ...] = ()
    auto_id: bool = False
    indexes: tuple[tuple[str, ...], ...] = ()
    storage: Mapping[str, pl.DataType] = field(default_factory=dict)

    @property
    def read_columns(self) -> dict[str, pl.DataType]:
        """The columns a ``SELECT *`` returns, including the database-assigned ``id``."""
        return {"id": pl.Int64(), **self.columns} if self.auto_id else dict(self.columns)

    @property
    def column_list(self) -> str:
        """``columns`` as a comma-separated SQL list (without ``id``)."""
        return ", ".join(self.columns)


@dataclass(frozen=True)
class Dialect:
    """How one backend spells types and auto-assigned ids.

    ``id_column`` is the DDL of an auto id column; ``{seq}`` is replaced by the table's sequence name, created
    first when ``uses_sequences``.
    """

    name: str
    types: Mapping[type[pl.DataType], str]
    id_column: str
    uses_sequences: bool
    secondary_indexes: bool

    def sql_type(self, dtype: pl.DataType) -> str:
        return self.types[type(dtype)]


def create_table_sql(table: Table, dialect: Dialect) -> list[str]:
    """The statements creating ``table`` (and its sequence and indexes) in ``dialect``; idempotent."""
    statements: list[str] = []
    columns: list[str] = []
    if table.auto_id:
        sequence = f"{table.name}_id_seq"
        if dialect.uses_sequences:
            statements.append(f"CREATE SEQUENCE IF NOT EXISTS {sequence}")
        columns.append(dialect.id_column.format(seq=sequence))
    for name, dtype in {**table.columns, **table.storage}.items():
        null = " NOT NULL" if name in table.not_null else ""
        columns.append(f"{name} {dialect.sql_type(dtype)}{null}")
    if table.primary_key:
        columns.append(f"PRIMARY KEY ({', '.join(table.primary_key)})")
    statements.append(f"CREATE TABLE IF NOT EXISTS {table.name} (\n  " + ",\n  ".join(columns) + "\n)")
    return statements + index_sql(table, dialect)


def index_sql(table: Table, dialect: Dialect) -> list[str]:
    """The statements creating ``table``'s secondary indexes in ``dialect`` (none where it needs none)."""
    if not dialect.secondary_indexes:
        return []
    return [
        f"CREATE INDEX IF NOT EXISTS {index_name(table.name, index)} ON {table.name} ({', '.join(index)})"
        for index in table.indexes
    ]


def index_name(table: str, columns: tuple[str, ...]) -> str:
    return f"{table}__{'_'.join(columns)}"


SESSIONS: Final[dict[str, pl.DataType]] = {
    "session_id": pl.String(),
    "started_at": UTC_TIME,
    "ended_at": UTC_TIME,  # null while the session is active
    "driver": pl.String(),
    "driver_level": pl.String(),
    "track": pl.String(),  # display name
    "track_id": pl.String(),  # library id
    "car": pl.String(),
    "note": pl.String(),
    "source": pl.String(),  # api | vbo | live | simulator | replay
    "vbo_source": pl.String(),
    "content_hash": pl.String(),  # sha256 of the imported file
    "n_frames": pl.Int64(),
    "duration_s": pl.Float64(),
    "distance_m": pl.Float64(),
    "meta": pl.String(),  # JSON object
}

COACHING_NOTES: Final[dict[str, pl.DataType]] = {
    "session_id": pl.String(),
    "created_at": UTC_TIME,
    "text": pl.String(),
    "source": pl.String(),  # rule | llm | …
    "payload": pl.String(),  # JSON object: the finding's numbers
}

LLM_FRICTION: Final[dict[str, pl.DataType]] = {
    "created_at": UTC_TIME,
    "session_id": pl.String(),
    "component": pl.String(),  # which feature called the LLM (debrief, ask, pace_note…)
    "model": pl.String(),
    "latency_ms": pl.Float64(),
    "fallback_reason": pl.String(),  # null when the LLM answered
    "detail": pl.String(),
}

CONVERSATIONS: Final[dict[str, pl.DataType]] = {
    "session_id": pl.String(),
    "driver_id": pl.String(),
    "qa_key": pl.String(),
    "turn": pl.Int32(),
    "role": pl.String(),  # driver | coach
    "text": pl.String(),
    "emotion": pl.String(),
    "created_at": UTC_TIME,
}

AGENT_TRACES: Final[dict[str, pl.DataType]] = {
    "session_id": pl.String(),
    "created_at": UTC_TIME,
    "agent": pl.String(),
    "event": pl.String(),
    "latency_ms": pl.Float64(),
    "payload": pl.String(),  # JSON object
}

SPECTATOR_TOKENS: Final[dict[str, pl.DataType]] = {
    "token_hash": pl.String(),  # sha256 hex of the token; the token itself is never stored
    "session_id": pl.String(),  # the one session the token may read; null = every session (migration 2)
    "label": pl.String(),
    "created_at": UTC_TIME,
    "expires_at": UTC_TIME,
    "revoked": pl.Boolean(),
}

SESSION_SEQ: Final = "session_seq"
"""The storage column holding the session's ``sessions.seq`` in the big per-session tables
(:data:`SEQ_KEYED`). Sessions get increasing numbers and their rows are written together, so each row group
holds a narrow range and the database's min/max statistics skip every other session's rows; a text
``session_id`` shares its first bytes with every session of the same circuit and skips nothing (a session's
read then scans the whole table: 10× slower at 2,000 sessions, and growing with the database)."""

SEQ_KEYED: Final = ("telemetry", "telemetry_signals")
"""The tables read by :data:`SESSION_SEQ` instead of ``session_id``."""

SCHEMA_VERSION_TABLE: Final = Table(
    "schema_version",
    {"version": pl.Int64(), "name": pl.String(), "applied_at": UTC_TIME},
    primary_key=("version",),
    not_null=("version", "name", "applied_at"),
)

TABLES: Final[dict[str, Table]] = {
    t.name: t
    for t in (
        Table(
            "sessions",
            SESSIONS,
            primary_key=("session_id",),
            not_null=("session_id", "started_at"),
            indexes=(("content_hash",), ("started_at",)),
            storage={"seq": pl.Int64()},  # 1, 2, 3… in creation order (migration 5)
        ),
        Table(
            "telemetry",
            schema.TELEMETRY,
            not_null=schema.TELEMETRY_REQUIRED,
            indexes=((SESSION_SEQ, "frame_idx"),),
            storage={SESSION_SEQ: pl.Int64()},
        ),
        Table(
            "telemetry_signals",
            schema.TELEMETRY_SIGNALS,
            not_null=("session_id", "signal_name", "t_s"),
            indexes=((SESSION_SEQ, "signal_name", "t_s"),),
            storage={SESSION_SEQ: pl.Int64()},
        ),
        Table(
            "signal_registry", schema.SIGNAL_REGISTRY, primary_key=("signal_name",), not_null=("signal_name",)
        ),
        Table(
            "capabilities",
            schema.CAPABILITIES,
            primary_key=("session_id", "signal_name"),
            not_null=("session_id", "signal_name"),
        ),
        Table("laps", schema.LAPS, not_null=("session_id", "lap"), indexes=(("session_id", "lap"),)),
        Table(
            "coaching_notes",
            COACHING_NOTES,
            auto_id=True,
            not_null=("session_id", "created_at"),
            indexes=(("session_id",),),
        ),
        Table(
            "video_frames",
            schema.VIDEO_FRAMES,
            not_null=("session_id", "t_s"),
            indexes=(("session_id", "t_s"),),
        ),
        Table(
            "conversations",
            CONVERSATIONS,
            auto_id=True,
            not_null=("created_at",),
            indexes=(("session_id",), ("driver_id",)),
        ),
        Table(
            "agent_traces", AGENT_TRACES, auto_id=True, not_null=("created_at",), indexes=(("session_id",),)
        ),
        Table("llm_friction", LLM_FRICTION, auto_id=True, not_null=("created_at",)),
        Table(
            "spectator_tokens",
            SPECTATOR_TOKENS,
            primary_key=("token_hash",),
            not_null=("token_hash", "created_at", "expires_at", "revoked"),
        ),
    )
}
"""The tables of the contract, by name, in creation order."""

SESSION_SCOPED: Final = tuple(
    name for name, t in TABLES.items() if "session_id" in t.columns and name != "sessions"
)
"""Tables whose rows belong to one session (deleted with it)."""
