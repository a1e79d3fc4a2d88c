"""A hive-partitioned parquet lake of sessions: export from a store, per-session analysis, cross-session tables.

Layout under the lake root (a local folder or any fsspec URL)::

    _manifest.json                                   the commit record: one entry per exported session
    sessions.parquet                                 every session row (the store's ``sessions`` columns)
    track=<id>/driver=<slug>/date=<YYYY-MM-DD>/session=<sid>/
        telemetry.parquet  laps.parquet  sectors.parquet  corners.parquet
    results/<table>/track=…/driver=…/date=…/session=…/part.parquet   written by ``analyze``
    results/leaderboard.parquet  results/consistency.parquet  results/driver_evolution.parquet

DuckDB (``read_parquet('<root>/*/*/*/*/telemetry.parquet', hive_partitioning = true)``), Polars
(``pl.scan_parquet(..., hive_partitioning=True)``) and pyarrow datasets (``partitioning="hive"``) read it as it
is. No file has a column named like a partition key (``track``, ``driver``, ``date``, ``session``), so the hive
columns never clash with stored ones; ``session_id`` is in every per-session file.

Export is incremental and atomic per session: a session is (re)written only when its *version* (the content
hash of an imported file, else frame count and end time) differs from the manifest's; its files are written to
a staging folder and moved into place before the manifest records it (the manifest is rewritten every
:data:`MANIFEST_FLUSH_S` seconds, less often in a big lake (:data:`MANIFEST_SHARE`), and at the end). On object stores, where a folder move is not atomic, the
manifest is the commit point: readers that start from the manifest never see a half-written session.

:func:`analyze_session` is the one per-session task (read a partition's telemetry, slice laps, time sectors,
measure corner passes, write the results); :func:`analyze_lake` runs it over every session with the ``local``
engine (in this process) or ``dask`` (``dask.distributed``, one task per session); both give identical files.
"""

from __future__ import annotations

import hashlib
import json
import posixpath
import re
import time
import uuid
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, date, datetime
from functools import cache
from typing import Any, Final, Literal

import polars as pl

from pitwall.analysis.corners import corner_passes
from pitwall.analysis.sectors import sector_splits
from pitwall.coach.concepts import Concept, load_concepts
from pitwall.coach.review import findings_frame, review_view
from pitwall.formats.track import TRACKS_DIR, TrackLibrary
from pitwall.session_view import SessionView, SessionViewError
from pitwall.store import session_frame
from pitwall.store.base import SessionRow, Store

LAKE_FORMAT: Final = 1
"""Version of the layout; a manifest of another format is refused."""

MANIFEST: Final = "_manifest.json"
SESSIONS_FILE: Final = "sessions.parquet"
RESULTS: Final = "results"
SESSION_TABLES: Final = ("telemetry", "laps", "sectors", "corners")
"""Per-session files, ``<table>.parquet`` in each partition folder."""
ANALYSIS_TABLES: Final = ("laps", "sectors", "corners", "findings")
"""Per-session tables ``analyze`` writes under ``results/<table>/<partition>/part.parquet``."""
MANIFEST_FLUSH_S: Final = 5.0
"""During an export the manifest (and ``sessions.parquet``) is rewritten at most this often, and at the end: a
rewrite costs O(sessions), so once per session would make an export quadratic in the lake's size. A session
folder moved into place but not yet in the manifest is exported again by the next run."""
MANIFEST_SHARE: Final = 0.1
"""Largest share of an export's time the manifest rewrites may take: once a rewrite takes longer than
``MANIFEST_SHARE`` × :data:`MANIFEST_FLUSH_S` (a big lake), the next waits ``1 / MANIFEST_SHARE`` times as long
as that rewrite took, so the cost per exported session stays flat however many sessions the lake holds."""

Engine = Literal["local", "dask"]

_SLUG: Final = re.compile(r"[^a-z0-9._-]+")


def slug(text: str) -> str:
    """A partition-safe value: lower case, runs of other characters as ``-`` (``"unknown"`` when empty)."""
    return _SLUG.sub("-", text.strip().lower()).strip("-") or "unknown"


def partition_of(row: SessionRow) -> str:
    """The session's folder relative to the lake root: ``track=…/driver=…/date=…/session=…``."""
    day = row.started_at.astimezone(UTC).date().isoformat()
    return (
        f"track={slug(row.track_id or row.track)}/driver={slug(row.driver)}/date={day}/"
        f"session={row.session_id}"
    )


def row_to_json(row: SessionRow) -> dict[str, Any]:
    """A session row as JSON values (times as ISO 8601 UTC strings); :func:`row_from_json` reverses it."""
    values = asdict(row)
    values["started_at"] = row.started_at.astimezone(UTC).isoformat()
    values["ended_at"] = row.ended_at.astimezone(UTC).isoformat() if row.ended_at else None
    return values


def row_from_json(values: Mapping[str, Any]) -> SessionRow:
    """The :class:`SessionRow` of :func:`row_to_json`'s output."""
    times = {
        name: datetime.fromisoformat(values[name]) if values.get(name) else None
        for name in ("started_at", "ended_at")
    }
    return SessionRow(**{**values, **times})


def session_version(row: SessionRow) -> str:
    """What identifies a session's state: a hash of its row (the imported file's hash, frame count, duration,
    end, driver, track, meta…), so new frames or edited metadata both make it differ."""
    text = json.dumps(row_to_json(row), sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:32]


# ---------------------------------------------------------------------------------------------------------
# The per-session tables (shared by export and analyze).
# ---------------------------------------------------------------------------------------------------------


@cache
def _library(directory: str) -> TrackLibrary:
    return TrackLibrary(directory)


def session_tables(
    row: SessionRow, telemetry: pl.DataFrame, *, tracks_dir: str = str(TRACKS_DIR)
) -> dict[str, pl.DataFrame]:
    """Laps, sectors, corner passes and coach findings of one session (telemetry: canonical columns, any
    order).

    The track is the library entry of ``row.track_id`` (library at ``tracks_dir``); a session with no
    telemetry or no known track raises :class:`~pitwall.session_view.SessionViewError`. ``sectors``,
    ``corners`` and ``findings`` are empty frames when the session has no complete lap. ``findings`` are the
    coach's (:func:`pitwall.coach.review.review_view`, the same pipelines as the ``/coach`` routes), one row
    each (:data:`pitwall.coach.review.FINDINGS_SCHEMA`).
    """
    view = SessionView.from_frames(row, telemetry, _library(tracks_dir), None)
    flying = view.complete_laps()["lap"].to_list()
    sectors = sector_splits(view.telemetry, view.laps.lazy(), view.track).collect()
    corners = corner_passes(view.telemetry, view.track).filter(pl.col("lap").is_in(flying)).collect()
    findings = findings_frame(review_view(view, _concepts())[1].findings) if flying else findings_frame([])
    stamp = pl.lit(row.session_id).alias("session_id")
    return {
        "laps": view.laps.with_columns(stamp).select("session_id", pl.exclude("session_id")),
        "sectors": sectors.select(stamp, pl.all()),
        "corners": corners.select(stamp, pl.all()),
        "findings": findings.select(stamp, pl.all()),
    }


@cache
def _concepts() -> tuple[Concept, ...]:
    """The coach's concepts, read once per process (worker)."""
    return load_concepts()


# ---------------------------------------------------------------------------------------------------------
# File system access (local folders and fsspec URLs alike).
# ---------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Lake:
    """A lake root: an fsspec file system and the root path on it."""

    url: str
    fs: Any = field(repr=False)
    root: str

    @classmethod
    def open(cls, url: str, *, create: bool = False) -> Lake:
        """The lake at ``url`` (a folder path or an fsspec URL such as ``memory://lake``), created when
        ``create``; else ``FileNotFoundError`` when it holds no manifest."""
        import fsspec

        fs, root = fsspec.core.url_to_fs(str(url))
        lake = cls(url=str(url), fs=fs, root=root.rstrip("/"))
        if create:
            fs.makedirs(root, exist_ok=True)
        elif not lake.exists(MANIFEST):
            raise FileNotFoundError(f"no lake at {url} (no {MANIFEST}; write one with export-lake)")
        return lake

    def path(self, *parts: str) -> str:
        return posixpath.join(self.root, *parts)

    @property
    def is_local(self) -> bool:
        return "file" in (self.fs.protocol if isinstance(self.fs.protocol, tuple) else (self.fs.protocol,))

    def write_parquet(self, df: pl.DataFrame, *parts: str) -> None:
        target = self.path(*parts)
        self.fs.makedirs(posixpath.dirname(target), exist_ok=True)
        with self.fs.open(target, "wb") as out:
            df.write_parquet(out, compression="zstd", statistics=True)

    def read_parquet(self, *parts: str) -> pl.DataFrame:
        with self.fs.open(self.path(*parts), "rb") as src:
            return pl.read_parquet(src)

    def exists(self, *parts: str) -> bool:
        return bool(self.fs.exists(self.path(*parts)))

    def read_manifest(self) -> dict[str, Any]:
        """The manifest (an empty one for a new lake); ``ValueError`` for another layout version."""
        if not self.exists(MANIFEST):
            return {"format": LAKE_FORMAT, "sessions": {}}
        with self.fs.open(self.path(MANIFEST), "rb") as src:
            manifest: dict[str, Any] = json.load(src)
        if manifest.get("format") != LAKE_FORMAT:
            raise ValueError(
                f"{self.url}: lake format {manifest.get('format')!r} is not {LAKE_FORMAT} (re-export it)"
            )
        return manifest

    def write_manifest(self, manifest: Mapping[str, Any]) -> None:
        """Replace the manifest and the ``sessions.parquet`` built from it (each written then moved)."""
        rows = [row_from_json(entry["session"]) for entry in manifest["sessions"].values()]
        frame = session_frame(*rows)  # one frame for all: per-row frames made each flush O(N) slow
        token = uuid.uuid4().hex
        self.write_parquet(frame.sort("started_at", "session_id"), f".{SESSIONS_FILE}.{token}")
        self._replace(self.path(f".{SESSIONS_FILE}.{token}"), self.path(SESSIONS_FILE))
        with self.fs.open(self.path(f".{MANIFEST}.{token}"), "w") as out:
            json.dump(manifest, out, indent=1, sort_keys=True, default=str)
        self._replace(self.path(f".{MANIFEST}.{token}"), self.path(MANIFEST))

    def _replace(self, source: str, target: str) -> None:
        if self.is_local:
            import os

            os.replace(source, target)
        else:
            self.fs.mv(source, target)

    def put_folder(self, staged: str, target: str) -> None:
        """Move a staged session folder into place, replacing an older copy."""
        if self.fs.exists(target):
            trash = self.path(".trash", uuid.uuid4().hex)
            self.fs.makedirs(posixpath.dirname(trash), exist_ok=True)
            self.fs.mv(target, trash, recursive=True)
            self.fs.makedirs(posixpath.dirname(target), exist_ok=True)
            self.fs.mv(staged, target, recursive=True)
            self.fs.rm(trash, recursive=True)
        else:
            self.fs.makedirs(posixpath.dirname(target), exist_ok=True)
            self.fs.mv(staged, target, recursive=True)


# ---------------------------------------------------------------------------------------------------------
# Export.
# ---------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class SessionFilter:
    """Which sessions to export: track id or name, driver, and a date range (UTC days, inclusive)."""

    track: str | None = None
    driver: str | None = None
    since: date | None = None
    until: date | None = None

    def accepts(self, row: SessionRow) -> bool:
        day = row.started_at.astimezone(UTC).date()
        return (
            (self.track is None or self.track in (row.track_id, row.track))
            and (self.driver is None or self.driver == row.driver)
            and (self.since is None or day >= self.since)
            and (self.until is None or day <= self.until)
        )


@dataclass(frozen=True)
class SessionOutcome:
    """What happened to one session: ``exported``, ``unchanged`` or ``failed`` (with the reason)."""

    session_id: str
    status: Literal["exported", "unchanged", "failed"]
    rows: Mapping[str, int] = field(default_factory=dict)
    detail: str = ""


def _store_sessions(store: Store, flt: SessionFilter) -> list[SessionRow]:
    ids = store.list_sessions(limit=2**31 - 1)["session_id"].to_list()
    rows = [store.get_session(sid) for sid in ids]
    return [row for row in rows if flt.accepts(row)]


def export_lake(
    store: Store,
    dest: str,
    *,
    only: SessionFilter = SessionFilter(),
    on_session: Callable[[SessionOutcome], None] | None = None,
) -> list[SessionOutcome]:
    """Export the store's sessions (those ``only`` accepts) to the lake at ``dest``; see the module doc.

    Sessions whose version the manifest already records are ``unchanged``; a session that fails (no
    telemetry, unknown track) is reported as ``failed`` with the reason, written without its analysis tables
    where its telemetry could be read, and does not stop the others. ``on_session`` is called after each.
    """
    lake = Lake.open(dest, create=True)
    manifest = lake.read_manifest()
    outcomes: list[SessionOutcome] = []
    pending, flushed, rewrite_s = 0, time.monotonic(), 0.0
    try:
        for row in _store_sessions(store, only):
            outcome = _export_one(lake, manifest, store, row)
            outcomes.append(outcome)
            pending += outcome.status == "exported"
            if pending and time.monotonic() - flushed >= max(MANIFEST_FLUSH_S, rewrite_s / MANIFEST_SHARE):
                started = time.monotonic()
                lake.write_manifest(manifest)
                pending, flushed, rewrite_s = 0, time.monotonic(), time.monotonic() - started
            if on_session is not None:
                on_session(outcome)
    finally:
        if pending:
            lake.write_manifest(manifest)
    return outcomes


def _export_one(lake: Lake, manifest: dict[str, Any], store: Store, row: SessionRow) -> SessionOutcome:
    version = session_version(row)
    part = partition_of(row)
    known = manifest["sessions"].get(row.session_id)
    if known and known["version"] == version and known["path"] == part and lake.exists(part, "laps.parquet"):
        return SessionOutcome(row.session_id, "unchanged")
    telemetry = store.read_telemetry(row.session_id)
    if telemetry.height == 0:
        return SessionOutcome(row.session_id, "failed", detail="the session has no telemetry rows")
    try:
        tables = {"telemetry": telemetry, **session_tables(row, telemetry)}
    except SessionViewError as exc:
        return SessionOutcome(row.session_id, "failed", detail=exc.detail)
    staged = f".staging/{uuid.uuid4().hex}"
    for name, df in tables.items():
        lake.write_parquet(df, staged, f"{name}.parquet")
    if known and known["path"] != part and lake.exists(known["path"]):
        lake.fs.rm(lake.path(known["path"]), recursive=True)
    lake.put_folder(lake.path(staged), lake.path(part))
    rows = {name: df.height for name, df in tables.items()}
    manifest["sessions"][row.session_id] = {
        "version": version,
        "path": part,
        "rows": rows,
        "exported_at": datetime.now(UTC).isoformat(),
        "session": row_to_json(row),
    }
    return SessionOutcome(row.session_id, "exported", rows)


# ---------------------------------------------------------------------------------------------------------
# Analyze: one task per session, then cross-session tables.
# ---------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class TaskResult:
    """One session's analysis: rows written per table, or the error that stopped it."""

    session_id: str
    rows: Mapping[str, int] = field(default_factory=dict)
    error: str | None = None


def analyze_session(url: str, path: str, session: Mapping[str, Any]) -> TaskResult:
    """The per-session task: read ``<path>/telemetry.parquet`` of the lake at ``url``, compute laps, sectors
    and corner passes (:func:`session_tables`) and write them to ``results/<table>/<path>/part.parquet``.

    Pure in its inputs (a lake URL, a partition path, the manifest's session row); safe to run on any worker
    that can reach the lake. Errors are returned, not raised, so one bad session does not stop a run.
    """
    row = row_from_json(session)
    try:
        lake = Lake.open(url)
        tables = session_tables(row, lake.read_parquet(path, "telemetry.parquet"))
        for name in ANALYSIS_TABLES:
            lake.write_parquet(tables[name], RESULTS, name, path, "part.parquet")
    except (SessionViewError, OSError, pl.exceptions.PolarsError) as exc:
        return TaskResult(row.session_id, error=f"{type(exc).__name__}: {exc}")
    return TaskResult(row.session_id, {name: tables[name].height for name in ANALYSIS_TABLES})


def _tasks(manifest: Mapping[str, Any]) -> list[tuple[str, Mapping[str, Any]]]:
    entries = sorted(manifest["sessions"].values(), key=lambda e: e["path"])
    return [(entry["path"], entry["session"]) for entry in entries]


def run_tasks(
    url: str,
    tasks: Sequence[tuple[str, Mapping[str, Any]]],
    *,
    engine: Engine = "local",
    scheduler: str | None = None,
) -> Iterator[TaskResult]:
    """Run :func:`analyze_session` for every ``(path, session)``, yielding results as they complete.

    ``local`` runs them in this process, in order; ``dask`` submits one task per session to the
    ``dask.distributed`` scheduler at ``scheduler`` (a ``LocalCluster`` of this machine's cores when ``None``).
    """
    if engine == "local":
        for path, session in tasks:
            yield analyze_session(url, path, session)
        return
    if engine != "dask":
        raise ValueError(f"unknown engine {engine!r}; expected local or dask")
    from dask.distributed import Client, LocalCluster, as_completed

    cluster = (
        None if scheduler else LocalCluster(processes=True, threads_per_worker=1, dashboard_address=None)
    )
    client = Client(scheduler or cluster)
    try:
        futures = [
            client.submit(
                analyze_session, url, path, session, key=f"analyze-{session['session_id']}", pure=False
            )
            for path, session in tasks
        ]
        for future in as_completed(futures):
            yield future.result()
    finally:
        client.close()
        if cluster is not None:
            cluster.close()


def analyze_lake(
    url: str,
    *,
    engine: Engine = "local",
    scheduler: str | None = None,
    on_result: Callable[[TaskResult], None] | None = None,
) -> list[TaskResult]:
    """Analyze every session of the lake at ``url`` (see :func:`run_tasks`) and then build the cross-session
    tables (:func:`cross_session_tables`) from the results. Returns the per-session results in lake order."""
    lake = Lake.open(url)
    tasks = _tasks(lake.read_manifest())
    results: list[TaskResult] = []
    for result in run_tasks(url, tasks, engine=engine, scheduler=scheduler):
        results.append(result)
        if on_result is not None:
            on_result(result)
    for name, df in cross_session_tables(lake).items():
        lake.write_parquet(df, RESULTS, f"{name}.parquet")
    order = {session["session_id"]: k for k, (_, session) in enumerate(tasks)}
    return sorted(results, key=lambda r: order[r.session_id])


def _results_laps(lake: Lake) -> pl.DataFrame:
    """Every analysed lap with its session's driver, car, track and day (from ``sessions.parquet``)."""
    paths = lake.fs.glob(lake.path(RESULTS, "laps", "*", "*", "*", "*", "part.parquet"))
    if not paths or not lake.exists(SESSIONS_FILE):
        return pl.DataFrame()
    frames = []
    for path in sorted(paths):
        with lake.fs.open(path, "rb") as src:
            frames.append(pl.read_parquet(src))
    laps = pl.concat(frames, how="diagonal_relaxed")
    sessions = lake.read_parquet(SESSIONS_FILE).select(
        "session_id", "driver", "car", "track", "track_id", pl.col("started_at").dt.date().alias("day")
    )
    return laps.join(sessions, on="session_id", how="inner")


def cross_session_tables(lake: Lake) -> dict[str, pl.DataFrame]:
    """Tables over all analysed sessions, from ``results/laps``:

    * ``leaderboard`` — best valid flying lap per (track, driver, car): ``best_lap_s`` (s), ``session_id``, ``lap``;
    * ``consistency`` — per (track, driver): ``n_laps``, ``mean_lap_s``, ``std_lap_s`` (s, sample std) and
      ``cov_pct`` (std / mean × 100) of valid flying laps;
    * ``driver_evolution`` — per (track, driver, session): ``day``, ``best_lap_s`` and ``delta_to_first_s``
      (s; the session's best minus the driver's first session's best at that track).
    """
    laps = _results_laps(lake)
    if laps.height == 0:
        return {}
    flying = laps.filter(pl.col("valid") & (pl.col("kind") == "flying") & pl.col("duration_s").is_not_null())
    leaderboard = (
        flying.sort("duration_s", "day", "session_id", "lap")
        .group_by("track_id", "track", "driver", "car", maintain_order=True)
        .agg(pl.first("duration_s").alias("best_lap_s"), pl.first("session_id"), pl.first("lap"))
        .sort("track_id", "best_lap_s", "driver", "car")
    )
    consistency = (
        flying.group_by("track_id", "driver")
        .agg(
            pl.len().alias("n_laps"),
            pl.mean("duration_s").alias("mean_lap_s"),
            pl.std("duration_s").alias("std_lap_s"),
        )
        .with_columns((pl.col("std_lap_s") / pl.col("mean_lap_s") * 100).alias("cov_pct"))
        .sort("track_id", "driver")
    )
    evolution = (
        flying.group_by("track_id", "driver", "session_id", "day")
        .agg(pl.min("duration_s").alias("best_lap_s"))
        .sort("track_id", "driver", "day", "session_id")
        .with_columns(
            (pl.col("best_lap_s") - pl.col("best_lap_s").first().over("track_id", "driver")).alias(
                "delta_to_first_s"
            )
        )
    )
    return {"leaderboard": leaderboard, "consistency": consistency, "driver_evolution": evolution}
