"""The parquet lake: export from both backends, read by DuckDB/Polars/pyarrow, analyze on local and dask engines."""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import UTC, date, datetime
from pathlib import Path

import duckdb
import polars as pl
import pyarrow.dataset as ds
import pytest
from polars.testing import assert_frame_equal

from pitwall import DATA_DIR, REPO_DIR
from pitwall.devserver import repo_env
from pitwall.formats.car import load_car
from pitwall.formats.track import TrackLibrary
from pitwall.formats.vbo_writer import write_vbo
from pitwall.importer import import_vbo_file
from pitwall.lake import (
    ANALYSIS_TABLES,
    MANIFEST,
    RESULTS,
    SessionFilter,
    analyze_lake,
    export_lake,
    partition_of,
)
from pitwall.live.physics import lap_profile, lap_time_s
from pitwall.store import BACKENDS, Store, open_store
from pitwall.store.base import SessionRow
from pitwall.store.lake import LakeStore, ReadOnlyStore
from pitwall.store.layered import LayeredStore
from tests.analysis import simulate_laps
from tests.conftest import new_store

SAMPLES = DATA_DIR / "samples"
REAL = {"25IR05_RdAm_FP1_Run04_KO.vbo": "KO", "25IR05_RdAm_FP1_Run05_TL.vbo": "TL"}


@pytest.fixture(scope="module")
def simulated_vbos(tmp_path_factory: pytest.TempPathFactory) -> list[tuple[Path, str]]:
    """Two simulated multi-lap Road America recordings (two drivers, different pace), written as VBO files."""
    tmp = tmp_path_factory.mktemp("sim")
    profile = lap_profile(
        TrackLibrary().get("road-america"),
        car=load_car(DATA_DIR / "cars" / "bmw_e46_m3.yaml"),
        lap_seconds=None,
    )
    files = []
    for k, (driver, pace) in enumerate({"Ann Lee": [0.97, 0.95, 0.96], "Bo": [0.93, 0.94]}.items()):
        telemetry, _ = simulate_laps(profile, lap_time_s(profile), pace=pace, rate_hz=10.0)
        path = write_vbo(telemetry, tmp / f"sim{k}.vbo", created_at=datetime(2025, 9, 1 + k, 10, 0, 0))
        files.append((path, driver))
    return files


def fill(store: Store, simulated: list[tuple[Path, str]]) -> list[str]:
    """Import the real and simulated recordings; add a session at a track no library knows."""
    library = TrackLibrary()
    ids = [
        import_vbo_file(store, SAMPLES / name, library=library, driver=d).session_id
        for name, d in REAL.items()
    ]
    ids += [import_vbo_file(store, path, library=library, driver=d).session_id for path, d in simulated]
    store.create_session(
        SessionRow(
            "nowhere-1", datetime(2025, 9, 5, tzinfo=UTC), driver="X", track="Nowhere", track_id="nowhere"
        )
    )
    store.append_telemetry("nowhere-1", pl.DataFrame({"t_s": [0.0, 0.1], "speed_kph": [10.0, 11.0]}))
    return ids


@pytest.fixture(params=BACKENDS)
def filled(
    request: pytest.FixtureRequest, tmp_path: Path, simulated_vbos: list[tuple[Path, str]]
) -> tuple[Store, list[str]]:
    store = new_store(tmp_path, request.param)
    ids = fill(store, simulated_vbos)
    yield store, ids
    store.close()


def test_export_writes_hive_partitions_read_by_duckdb_polars_and_pyarrow(
    filled: tuple[Store, list[str]], tmp_path: Path
) -> None:
    store, ids = filled
    outcomes = export_lake(store, str(tmp_path / "lake"))
    status = {o.session_id: o.status for o in outcomes}
    assert status == {**dict.fromkeys(ids, "exported"), "nowhere-1": "failed"}
    assert "not in the library" in next(o.detail for o in outcomes if o.status == "failed")
    lake = tmp_path / "lake"
    for sid in ids:
        row = store.get_session(sid)
        folder = lake / partition_of(row)
        assert sorted(p.name for p in folder.iterdir()) == [
            "corners.parquet",
            "findings.parquet",
            "laps.parquet",
            "sectors.parquet",
            "telemetry.parquet",
        ]
    assert (lake / "track=road-america/driver=ann-lee/date=2025-09-01").is_dir()

    counts = duckdb.sql(
        f"SELECT session, driver, count(*) FROM read_parquet('{lake}/*/*/*/*/telemetry.parquet', "
        "hive_partitioning = true) GROUP BY ALL"
    ).fetchall()
    assert {s: n for s, _, n in counts} == {sid: store.count_telemetry(sid) for sid in ids}
    scanned = pl.scan_parquet(lake / "*/*/*/*/laps.parquet", hive_partitioning=True).collect()
    assert set(scanned["track"]) == {"road-america"} and set(scanned["session"]) == set(ids)
    files = sorted(str(path) for path in lake.glob("*/*/*/*/telemetry.parquet"))
    dataset = ds.dataset(files, format="parquet", partitioning="hive", partition_base_dir=str(lake))
    assert {"track", "driver", "date", "session"} <= set(dataset.schema.names)
    assert dataset.count_rows() == sum(store.count_telemetry(sid) for sid in ids)
    # the exported laps are the stored laps
    for sid in ids:
        stored = store.list_laps(session_id=sid, limit=100).sort("lap")
        exported = scanned.filter(pl.col("session_id") == sid).sort("lap")
        assert exported["duration_s"].to_list() == pytest.approx(stored["duration_s"].to_list(), abs=1e-9)


def test_export_is_incremental_and_filtered(filled: tuple[Store, list[str]], tmp_path: Path) -> None:
    store, ids = filled
    dest = str(tmp_path / "lake")
    only_bo = export_lake(store, dest, only=SessionFilter(driver="Bo"))
    assert [o.status for o in only_bo] == ["exported"]
    again = export_lake(store, dest, only=SessionFilter(since=date(2025, 8, 1), until=date(2025, 9, 3)))
    assert sorted(o.status for o in again) == ["exported", "exported", "exported", "unchanged"]
    manifest = json.loads((tmp_path / "lake" / MANIFEST).read_text())
    assert set(manifest["sessions"]) == set(ids)
    before = (
        (tmp_path / "lake" / manifest["sessions"][ids[0]]["path"] / "telemetry.parquet").stat().st_mtime_ns
    )
    assert all(o.status in ("unchanged", "failed") for o in export_lake(store, dest))
    after = (
        (tmp_path / "lake" / manifest["sessions"][ids[0]]["path"] / "telemetry.parquet").stat().st_mtime_ns
    )
    assert before == after
    # a session whose content changes is written again
    old_folder = tmp_path / "lake" / manifest["sessions"][ids[0]]["path"]
    store.update_session(ids[0], driver="KO2")  # metadata: the session moves to its new partition
    changed = {o.session_id: o.status for o in export_lake(store, dest)}
    assert changed[ids[0]] == "exported" and not old_folder.exists()
    assert (tmp_path / "lake" / partition_of(store.get_session(ids[0])) / "laps.parquet").is_file()
    store.append_telemetry(ids[-1], pl.DataFrame({"t_s": [10_000.0]}))
    store.update_session(ids[-1], n_frames=store.count_telemetry(ids[-1]), content_hash="")
    changed = {o.session_id: o.status for o in export_lake(store, dest)}
    assert changed[ids[-1]] == "exported"
    assert not list((tmp_path / "lake" / ".staging").iterdir())


@pytest.fixture(scope="module")
def lake(tmp_path_factory: pytest.TempPathFactory, simulated_vbos: list[tuple[Path, str]]) -> Path:
    tmp = tmp_path_factory.mktemp("lake")
    store = open_store(tmp / "src.duckdb")
    try:
        fill(store, simulated_vbos)
        export_lake(store, str(tmp / "lake"))
    finally:
        store.close()
    return tmp / "lake"


def results_of(root: Path) -> dict[str, pl.DataFrame]:
    tables = {
        name: pl.read_parquet(root / RESULTS / name / "**" / "part.parquet", hive_partitioning=False).sort(
            "session_id", "idx" if name == "findings" else "lap"
        )
        for name in ANALYSIS_TABLES
    }
    for name in ("leaderboard", "consistency", "driver_evolution"):
        tables[name] = pl.read_parquet(root / RESULTS / f"{name}.parquet")
    return tables


def test_dask_engine_gives_the_local_engine_results(lake: Path, tmp_path: Path) -> None:
    import shutil

    copy = tmp_path / "copy"
    shutil.copytree(lake, copy)
    local = analyze_lake(str(lake), engine="local")
    from dask.distributed import Client, LocalCluster

    with (
        LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None) as cluster,
        Client(cluster),
    ):
        remote = analyze_lake(str(copy), engine="dask", scheduler=cluster.scheduler_address)
    assert [(r.session_id, dict(r.rows), r.error) for r in local] == [
        (r.session_id, dict(r.rows), r.error) for r in remote
    ]
    assert all(r.error is None for r in local) and len(local) == 4
    a, b = results_of(lake), results_of(copy)
    for name in a:
        if name != "findings":
            assert_frame_equal(a[name], b[name])
    # the findings' numbers come from multi-threaded Polars reductions (sums in a different order in another
    # process): equal to the last few bits, every other column identical
    assert_frame_equal(a["findings"].drop("metrics_json"), b["findings"].drop("metrics_json"))
    for left, right in zip(a["findings"]["metrics_json"], b["findings"]["metrics_json"], strict=True):
        mine, theirs = json.loads(left), json.loads(right)
        assert mine.keys() == theirs.keys()
        for key, value in mine.items():
            other = theirs[key]
            assert (
                value == other if value is None or other is None else value == pytest.approx(other, rel=1e-9)
            )
    assert a["findings"].height > 0 and a["findings"]["kind"].null_count() == 0  # the coach's, per session
    # the per-session results equal what the export computed from the store
    exported = pl.read_parquet(lake / "*/*/*/*/laps.parquet").sort("session_id", "lap")
    assert_frame_equal(exported, a["laps"])
    board = a["leaderboard"]
    assert board.height == 3  # KO, Ann Lee, Bo at Road America (TL has no flying lap)
    drivers = pl.read_parquet(lake / "sessions.parquet").select("session_id", "driver")
    flying = a["laps"].filter(pl.col("valid") & (pl.col("kind") == "flying")).join(drivers, on="session_id")
    for driver in ("Bo", "Ann Lee", "KO"):
        best = flying.filter(pl.col("driver") == driver)["duration_s"].min()
        assert board.filter(pl.col("driver") == driver)["best_lap_s"][0] == best
    evolution = a["driver_evolution"]
    assert evolution.filter(pl.col("driver") == "Ann Lee")["delta_to_first_s"].to_list() == [0.0]


def test_a_failed_session_does_not_stop_the_others(lake: Path, tmp_path: Path) -> None:
    import shutil

    copy = tmp_path / "broken"
    shutil.copytree(lake, copy)
    manifest = json.loads((copy / MANIFEST).read_text())
    victim = sorted(manifest["sessions"])[0]
    (copy / manifest["sessions"][victim]["path"] / "telemetry.parquet").write_bytes(b"not parquet")
    results = {r.session_id: r for r in analyze_lake(str(copy))}
    assert results[victim].error is not None
    assert all(r.error is None for sid, r in results.items() if sid != victim)


def test_a_lake_opens_read_only_as_a_store(lake: Path) -> None:
    store = open_store(lake)
    try:
        assert isinstance(store, LakeStore)
        sessions = store.list_sessions(limit=100)
        assert sessions.height == 4
        sid = sessions.filter(pl.col("driver") == "Bo")["session_id"][0]
        assert sessions.filter(pl.col("driver") == "Bo")["lap_count"][0] >= 2
        assert store.read_telemetry(sid).height == store.count_telemetry(sid) > 0
        assert store.leaderboard(limit=10)["driver"].to_list()[0] in {"Bo", "Ann Lee", "KO"}
        with pytest.raises(ReadOnlyStore):
            store.add_coaching_note(sid, "x", "rule", {})
        with pytest.raises(ReadOnlyStore):
            store.delete_session(sid)
    finally:
        store.close()


def test_export_lake_and_analyze_cli(tmp_path: Path, simulated_vbos: list[tuple[Path, str]]) -> None:
    db = tmp_path / "cli.sqlite"
    store = open_store(db)
    fill(store, simulated_vbos[:1])
    store.close()
    run = [sys.executable, "-m", "pipelines"]
    exported = subprocess.run(
        [*run, "export-lake", str(tmp_path / "lake"), "--db", str(db), "--json"],
        capture_output=True,
        text=True,
        cwd=REPO_DIR,
        env=repo_env(),
        timeout=120,
    )
    lines = [json.loads(line) for line in exported.stdout.splitlines()]
    assert exported.returncode == 1  # the session at an unknown track failed, the others went on
    assert sorted(line["status"] for line in lines) == ["exported", "exported", "exported", "failed"]
    analysed = subprocess.run(
        [*run, "analyze", str(tmp_path / "lake")],
        capture_output=True,
        text=True,
        cwd=REPO_DIR,
        env=repo_env(),
        timeout=120,
    )
    assert analysed.returncode == 0, analysed.stderr
    assert "3 analysed, 0 failed (local)" in analysed.stdout
    missing = subprocess.run(
        [*run, "analyze", str(tmp_path / "nothing")],
        capture_output=True,
        text=True,
        cwd=REPO_DIR,
        env=repo_env(),
        timeout=60,
    )
    assert missing.returncode == 2 and "no lake" in missing.stderr
    assert not (tmp_path / "nothing").exists()


def test_the_server_browses_a_lake_read_only(lake: Path) -> None:
    import httpx

    from pitwall.devserver import server_process

    with server_process(lake) as (_, url):
        sessions = httpx.get(f"{url}/sessions", params={"limit": 100}).json()
        rows = {s["driver"]: s for s in sessions["sessions"]}
        assert set(rows) == {"KO", "TL", "Ann Lee", "Bo"}
        table = httpx.get(f"{url}/session/{rows['Bo']['session_id']}/lap_time_table").json()
        assert table["best_lap_s"] == pytest.approx(rows["Bo"]["best_lap_s"], abs=1e-6)
        refused = httpx.post(f"{url}/session/start", json={"driver": "Z"})
        assert refused.status_code == 409 and refused.json()["error"] == "read-only store"


def test_a_lake_on_an_fsspec_url(tmp_path: Path) -> None:
    """The same export and analysis on ``memory://`` (any fsspec file system: object stores alike)."""
    import uuid

    import fsspec

    store = open_store(tmp_path / "src.duckdb")
    try:
        import_vbo_file(store, SAMPLES / "25IR05_RdAm_FP1_Run04_KO.vbo", library=TrackLibrary(), driver="KO")
        url = f"memory://lake-{uuid.uuid4().hex}"
        assert [o.status for o in export_lake(store, url)] == ["exported"]
        assert [o.status for o in export_lake(store, url)] == ["unchanged"]
    finally:
        store.close()
    results = analyze_lake(url)
    assert [r.error for r in results] == [None] and results[0].rows["laps"] == 3
    fs = fsspec.filesystem("memory")
    root = url.removeprefix("memory://")
    assert fs.exists(f"{root}/results/leaderboard.parquet") and fs.exists(f"{root}/{MANIFEST}")
    assert len(fs.glob(f"{root}/*/*/*/*/telemetry.parquet")) == 1


def test_the_server_opens_a_lake_beside_its_database(lake: Path, tmp_path: Path) -> None:
    """``--lake``: the lake's sessions are listed, analysed and ranked with the database's own; imports and
    live sessions go to the database; a write to a lake session is refused (409) and the lake is unchanged."""
    import httpx

    from pitwall.devserver import server_process

    db = tmp_path / "own.duckdb"
    store = open_store(db)
    own = import_vbo_file(
        store, SAMPLES / "25IR05_RdAm_FP1_Run01_KO.vbo", library=TrackLibrary(), driver="Me"
    )
    store.close()
    lake_files = sorted((p, p.stat().st_mtime_ns) for p in lake.rglob("*") if p.is_file())
    with server_process(db, "--lake", str(lake), "--import-root", str(DATA_DIR)) as (_, url):
        sessions = {
            s["driver"]: s for s in httpx.get(f"{url}/sessions", params={"limit": 100}).json()["sessions"]
        }
        assert set(sessions) == {"Me", "KO", "TL", "Ann Lee", "Bo"}
        bo = sessions["Bo"]["session_id"]
        table = httpx.get(f"{url}/session/{bo}/lap_time_table").json()
        assert table["best_lap_s"] == pytest.approx(sessions["Bo"]["best_lap_s"], abs=1e-6)
        assert httpx.get(f"{url}/session/{own.session_id}/laps").status_code == 200
        board = httpx.get(f"{url}/leaderboard").json()["entries"]
        assert {e["driver"] for e in board} >= {"Ann Lee", "Bo", "KO"}
        assert [e["rank"] for e in board] == list(range(1, len(board) + 1))
        assert [e["lap_time_s"] for e in board] == sorted(e["lap_time_s"] for e in board)
        refused = httpx.delete(f"{url}/session/{bo}")
        assert refused.status_code == 409 and refused.json()["error"] == "read-only store"
        started = httpx.post(f"{url}/session/start", json={"driver": "Z"})
        assert started.status_code == 200  # live sessions go to the database
        imported = httpx.post(
            f"{url}/session/import", json={"vbo_path": str(SAMPLES / "25IR05_RdAm_FP1_Run05_TL.vbo")}
        )
        assert imported.status_code == 200, imported.text
    assert sorted((p, p.stat().st_mtime_ns) for p in lake.rglob("*") if p.is_file()) == lake_files
    store = open_store(db)
    try:
        assert (
            store.list_sessions(limit=100).height == 3
        )  # own, the live one, the import: nothing of the lake
    finally:
        store.close()


def test_a_lake_beside_a_database_lists_laps_newest_session_first(lake: Path, tmp_path: Path) -> None:
    """Laps of every session, merged from the database and the lake in the stores' own order (newest session
    first, then by lap), so a limit keeps the newest wherever they are stored."""
    store = open_store(tmp_path / "own.duckdb")
    own = import_vbo_file(
        store, SAMPLES / "25IR05_RdAm_FP1_Run01_KO.vbo", library=TrackLibrary(), driver="Me"
    )
    layered = LayeredStore(store, LakeStore(lake))
    try:
        laps = layered.list_laps(limit=1000)
        assert {own.session_id} < set(laps["session_id"]) and laps["driver"].n_unique() == 5
        newest = laps.sort("started_at", descending=True)["session_id"][0]
        assert layered.holder(newest) is layered.lake  # the database's laps are not the newest
        starts = [
            (-row["started_at"].timestamp(), row["session_id"], row["lap"])
            for row in laps.iter_rows(named=True)
        ]
        assert starts == sorted(starts)
        assert_frame_equal(layered.list_laps(limit=3), laps.head(3))
        assert layered.list_laps(limit=3)["session_id"].to_list() == [newest] * 3
    finally:
        layered.close()
