"""Scale: ``export-lake`` and ``analyze`` over 10 … 10,000 synthetic sessions, local engine and a 2-worker dask
``LocalCluster``.

Sessions come from the physics simulator (``pitwall.live.physics``): one two-lap Road America drive at 10 Hz is
generated once and stored under many session ids, drivers and days (a DuckDB file per size), so every session
costs the same and the per-session figures show the overhead that grows with the number of sessions. For each
size N it prints: export seconds per session, ``analyze --engine local`` seconds per session, and (up to
``--dask-max``) ``--engine dask`` seconds per session on a ``LocalCluster(n_workers=2)``; the ratios are against
the same figure at 100 sessions (flat = 1.0; target ≤ 1.5 at 10,000) and dask against local at the same N.
Export and the local engine are also reported in CPU seconds of this process per session (``scale.<step>_cpu``):
the cost itself, which other work on a shared machine does not inflate the way it inflates wall time.

    .venv/bin/python -m benchmarks.scale [--sizes 10,100,1000] [--dask-max 1000]

10,000 sessions take about 30 minutes on 2 shared cores (add 10000 to ``--sizes``).
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import polars as pl

from benchmarks.report import emit
from pitwall import DATA_DIR
from pitwall.formats.car import load_car
from pitwall.formats.track import TrackLibrary
from pitwall.lake import analyze_lake, export_lake
from pitwall.live.physics import lap_profile, lap_time_s
from pitwall.store import open_store
from pitwall.store.base import SessionRow


def drive() -> pl.DataFrame:
    """Two simulated laps of Road America at 10 Hz (canonical columns), from the physics lap profile."""
    from tests.analysis import simulate_laps

    track = TrackLibrary().get("road-america")
    profile = lap_profile(track, car=load_car(DATA_DIR / "cars" / "bmw_e46_m3.yaml"), lap_seconds=None)
    telemetry, _ = simulate_laps(profile, lap_time_s(profile), pace=[0.97, 0.95], rate_hz=10.0)
    return telemetry


def fill(db: Path, n: int, telemetry: pl.DataFrame) -> None:
    """``n`` sessions of ``telemetry`` in a new database: 20 drivers, one day per 20 sessions."""
    store = open_store(db)
    start = datetime(2025, 1, 1, 9, tzinfo=UTC)
    try:
        for k in range(n):
            sid = f"sim-{k:05d}"
            store.create_session(
                SessionRow(
                    sid,
                    start + timedelta(days=k // 20, minutes=k % 20),
                    driver=f"driver-{k % 20:02d}",
                    track="Road America",
                    track_id="road-america",
                    source="simulator",
                    n_frames=telemetry.height,
                )
            )
            store.append_telemetry(sid, telemetry)
    finally:
        store.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--sizes", default="10,100,1000", help="comma-separated session counts (must include 100)"
    )
    parser.add_argument("--dask-max", type=int, default=1000, help="largest size also run on dask")
    args = parser.parse_args()
    sizes = sorted({int(x) for x in args.sizes.split(",")} | {100})
    telemetry = drive()
    work = Path(tempfile.mkdtemp(prefix="pitwall-scale-"))
    cost: dict[tuple[str, int], float] = {}
    try:
        for n in sizes:
            db, lake = work / f"s{n}.duckdb", work / f"lake{n}"
            fill(db, n, telemetry)
            store = open_store(db)
            t0, c0 = time.perf_counter(), time.process_time()
            outcomes = export_lake(store, str(lake))
            cost["export", n] = (time.perf_counter() - t0) / n
            cost["export_cpu", n] = (time.process_time() - c0) / n
            store.close()
            assert all(o.status == "exported" for o in outcomes), outcomes[:3]
            t0, c0 = time.perf_counter(), time.process_time()
            results = analyze_lake(str(lake), engine="local")
            cost["local", n] = (time.perf_counter() - t0) / n
            cost["local_cpu", n] = (time.process_time() - c0) / n
            assert all(r.error is None for r in results)
            if n <= args.dask_max:
                from dask.distributed import Client, LocalCluster

                with (
                    LocalCluster(n_workers=2, threads_per_worker=1, dashboard_address=None) as cluster,
                    Client(cluster),
                ):
                    t0 = time.perf_counter()
                    analyze_lake(str(lake), engine="dask", scheduler=cluster.scheduler_address)
                    cost["dask", n] = (time.perf_counter() - t0) / n
            shutil.rmtree(lake)
            db.unlink()
    finally:
        shutil.rmtree(work, ignore_errors=True)
    for n in sizes:
        for engine in ("export", "export_cpu", "local", "local_cpu", "dask"):
            if (engine, n) in cost:
                base = cost.get((engine, 100))
                emit(f"scale.{engine}.n{n}", cost[engine, n] * 1000, "ms/session", base and base * 1000)
        if ("dask", n) in cost:
            emit(f"scale.dask_vs_local.n{n}", cost["dask", n] * 1000, "ms/session", cost["local", n] * 1000)


if __name__ == "__main__":
    main()
