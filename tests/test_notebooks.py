"""The marimo notebooks run headless on the sample database built by ``python -m pipelines sample-db``.

Notebooks run in-process with ``app.run()`` (their CLI arguments set through ``sys.argv``, as in script mode) so
their definitions can be checked against the HTTP API and the analysis pipelines; ``marimo check`` and
``marimo export html`` run as subprocesses, exactly as an engineer or CI would run them.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import subprocess
import sys
from datetime import datetime
from pathlib import Path
from typing import Any

import altair as alt
import polars as pl
import pytest
from litestar.testing import TestClient

from pipelines.__main__ import main as pipelines_main
from pipelines.build_sample_db import build_sample_db, driver_code, sample_files
from pitwall import DATA_DIR, REPO_DIR
from pitwall.api.app import create_app
from pitwall.config import Settings
from pitwall.formats.canlog import write_can_log
from pitwall.formats.car import load_car
from pitwall.formats.dbc import load_dbc
from pitwall.formats.errors import ReadError
from pitwall.formats.track import TRACKS_DIR, TrackLibrary, load_track
from pitwall.formats.vbo_writer import write_vbo
from pitwall.importer import import_vbo_file
from pitwall.live.physics import lap_profile, lap_time_s
from pitwall.live.simulator import Simulator
from pitwall.store import open_store
from tests.analysis import simulate_laps

ROAD_AMERICA_TURNS = [c.number for c in load_track(TRACKS_DIR / "road-america.json").corners]
"""The public turn numbers of Road America in lap order (1, 3, 5, …; see data/tracks/overrides)."""

NOTEBOOKS = REPO_DIR / "notebooks"
NAMES = ("session_explorer", "lap_compare", "can_inspector", "driver_progress", "coach_review")
CAR = DATA_DIR / "cars" / "bmw_e46_m3.yaml"
DBC = DATA_DIR / "dbc" / "pitwall.dbc"
RUN04 = "25IR05_RdAm_FP1_Run04_KO.vbo"
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(scope="session")
def sample_db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The sample database, built from ``data/samples/*.vbo`` with the real importer."""
    path = tmp_path_factory.mktemp("sample-db") / "sample.duckdb"
    build_sample_db(path)
    return path


@pytest.fixture(scope="module")
def sample_sessions(sample_db: Path) -> pl.DataFrame:
    store = open_store(sample_db)
    try:
        return store.list_sessions(limit=1000)
    finally:
        store.close()


@pytest.fixture(scope="module")
def two_laps_db(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    """A database with one session of two complete laps of Road America at different pace (97 % then 95 % of
    the car's physics lap), written as a VBO and imported with the real importer."""
    tmp = tmp_path_factory.mktemp("two-laps")
    library = TrackLibrary()
    profile = lap_profile(library.get("road-america"), car=load_car(CAR), lap_seconds=None)
    telemetry, _ = simulate_laps(profile, lap_time_s(profile), pace=[0.97, 0.95], rate_hz=10.0)
    vbo = write_vbo(telemetry, tmp / "two-laps.vbo", created_at=datetime(2025, 8, 2, 10, 0, 0))
    store = open_store(tmp / "two-laps.duckdb")
    try:
        session_id = import_vbo_file(store, vbo, library=library, driver="SIM").session_id
    finally:
        store.close()
    return tmp / "two-laps.duckdb", session_id


def run_notebook(name: str, monkeypatch: pytest.MonkeyPatch, *args: str) -> dict[str, Any]:
    """Run ``notebooks/<name>.py`` headless with CLI ``args``; returns its definitions (raises on a cell error)."""
    path = NOTEBOOKS / f"{name}.py"
    monkeypatch.setattr(sys, "argv", [str(path), *args])
    spec = importlib.util.spec_from_file_location(f"notebook_{name}", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    _, defs = module.app.run()
    return dict(defs)


def session_of(sessions: pl.DataFrame, vbo: str) -> str:
    return str(sessions.filter(pl.col("vbo_source") == vbo)["session_id"][0])


def test_marimo_check_passes_on_every_notebook() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "marimo", "check", "--strict", *(str(NOTEBOOKS / f"{n}.py") for n in NAMES)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.slow
def test_every_notebook_exports_to_html_without_a_cell_error(sample_db: Path, tmp_path: Path) -> None:
    """``marimo export html`` of each notebook on its own copy of the sample database (DuckDB allows one
    process per file), run in parallel; exit 0, no traceback, no failure callout in the page."""
    env = {**os.environ, "PYTHONPATH": str(REPO_DIR)}
    running = {}
    for name in NAMES:
        db = shutil.copy(sample_db, tmp_path / f"{name}.duckdb")
        command = [
            sys.executable,
            "-m",
            "marimo",
            "export",
            "html",
            "--no-include-code",
            str(NOTEBOOKS / f"{name}.py"),
        ]
        command += ["-o", str(tmp_path / f"{name}.html"), "--", "--db", str(db)]
        running[name] = subprocess.Popen(
            command, env=env, cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
        )
    for name, process in running.items():
        out, err = process.communicate(timeout=120)
        assert process.returncode == 0, f"{name}: {out}{err}"
        assert "Traceback" not in err and "MarimoExceptionRaisedError" not in err, f"{name}: {err}"
        page = (tmp_path / f"{name}.html").read_text(encoding="utf-8")
        for failure in ("Cannot open", "No database at", "not loaded", "not read", "cannot analyse"):
            assert failure not in page, f"{name}: {failure}"
        assert "vegalite" in page, f"{name} shows no chart"


def test_session_explorer_lap_table_equals_the_api(
    sample_db: Path, sample_sessions: pl.DataFrame, monkeypatch: pytest.MonkeyPatch
) -> None:
    sid = session_of(sample_sessions, RUN04)
    defs = run_notebook("session_explorer", monkeypatch, "--db", str(sample_db), "--session", sid)
    assert defs["view"].session_id == sid
    lap_table: pl.DataFrame = defs["lap_table"]
    with TestClient(create_app(Settings(db=sample_db))) as client:
        response = client.get(f"/session/{sid}/lap_time_table")
        corners = client.get(f"/session/{sid}/corners")
    assert response.status_code == 200, response.text
    assert corners.status_code == 200, corners.text
    assert corners.json()["corners"] == defs["corner_table"].to_dicts()  # complete laps, same reference
    body = response.json()
    ours = [{k: row[k] for k in lap_table.columns} for row in body["laps"]]  # without the original's aliases
    assert ours == lap_table.to_dicts()
    assert lap_table["lap"].to_list() == [1, 2, 3]
    assert lap_table.filter(pl.col("is_best_lap"))["lap"].to_list() == [body["best_lap"]] == [2]
    assert defs["telemetry"].height == 10_401
    assert defs["corner_table"]["corner"].to_list() == ROAD_AMERICA_TURNS
    assert defs["pedal_by_lap"]["lap"].to_list() == [1, 2, 3]
    assert defs["friction_points"].height > 1000


def test_session_explorer_opens_the_best_session_and_explains_a_missing_database(
    sample_db: Path, sample_sessions: pl.DataFrame, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PITWALL_DB", str(sample_db))
    defs = run_notebook("session_explorer", monkeypatch)
    assert defs["view"].session_id == session_of(sample_sessions, RUN04)  # the one session with a timed lap
    missing = run_notebook("session_explorer", monkeypatch, "--db", str(tmp_path / "nothing.duckdb"))
    assert (
        "sessions" not in missing and not (tmp_path / "nothing.duckdb").exists()
    )  # stopped, nothing created


def test_lap_compare_two_laps_delta_sector_and_corner_gains(
    two_laps_db: tuple[Path, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    db, sid = two_laps_db
    png = tmp_path / "compare.png"
    defs = run_notebook(
        "lap_compare", monkeypatch, "--db", str(db), "--a", f"{sid}:2", "--b", f"{sid}:3", "--png", str(png)
    )
    laps = defs["views"][sid].laps
    duration = dict(zip(laps["lap"].to_list(), laps["duration_s"].to_list(), strict=True))
    lost = duration[3] - duration[2]
    assert lost > 2.0  # lap 3 was driven at 95 % pace, lap 2 at 97 %
    assert defs["same_lap"] is False
    delta: pl.DataFrame = defs["delta"]
    assert delta["s_m"][-1] == pytest.approx(defs["track"].length_m)
    assert delta["delta_s"][-1] == pytest.approx(lost, abs=1e-9)
    assert delta["delta_s"][0] == 0.0
    sectors: pl.DataFrame = defs["sector_gains"]
    assert sectors["sector"].to_list() == [1, 2, 3]
    assert sectors["gain_s"].sum() == pytest.approx(lost, abs=1e-6)
    assert (sectors["gain_s"] > 0).all()
    corners: pl.DataFrame = defs["corner_gains"]
    assert corners.height == 12 and (corners["delta_to_reference_s"] > 0).all()
    assert (corners["reference_source"] == "reference_lap").all()  # lap A is the reference of every corner
    braking: pl.DataFrame = defs["braking_table"]
    assert (
        braking.height >= 5 and (braking["delta_m"].abs() < 5.0).all()
    )  # same line: within one 10 Hz sample
    chart: alt.VConcatChart = defs["compare_chart"]
    panels = chart.to_dict()["vconcat"]
    assert len(panels) == 4  # speed, throttle, brake_bar, delta-T
    assert png.read_bytes()[:8] == PNG_MAGIC


def test_lap_compare_on_the_sample_db_shows_its_only_complete_lap(
    sample_db: Path, sample_sessions: pl.DataFrame, monkeypatch: pytest.MonkeyPatch
) -> None:
    defs = run_notebook("lap_compare", monkeypatch, "--db", str(sample_db))
    sid = session_of(sample_sessions, RUN04)
    assert defs["complete_laps"].select("session_id", "lap").rows() == [(sid, 2)]
    assert defs["same_lap"] is True and defs["delta"] is None
    assert list(defs["traces"]) == ["A"]
    assert defs["braking_table"]["corner"].to_list()[:3] == ROAD_AMERICA_TURNS[:3]
    assert "sector_gains" not in defs and "corner_gains" not in defs
    assert len(defs["compare_chart"].to_dict()["vconcat"]) == 3


def test_can_inspector_on_a_simulator_recording(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    car = load_car(CAR)
    simulator = Simulator(load_track(DATA_DIR / "tracks" / "sonoma.json"), car, load_dbc([DBC]))
    log = tmp_path / "simulator.log"
    write_can_log(simulator.frames_between(0.0, 10.0).to_frame(), log)
    defs = run_notebook("can_inspector", monkeypatch, "--dbc", str(DBC), "--log", str(log))
    ids: pl.DataFrame = defs["id_table"]
    expected = {f.frame_id: f.rate_hz for f in car.frames}
    assert sorted(ids["arbitration_id"].to_list()) == sorted(expected)
    assert ids["message"].null_count() == 0 and defs["unknown_ids"].height == 0
    for frame_id, rate in ids.select("arbitration_id", "rate_hz").iter_rows():
        assert rate == pytest.approx(expected[frame_id], rel=1e-6)
    assert ids.filter(pl.col("arbitration_id") == 0x420)["id_hex"].to_list() == ["0x420"]
    signals: pl.DataFrame = defs["signals"]
    rpm = signals.filter(pl.col("signal") == "rpm")["value"]
    assert car.drivetrain is not None
    assert rpm.len() == 500  # 10 s of the 50 Hz engine frame
    assert rpm.is_between(car.drivetrain.idle_rpm, car.drivetrain.redline_rpm).all()
    assert signals["t_s"].is_between(0.0, 10.0, closed="left").all()  # seconds since the first frame
    assert defs["signal_picker"].value  # something to plot by default
    recorded = run_notebook(
        "can_inspector", monkeypatch, "--source", "simulator"
    )  # the notebook's own recording
    assert recorded["frames"].height > defs["frames"].height and recorded["unknown_ids"].height == 0


def test_can_inspector_on_the_real_capture_lists_its_unknown_ids(monkeypatch: pytest.MonkeyPatch) -> None:
    defs = run_notebook("can_inspector", monkeypatch)  # default log: data/samples/fsae-pe3-ecu-capture.csv
    frames: pl.DataFrame = defs["frames"]
    ids: pl.DataFrame = defs["id_table"]
    assert ids["id_hex"].to_list() == [f"0x0CFFF{k}48" for k in "012345BC"]  # the PE3 ECU's 29-bit ids
    assert ids["n_frames"].sum() == frames.height and ids["is_extended"].all()
    assert defs["unknown_ids"].height == 8  # the PE3 ECU's frames are not in pitwall.dbc
    assert defs["signals"].height == 0 and defs["decoder"].unknown_frames == frames.height
    assert (ids["rate_hz"] > 0).all()


def test_driver_progress_on_the_sample_db(
    sample_db: Path, sample_sessions: pl.DataFrame, monkeypatch: pytest.MonkeyPatch
) -> None:
    defs = run_notebook("driver_progress", monkeypatch, "--db", str(sample_db))
    assert defs["driver_picker"].value == "KO" and defs["track_picker"].value == "Road America"
    progress: pl.DataFrame = defs["progress"]
    run01 = session_of(sample_sessions, "25IR05_RdAm_FP1_Run01_KO.vbo")
    run04 = session_of(sample_sessions, RUN04)
    assert progress["session_id"].to_list() == [run01, run04]  # in time order
    assert progress["best_lap_s"][0] is None
    board: pl.DataFrame = defs["leaderboard"]
    assert board["driver"][0] == "KO"
    assert progress["best_lap_s"][1] == pytest.approx(board["best_lap_s"][0], abs=1e-9)
    assert progress["best_lap_s"][1] == pytest.approx(114.96, abs=0.01)
    corners: pl.DataFrame = defs["corner_progress"]
    assert corners["session"].unique().to_list() == [run04]  # the only session with a complete lap
    assert corners["corner"].to_list() == ROAD_AMERICA_TURNS
    assert (corners["n_passes"] == 1).all() and corners["grade"].is_null().all()  # one lap: no reference
    other = run_notebook("driver_progress", monkeypatch, "--db", str(sample_db), "--driver", "TL")
    assert other["progress"]["n_valid_laps"].to_list() == [0]


def test_sample_db_job_rebuilds_the_same_sessions(tmp_path: Path) -> None:
    db = tmp_path / "sample.duckdb"
    assert pipelines_main(["sample-db", "--db", str(db)]) == 0
    assert pipelines_main(["sample-db", "--db", str(db)]) == 0  # replaced, not appended to
    store = open_store(db)
    try:
        sessions = store.list_sessions(limit=1000)
        laps = store.list_laps(limit=1000)
    finally:
        store.close()
    assert sorted(sessions["vbo_source"]) == sorted(p.name for p in sample_files())
    drivers = dict(zip(sessions["vbo_source"], sessions["driver"], strict=True))
    assert (drivers[RUN04], drivers["25IR05_RdAm_FP1_Run05_TL.vbo"]) == ("KO", "TL")
    assert laps.filter(pl.col("kind") == "flying")["duration_s"].to_list() == pytest.approx(
        [114.96], abs=0.01
    )


def test_sample_db_build_fails_cleanly_and_keeps_the_old_database(tmp_path: Path) -> None:
    db = tmp_path / "sample.duckdb"
    build_sample_db(db, files=[DATA_DIR / "samples" / RUN04])
    before = db.read_bytes()
    bad = tmp_path / "broken_KO.vbo"
    bad.write_bytes(b"\x00\x01 not a vbo")
    with pytest.raises(ReadError):
        build_sample_db(db, files=[DATA_DIR / "samples" / RUN04, bad])
    assert db.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["broken_KO.vbo", "sample.duckdb"]
    assert [driver_code(Path(n)) for n in ("a_Run01_KO.vbo", "a_TL.vbo", "KO.vbo", "run_ko.vbo")] == [
        "KO",
        "TL",
        "",
        "",
    ]


def test_coach_review_shows_the_debrief_findings_beside_the_traces(
    two_laps_db: tuple[Path, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    db, sid = two_laps_db
    png = tmp_path / "review.png"
    defs = run_notebook("coach_review", monkeypatch, "--db", str(db), "--session", sid, "--png", str(png))
    review = defs["review"]
    with TestClient(create_app(Settings(db=db))) as client:
        corners = client.get(f"/session/{sid}/corners").json()["corners"]
    expected = sorted(corners, key=lambda c: -c["delta_to_reference_s"])[:3]
    assert [(f.corner, f.gain_s) for f in review.top] == [
        (c["corner"], c["delta_to_reference_s"]) for c in expected
    ]
    table: pl.DataFrame = defs["findings_table"]
    assert table.height == len(review.findings) and table["text"].str.len_chars().min() > 0
    assert table.filter(pl.col("kind") == "corner_time_loss")["s_m"].null_count() == 0
    panels = defs["review_chart"].to_dict()["vconcat"]
    assert len(panels) == 3  # speed, throttle, brake_bar: the brake_pct channel is not logged
    assert png.read_bytes()[:8] == PNG_MAGIC
