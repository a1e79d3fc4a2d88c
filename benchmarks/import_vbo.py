"""VBO import benchmarks; each prints one JSON object per line:
``{"bench": name, "value": x, "unit": u, "baseline": y, "ratio": r}``.

(a) ``bench_parse``: :func:`pitwall.formats.vbo.parse_vbo` on a generated 1-hour 20 Hz session
(72,000 rows × 25 columns, written by :func:`pitwall.formats.vbo_writer.write_vbo`) against plain
``pl.read_csv`` of the same file's ``[data]`` byte slice, in the same run (median of ``runs``, interleaved).

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

import numpy as np
import polars as pl

from pitwall.analysis.geo import from_local_xy
from pitwall.formats.vbo import parse_vbo
from pitwall.formats.vbo_writer import write_vbo
from pitwall.schema import G0

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


def write_benchmark_file(directory: Path) -> Path:
    """The 1-hour 20 Hz, 25-column benchmark VBO in ``directory``."""
    telemetry, signals = synthetic_session()
    return write_vbo(telemetry, directory / "one_hour_20hz.vbo", signals=signals, log_rate_hz=20.0)


def _time_into(task: Callable[[], object], samples: list[float]) -> None:
    start = time.perf_counter()
    task()
    samples.append(time.perf_counter() - start)


def bench_parse(path: Path, *, runs: int = 5) -> list[dict[str, object]]:
    """(a) parse_vbo throughput (MB/s of the file) vs plain pl.read_csv on the ``[data]`` slice."""
    data = path.read_bytes()
    start = data.index(b"[data]")
    data_slice = data[data.index(b"\n", start) + 1 :]
    parse_vbo(data, name=path.name)  # warm-up
    ours: list[float] = []
    plain: list[float] = []
    for _ in range(runs):
        _time_into(lambda: parse_vbo(data, name=path.name), ours)
        _time_into(lambda: pl.read_csv(data_slice, separator=" ", has_header=False), plain)
    mb = 1024 * 1024
    value = len(data) / mb / statistics.median(ours)
    baseline = len(data_slice) / mb / statistics.median(plain)
    return [
        {
            "bench": "vbo_parse_1h_20hz",
            "value": round(value, 1),
            "unit": "MB/s",
            "baseline": round(baseline, 1),
            "ratio": round(value / baseline, 3),
        }
    ]


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--runs", type=int, default=7, help="timed runs per measurement (median)")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        path = write_benchmark_file(Path(tmp))
        size = {"bench": "vbo_file_size", "value": round(path.stat().st_size / 1024 / 1024, 2), "unit": "MB"}
        print(json.dumps(size | {"baseline": None, "ratio": None}))
        for result in bench_parse(path, runs=args.runs):
            print(json.dumps(result))


if __name__ == "__main__":
    main()
