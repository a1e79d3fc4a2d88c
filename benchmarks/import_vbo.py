"""VBO import benchmarks; each prints one JSON object per line:
``{"bench": name, "value": x, "unit": u, "baseline": y, "ratio": r}``.

(a) ``bench_parse``: :func:`pitwall.formats.vbo.parse_vbo` on a generated 1-hour 20 Hz session
(72,000 rows × 25 columns, written by :func:`pitwall.formats.vbo_writer.write_vbo`) against plain
``pl.read_csv`` of the same file's ``[data]`` byte slice, in the same run (median of ``runs``, interleaved).
Target: ratio ≥ 0.8.

(b) ``bench_import``: :func:`pitwall.importer.import_vbo_file` of the same file (read, sha256, parse, track
detection against the bundled :class:`~pitwall.formats.track.TrackLibrary`, atomic write of telemetry,
tall signals and registry, capabilities) into a fresh DuckDB file per run (opened before the clock starts;
median of ``runs`` after one warm-up). Reported as seconds against ``parse_vbo``'s seconds (target ≤ 0.5 s)
and as MB/s against ``parse_vbo``'s MB/s from (a) (target ratio ≥ 0.5).

(c) ``bench_export``: the imported session's telemetry through ``Store.export_batches`` → the route's parquet
writer (:func:`benchmarks.store_write.export_rows_s`), rows/s, against Polars' ``write_parquet`` of the same rows
in memory (:func:`benchmarks.store_write.polars_rows_s`: the writer alone, no database read).
Then peak RSS growth of a fresh process exporting a 4-hour session imported from a VBO (288,000 rows), against
the same for the 1-hour session (:func:`benchmarks.store_write.peak_rss_growth_mb`): ratio ≈ 1 means flat
memory. DuckDB's block cache keeps what a query read, so some growth with the session is expected.

(d) ``bench_import_memory``: peak RSS growth of a fresh process importing the 1-hour file (store opened and
track library loaded first), against a fresh process doing what the issue measured it against: ``pl.read_csv``
of the file's ``[data]`` block and a DuckDB ``CREATE TABLE`` of it. Target ratio ≤ 1.5.

Run from the repository root: ``.venv/bin/python -m benchmarks.import_vbo [--runs 7]``
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import duckdb
import numpy as np
import polars as pl

from benchmarks import report
from benchmarks.store_write import (
    export_frame,
    export_rows_s,
    in_fresh_process,
    peak_rss_growth,
    peak_rss_growth_mb,
    polars_rows_s,
)
from pitwall.analysis.geo import from_local_xy
from pitwall.formats.track import TrackLibrary
from pitwall.formats.vbo import parse_vbo
from pitwall.formats.vbo_writer import write_vbo
from pitwall.importer import import_vbo_file
from pitwall.schema import G0
from pitwall.store import open_store

MB = 1024 * 1024
IMPORT_TARGET_S = 0.5

SIGNAL_NAMES = (
    "Oil_Temp",
    "Water_Temp",
    "Oil_Pressure",
    "Fuel_Level",
    "Battery_Volts",
    "Lambda",
    "Boost",
    "Wheel_Speed_FL",
)


def synthetic_session(duration_s: float = 3600.0, rate_hz: float = 20.0) -> tuple[pl.DataFrame, pl.DataFrame]:
    """A car lapping a 600 m-radius circle anticlockwise with a varying speed: canonical telemetry (rounded
    like a logger writes it) and 8 engine signals in the tall layout."""
    n = round(duration_s * rate_hz)
    t = np.arange(n) / rate_hz
    speed_kph = 150 + 50 * np.sin(2 * np.pi * t / 30)
    v = speed_kph / 3.6
    radius = 600.0
    angle = np.cumsum(v / rate_hz) / radius
    lat, lon = from_local_xy(radius * np.cos(angle), radius * np.sin(angle), 38.16, -122.45)
    g_long = np.gradient(v, 1 / rate_hz) / G0
    gear = np.clip(speed_kph // 40 + 1, 1, 6)
    telemetry = pl.DataFrame(
        {
            "t_s": t,
            "utc": datetime(2025, 8, 1, 19, 0, tzinfo=UTC),
            "lat_deg": lat,
            "lon_deg": lon,
            "alt_m": np.round(100 + 5 * np.sin(angle), 2),
            "speed_kph": np.round(speed_kph, 3),
            "heading_deg": np.round(np.degrees(-angle) % 360, 3),
            "sats": np.full(n, 14),
            "g_lat": np.round(v**2 / radius / G0, 4),
            "g_long": np.round(g_long, 4),
            "g_vert": np.round(1 + 0.02 * np.sin(t), 4),
            "throttle_pct": np.round(np.clip(g_long * 400, 0, 100), 1),
            "brake_bar": np.round(np.clip(-g_long * 60, 0, None), 2),
            "steering_deg": np.round(np.degrees(np.arctan(2.6 / radius)) * 15, 1),
            "rpm": np.round(speed_kph / gear * 170),
            "gear": gear.astype(np.int32),
            "video_file_idx": np.ones(n, dtype=np.int32),
            "video_t_ms": np.round(t * 1000).astype(np.int64),
        }
    ).with_columns(pl.col("utc") + pl.duration(microseconds=(pl.col("t_s") * 1e6).round().cast(pl.Int64)))
    rng = np.random.default_rng(7)
    signals = pl.concat(
        pl.DataFrame({"signal_name": name, "t_s": t, "value": np.round(50 + 10 * rng.standard_normal(n), 5)})
        for name in SIGNAL_NAMES
    )
    return telemetry, signals


def write_benchmark_file(directory: Path, hours: int = 1) -> Path:
    """The ``hours``-long 20 Hz, 25-column benchmark VBO in ``directory``."""
    telemetry, signals = synthetic_session(duration_s=3600.0 * hours)
    name = "one_hour_20hz.vbo" if hours == 1 else f"{hours}_hours_20hz.vbo"
    return write_vbo(telemetry, directory / name, signals=signals, log_rate_hz=20.0)


def record(bench: str, value: float, unit: str, baseline: float, digits: int = 3) -> dict[str, object]:
    """One result line (:func:`benchmarks.report.record`); ``ratio`` is value / baseline."""
    return report.record(bench, value, unit, baseline, digits=digits, baseline_digits=digits, ratio_digits=3)


def _time_into(task: Callable[[], object], samples: list[float]) -> None:
    start = time.perf_counter()
    task()
    samples.append(time.perf_counter() - start)


def bench_parse(path: Path, *, runs: int = 5) -> tuple[list[dict[str, object]], float]:
    """(a) parse_vbo throughput (MB/s of the file) vs plain pl.read_csv on the ``[data]`` slice; also returns
    parse_vbo's median seconds, the baseline of (b)."""
    data = path.read_bytes()
    start = data.index(b"[data]")
    data_slice = data[data.index(b"\n", start) + 1 :]
    parse_vbo(data, name=path.name)  # warm-up
    ours: list[float] = []
    plain: list[float] = []
    for _ in range(runs):
        _time_into(lambda: parse_vbo(data, name=path.name), ours)
        _time_into(lambda: pl.read_csv(data_slice, separator=" ", has_header=False), plain)
    seconds = statistics.median(ours)
    value = len(data) / MB / seconds
    baseline = len(data_slice) / MB / statistics.median(plain)
    return [record("vbo_parse_1h_20hz", value, "MB/s", baseline, 1)], seconds


def import_seconds(path: Path, db: Path, library: TrackLibrary) -> float:
    """Seconds to import ``path`` into a new DuckDB file ``db`` (opening the store is not timed)."""
    store = open_store(db)
    try:
        started = time.perf_counter()
        result = import_vbo_file(store, path, library=library)
        elapsed = time.perf_counter() - started
    finally:
        store.close()
    if result.status != "imported":
        raise RuntimeError(f"{path} was not imported: {result}")
    return elapsed


def bench_import(path: Path, directory: Path, parse_s: float, *, runs: int = 5) -> list[dict[str, object]]:
    """(b) full import into DuckDB: seconds vs parse_vbo seconds, and MB/s vs parse_vbo MB/s."""
    library = TrackLibrary()
    times = [import_seconds(path, directory / f"import-{i}.duckdb", library) for i in range(runs + 1)]
    for i in range(runs + 1):
        (directory / f"import-{i}.duckdb").unlink()
    seconds = statistics.median(times[1:])
    size_mb = path.stat().st_size / MB
    return [
        record("vbo_import_duckdb_1h_20hz", seconds, "s", parse_s),
        record("vbo_import_duckdb_1h_20hz.throughput", size_mb / seconds, "MB/s", size_mb / parse_s, 1),
    ]


def bench_export(path: Path, directory: Path) -> list[dict[str, object]]:
    """(c) telemetry export to parquet (rows/s vs Polars' writer on the rows in memory), and peak RSS growth of
    exporting a 4-hour session vs a 1-hour one (fresh processes)."""
    db = directory / "export.duckdb"
    long_path = write_benchmark_file(directory, hours=4)
    store = open_store(db)
    try:
        library = TrackLibrary()
        hour = import_vbo_file(store, path, library=library).session_id
        four_hours = import_vbo_file(store, long_path, library=library).session_id
        rows_s, _ = export_rows_s(store, hour)
        ceiling, _ = polars_rows_s(export_frame(store.read_telemetry(hour)))
    finally:
        store.close()
    hour_mb, four_hours_mb = peak_rss_growth_mb(db, hour), peak_rss_growth_mb(db, four_hours)
    return [
        record("vbo_session_export_parquet.duckdb", rows_s, "rows/s", ceiling, 0),
        record("vbo_session_export_peak_rss_4h_vs_1h.duckdb", four_hours_mb, "MB", hour_mb, 1),
    ]


def measure_import_rss(path: str, db: str) -> float:
    """In this process: peak RSS growth, MB, of importing ``path`` into a new DuckDB file ``db``."""
    store, library = open_store(Path(db)), TrackLibrary()
    library.get("road-america")  # the library's files are read before the measurement, as a server has them
    try:
        return peak_rss_growth(lambda: import_vbo_file(store, Path(path), library=library))
    finally:
        store.close()


def measure_read_csv_rss(path: str, db: str) -> float:
    """In this process: peak RSS growth, MB, of ``pl.read_csv`` of the file's ``[data]`` block and a DuckDB
    ``CREATE TABLE`` of it in a new file ``db`` (the baseline of :func:`measure_import_rss`)."""
    con = duckdb.connect(db)

    def load() -> None:
        data = Path(path).read_bytes()
        _samples = pl.read_csv(  # read by name by the statement below
            data[data.index(b"\n", data.index(b"[data]")) + 1 :], separator=" ", has_header=False
        )
        con.execute("CREATE TABLE samples AS SELECT * FROM _samples")

    try:
        return peak_rss_growth(load)
    finally:
        con.close()


def bench_import_memory(path: Path, directory: Path) -> list[dict[str, object]]:
    """(d) peak RSS growth of the import against read_csv + CREATE TABLE, each in a fresh process (and a new
    database file)."""
    figures = []
    for function in ("measure_import_rss", "measure_read_csv_rss"):
        db = Path(tempfile.mkdtemp(dir=directory)) / "memory.duckdb"
        figures.append(in_fresh_process("benchmarks.import_vbo", function, str(path), str(db)))
    return [record("vbo_import_peak_rss_1h_20hz", figures[0], "MB", figures[1], 1)]


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--runs", type=int, default=7, help="timed runs per measurement (median)")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        directory = Path(tmp)
        path = write_benchmark_file(directory)
        size = {"bench": "vbo_file_size", "value": round(path.stat().st_size / MB, 2), "unit": "MB"}
        print(json.dumps(size | {"baseline": None, "ratio": None}), flush=True)
        parsed, parse_s = bench_parse(path, runs=args.runs)
        _print(parsed)
        _print(bench_import(path, directory, parse_s, runs=args.runs))
        _print(bench_import_memory(path, directory))
        _print(bench_export(path, directory))


def _print(results: list[dict[str, object]]) -> None:
    for result in results:
        print(json.dumps(result), flush=True)


if __name__ == "__main__":
    main()
