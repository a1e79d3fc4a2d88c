"""Storage write and export benchmarks; each prints one JSON object per line:
``{"bench": name, "value": x, "unit": u, "baseline": y, "ratio": r}``.

(a) ``store.import_session.<backend>``: ``Store.import_session`` of a 72,000-row × 25-column telemetry frame
(one hour at 20 Hz) into a fresh file, rows/s, including the capabilities recompute it performs. Baseline:
row-by-row DuckDB ``executemany`` of 5,000 of the same rows into the same table layout, measured in this run
and extrapolated to rows/s.

(b) ``store.export_parquet.<backend>``: ``Store.export_batches`` (50k-row batches) → the route's own writer
(``pitwall.api.exports.parquet_chunks``: zstd, :func:`~pitwall.api.exports.writer_options`), rows/s, median of
5 after a warm-up; baseline = Polars' ``write_parquet`` (its defaults: zstd) of the same rows in memory, measured
in this run; ``export.writer``: the same writer on the rows in memory (the encoding alone, the like-for-like
comparison with Polars' writer: target ratio ≥ 0.8); ``store.export_parquet_size.<backend>``: the file's size against Polars'
(comparable: ratio ≈ 1 or below).

``store.export_batches.<backend>`` is ``export_batches`` alone (no parquet), same baseline.

(c) ``store.export_peak_rss.<backend>``: peak RSS growth (sampled every ms) of a fresh process exporting an
8-hour session (576,000 rows) with the route's writer, keeping none of the bytes; baseline = the same for a 2-hour
session (144,000 rows, three batches: past the allocators' warm-up). ratio ≈ 1 means memory does not grow with
the session. DuckDB's figure includes its block cache, which keeps what a query read (up to its
``memory_limit``) and so grows with the session even though the export streams.

Run from the repository root: ``.venv/bin/python -m benchmarks.store_write``
"""

from __future__ import annotations

# ruff: noqa: E402  (the malloc arena limit is set before the third-party imports, as in the server's process)
import io
import resource
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

from pitwall.arenas import limit_malloc_arenas

limit_malloc_arenas()  # as the server's process does (pitwall.__main__), before numpy starts its threads

import duckdb
import numpy as np
import polars as pl

from benchmarks.report import emit
from pitwall import schema
from pitwall.api.exports import parquet_chunks
from pitwall.store import BACKENDS, SessionImport, SessionRow, Store, export_schema, open_store
from pitwall.store._tables import TABLES, create_table_sql
from pitwall.store.duckdb import DIALECT

ROWS = 72_000
RATE_HZ = 20.0
BASELINE_ROWS = 5_000
EXPORT_TARGET_ROWS_S = 1_000_000.0
SUFFIX = {"duckdb": ".duckdb", "sqlite": ".sqlite"}


def telemetry(rows: int, session_id: str) -> pl.DataFrame:
    """All 25 canonical columns, filled with smooth plausible values (a car on a 600 m-radius circle)."""
    t = np.arange(rows) / RATE_HZ
    speed_kph = 150 + 50 * np.sin(2 * np.pi * t / 30)
    angle = np.cumsum(speed_kph / 3.6 / RATE_HZ) / 600.0
    rng = np.random.default_rng(7)
    start = datetime(2025, 8, 1, 14, 0, tzinfo=UTC)
    frame = pl.DataFrame(
        {
            "session_id": [session_id] * rows,
            "frame_idx": np.arange(rows),
            "t_s": t,
            "utc": pl.datetime_range(
                start, start + timedelta(seconds=(rows - 1) / RATE_HZ), "50ms", eager=True
            ),
            "lat_deg": 43.8 + 600 * np.sin(angle) / 111_320,
            "lon_deg": -87.99 + 600 * (1 - np.cos(angle)) / 80_300,
            "alt_m": 260 + 5 * np.sin(angle),
            "speed_kph": speed_kph,
            "heading_deg": np.degrees(angle) % 360,
            "sats": rng.integers(9, 15, rows),
            "g_lat": (speed_kph / 3.6) ** 2 / 600 / schema.G0,
            "g_long": np.gradient(speed_kph / 3.6, t) / schema.G0,
            "g_vert": rng.normal(0, 0.05, rows),
            "yaw_rate_dps": np.degrees(speed_kph / 3.6 / 600),
            "throttle_pct": np.clip(50 + 60 * np.cos(2 * np.pi * t / 30), 0, 100),
            "brake_bar": np.clip(-60 * np.cos(2 * np.pi * t / 30), 0, None),
            "brake_pct": np.clip(-100 * np.cos(2 * np.pi * t / 30), 0, 100),
            "steering_deg": 30 + rng.normal(0, 2, rows),
            "rpm": 4000 + 30 * speed_kph,
            "gear": np.clip(speed_kph // 40, 1, 6),
            "distance_m": np.cumsum(speed_kph / 3.6 / RATE_HZ),
            "s_m": np.cumsum(speed_kph / 3.6 / RATE_HZ) % 3770,
            "lap": (np.cumsum(speed_kph / 3.6 / RATE_HZ) // 3770).astype(np.int32),
            "video_file_idx": np.ones(rows, dtype=np.int32),
            "video_t_ms": (t * 1000).astype(np.int64),
        }
    )
    return schema.conform(frame, schema.TELEMETRY)


def session_import(rows: int, session_id: str) -> SessionImport:
    row = SessionRow(session_id, started_at=datetime(2025, 8, 1, 14, 0, tzinfo=UTC), source="vbo")
    empty_signals = pl.DataFrame(schema=schema.TELEMETRY_SIGNALS).drop("session_id")
    return SessionImport(
        row, telemetry(rows, session_id), empty_signals, pl.DataFrame(schema=schema.SIGNAL_REGISTRY)
    )


def executemany_rows_s(directory: Path, frame: pl.DataFrame) -> float:
    """Row-by-row DuckDB ``executemany`` into the telemetry table layout (the approach the store avoids)."""
    con = duckdb.connect(str(directory / "executemany.duckdb"))
    try:
        for statement in create_table_sql(TABLES["telemetry"], DIALECT):
            con.execute(statement)
        rows = frame.head(BASELINE_ROWS).rows()
        sql = f"INSERT INTO telemetry ({', '.join(frame.columns)}) VALUES ({', '.join('?' * frame.width)})"
        started = time.perf_counter()
        con.executemany(sql, rows)
        return BASELINE_ROWS / (time.perf_counter() - started)
    finally:
        con.close()


def export_rows_s(store: Store, session_id: str, *, parquet: bool = True, runs: int = 5) -> tuple[float, int]:
    """Median rows/s of exporting the session's telemetry as ``GET /export.parquet`` does (its
    ``parquet_chunks``; just the batches when ``parquet`` is false), after one warm-up run, and the file size
    in bytes."""
    speeds, size = [], 0
    for _ in range(runs + 1):
        started = time.perf_counter()
        batches = store.export_batches(session_id, "telemetry")
        if parquet:
            size = sum(len(chunk) for chunk in parquet_chunks(batches))
        else:
            for _batch in batches:
                pass
        speeds.append(store.count_telemetry(session_id) / (time.perf_counter() - started))
    return statistics.median(speeds[1:]), size


def writer_rows_s(frame: pl.DataFrame, runs: int = 5) -> float:
    """Median rows/s of the export's writer alone (``parquet_chunks``) on the same rows in memory: the
    encoding, without the database read."""
    table = frame.to_arrow()
    speeds = []
    for _ in range(runs):
        started = time.perf_counter()
        for _chunk in parquet_chunks(table.to_batches(max_chunksize=50_000)):
            pass
        speeds.append(frame.height / (time.perf_counter() - started))
    return statistics.median(speeds)


def polars_rows_s(frame: pl.DataFrame, runs: int = 5) -> tuple[float, int]:
    """Median rows/s of Polars' own parquet writer (its defaults: zstd) on the same rows in memory, and the
    file size in bytes: the baseline of the export."""
    speeds, size = [], 0
    for _ in range(runs):
        sink = io.BytesIO()
        started = time.perf_counter()
        frame.write_parquet(sink, row_group_size=50_000)
        speeds.append(frame.height / (time.perf_counter() - started))
        size = sink.tell()
    return statistics.median(speeds), size


def peak_rss_growth_mb(db: Path, session_id: str) -> float:
    """Peak RSS growth, MB, while a fresh process streams the session's telemetry to parquet."""
    return in_fresh_process("benchmarks.store_write", "measure_export_rss", str(db), session_id)


def in_fresh_process(module: str, function: str, *args: str) -> float:
    """``module.function(*args)`` (a figure) run in a fresh Python process: memory figures start clean."""
    script = f"import sys; from {module} import {function}; print({function}(*sys.argv[1:]))"
    out = subprocess.run([sys.executable, "-c", script, *args], capture_output=True, text=True, check=True)
    return float(out.stdout)


def peak_rss_growth(task: Callable[[], object]) -> float:
    """Run ``task`` in this process while a thread samples RSS every millisecond; the peak growth over the RSS
    before it, MB."""
    before, peak = _rss_bytes(), [0]
    done = threading.Event()

    def sample() -> None:
        while not done.wait(0.001):
            peak[0] = max(peak[0], _rss_bytes())

    sampler = threading.Thread(target=sample)
    sampler.start()
    try:
        task()
    finally:
        done.set()
        sampler.join()
    return max(peak[0] - before, 0) / 1e6


def _rss_bytes() -> int:
    with open("/proc/self/statm", encoding="ascii") as statm:
        return int(statm.read().split()[1]) * resource.getpagesize()


def measure_export_rss(db: str, session_id: str) -> float:
    """In this process: open ``db``, export the session while a thread samples RSS every millisecond;
    returns the peak growth over the RSS before the export, MB."""
    store = open_store(db)

    def export() -> None:
        for _ in parquet_chunks(store.export_batches(session_id, "telemetry")):
            pass

    try:
        return peak_rss_growth(export)
    finally:
        store.close()


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        directory = Path(tmp)
        hour = session_import(ROWS, "hour")
        baseline = executemany_rows_s(directory, hour.telemetry)
        frame = export_frame(hour.telemetry)
        polars_speed, polars_size = polars_rows_s(frame)
        emit("polars.write_parquet", polars_speed, "rows/s", None)
        emit("export.writer", writer_rows_s(frame), "rows/s", polars_speed)
        for backend in BACKENDS:
            db = directory / f"pitwall{SUFFIX[backend]}"
            store = open_store(db)
            try:
                started = time.perf_counter()
                store.import_session(hour)
                emit(
                    f"store.import_session.{backend}",
                    ROWS / (time.perf_counter() - started),
                    "rows/s",
                    baseline,
                )
                export, size = export_rows_s(store, "hour")
                emit(f"store.export_parquet.{backend}", export, "rows/s", polars_speed)
                emit(f"store.export_parquet_size.{backend}", size / 1e6, "MB", polars_size / 1e6)
                batches, _ = export_rows_s(store, "hour", parquet=False)
                emit(f"store.export_batches.{backend}", batches, "rows/s", EXPORT_TARGET_ROWS_S)
                store.import_session(session_import(2 * ROWS, "two-hours"))
                store.import_session(session_import(8 * ROWS, "eight-hours"))
            finally:
                store.close()
            small_mb, large_mb = peak_rss_growth_mb(db, "two-hours"), peak_rss_growth_mb(db, "eight-hours")
            emit(f"store.export_peak_rss.{backend}", large_mb, "MB", small_mb)


def export_frame(telemetry: pl.DataFrame) -> pl.DataFrame:
    """The rows as the export holds them (its schema), for the Polars baseline."""
    return pl.from_arrow(
        telemetry.to_arrow().select(export_schema("telemetry").names).cast(export_schema("telemetry"))
    )  # type: ignore[return-value]


if __name__ == "__main__":
    main()
