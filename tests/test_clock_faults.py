"""Clock faults on a real recording: Road America Run04 (lap 2 = 114.96 s by its gate, 115.0 s by the ECU's lap
counter) with its time channel stepped back — or ahead — by 17 s at one sample inside lap 2 while the car moves
on normally. Unrepaired, lap 2 would read 97.96 s (a fake record) or 131.96 s; repaired, it is 114.96 s."""

from __future__ import annotations

import itertools
from pathlib import Path

import numpy as np
import polars as pl
import pytest
from litestar.testing import TestClient

from pitwall.analysis.clock import repair_clock
from pitwall.api.app import create_app
from tests.api.conftest import BACKENDS, RUN04, make_settings

FAULT_ROW = 5_000  # t ≈ 200 s, inside lap 2 (135.2–250.2 s)
LAP2_S = 114.96


def seconds_of(hhmmss: str) -> float:
    """A VBO time of day (``HHMMSS.sss``) in seconds."""
    value = float(hhmmss)
    return (value // 10_000) * 3600 + (value // 100 % 100) * 60 + value % 100


def hhmmss_of(seconds: float) -> str:
    """Seconds of the day as a VBO time (``HHMMSS.sss``)."""
    h, rest = divmod(seconds, 3600)
    m, sec = divmod(rest, 60)
    return f"{int(h):02d}{int(m):02d}{sec:06.3f}"


def shifted_clock(source: Path, target: Path, *, from_row: int, step_s: float) -> Path:
    """``source`` with every time of ``[data]`` from row ``from_row`` on moved by ``step_s`` (HHMMSS.sss)."""
    lines = source.read_text().split("\n")
    first = lines.index("[data]") + 1
    for k in range(first + from_row, len(lines)):
        fields = lines[k].split(" ")
        if len(fields) < 2:
            continue
        fields[1] = hhmmss_of(seconds_of(fields[1]) + step_s)
        lines[k] = " ".join(fields)
    target.write_text("\n".join(lines))
    return target


def test_repair_clock_finds_one_backward_and_one_forward_fault() -> None:
    t = np.arange(0, 10, 0.1)
    t[50:] -= 3.0  # backwards
    t[80:] += 5.0  # forward jump, while the car moves one step
    frame = pl.DataFrame({"t_s": t, "distance_m": np.arange(100) * 2.0, "speed_kph": np.full(100, 72.0)})
    repair = repair_clock(frame)
    assert repair.rows == [50, 80] and repair.steps_s == pytest.approx([-2.9, 5.1])
    assert np.diff(repair.t_s) == pytest.approx(np.full(99, 0.1))
    gap = frame.with_columns(
        distance_m=pl.Series(np.concatenate([np.arange(80) * 2.0, 160 + 100 + np.arange(20) * 2.0]))
    )
    gap = gap.with_columns(
        t_s=pl.Series(np.concatenate([np.arange(80) * 0.1, 8.0 + 5.0 + np.arange(20) * 0.1]))
    )
    assert repair_clock(gap).count == 0  # a real logging gap: the car moved on during it


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("step_s", [-17.0, 17.0], ids=["back", "ahead"])
def test_a_clock_fault_makes_no_fake_lap(tmp_path: Path, backend: str, step_s: float) -> None:
    vbo = shifted_clock(RUN04, tmp_path / "faulty.vbo", from_row=FAULT_ROW, step_s=step_s)
    with TestClient(create_app(make_settings(tmp_path, backend, import_roots=(tmp_path,)))) as client:
        imported = client.post("/session/import", json={"vbo_path": str(vbo), "driver": "KO"})
        assert imported.status_code == 200, imported.text
        sid = imported.json()["session_id"]
        table = client.get(f"/session/{sid}/lap_time_table").json()
        laps = client.get(f"/session/{sid}/laps").json()
        detail = client.get(f"/session/{sid}").json()
        session = {**detail["session"], "laps": detail["laps"]}
        board = client.get("/leaderboard").json()["entries"]
    assert imported.json()["clock_repairs"] == 1
    assert session["meta"]["clock_repairs"]["count"] == 1
    assert session["meta"]["clock_repairs"]["faults"][0]["step_s"] == pytest.approx(step_s + 0.04, abs=1e-6)
    lap2 = next(lap for lap in table["laps"] if lap["lap"] == 2)
    assert lap2["duration_s"] == pytest.approx(LAP2_S, abs=0.05)
    marks = {lap["lap"]: lap["clock_repairs"] for lap in laps["laps"] if lap.get("lap")}
    assert marks[2] == 1 and all(n == 0 for lap, n in marks.items() if lap != 2)  # the lap carries the mark
    assert {lap["lap"]: lap["clock_repairs"] for lap in session["laps"]}[2] == 1  # stored with it
    assert board[0]["lap_time_s"] == pytest.approx(LAP2_S, abs=0.05) and board[0]["clock_repairs"] == 1


def rescaled_clock(source: Path, target: Path, *, rows: range, factor: float) -> Path:
    """``source`` with the time steps of ``[data]`` rows ``rows`` multiplied by ``factor`` (a logger clock
    running fast over a stretch; positions and speeds untouched), later rows shifted to stay continuous."""
    lines = source.read_text().split("\n")
    first = lines.index("[data]") + 1
    logged: dict[int, float] = {}
    for k in range(first, len(lines)):
        fields = lines[k].split(" ")
        if len(fields) >= 2:
            logged[k] = seconds_of(fields[1])
    keys = sorted(logged)
    new = {keys[0]: logged[keys[0]]}
    for i, (a, b) in enumerate(itertools.pairwise(keys)):
        step = logged[b] - logged[a]
        new[b] = new[a] + (step * factor if i in rows else step)
    for k, seconds in new.items():
        fields = lines[k].split(" ")
        fields[1] = hhmmss_of(seconds)
        lines[k] = " ".join(fields)
    target.write_text("\n".join(lines))
    return target


def test_a_lap_faster_than_its_distance_allows_is_never_a_record(tmp_path: Path) -> None:
    """Lap 2 of Run04 with its clock running at double rate for most of the lap: the gate crossings say ~62 s
    for 6.4 km, but the car never went faster than ~266 km/h, so no lap under ~87 s is possible."""
    vbo = rescaled_clock(RUN04, tmp_path / "fast-clock.vbo", rows=range(3_600, 6_000), factor=0.5)
    with TestClient(create_app(make_settings(tmp_path, "duckdb", import_roots=(tmp_path,)))) as client:
        imported = client.post("/session/import", json={"vbo_path": str(vbo), "driver": "KO"})
        assert imported.status_code == 200, imported.text
        sid = imported.json()["session_id"]
        laps = client.get(f"/session/{sid}").json()["laps"]
        board = client.get("/leaderboard").json()["entries"]
    lap2 = next(lap for lap in laps if lap["lap"] == 2)
    assert lap2["duration_s"] < 70.0  # what the broken clock says
    assert lap2["valid"] is False and "top speed" in lap2["reason"]
    assert board == []


def test_a_stale_pre_lock_clock_is_dropped_not_a_12_hour_session(tmp_path: Path) -> None:
    """Run04 preceded by 150 rows logged before GPS lock with a stale clock (12 h behind) and the receiver's
    last known position: they are dropped and counted; the session is 416 s, not 12 h, its laps unchanged."""
    lines = RUN04.read_text().split("\n")
    first = lines.index("[data]") + 1
    stale = []
    for k in range(150):
        fields = lines[first].split(" ")
        fields[1] = hhmmss_of(seconds_of(fields[1]) - 12 * 3600 + k * 0.04)
        stale.append(" ".join(fields))
    vbo = tmp_path / "stale.vbo"
    vbo.write_text("\n".join([*lines[:first], *stale, *lines[first:]]))
    with TestClient(create_app(make_settings(tmp_path, "sqlite", import_roots=(tmp_path,)))) as client:
        imported = client.post("/session/import", json={"vbo_path": str(vbo)})
        assert imported.status_code == 200, imported.text
        session = client.get(f"/session/{imported.json()['session_id']}").json()
    assert session["session"]["meta"]["rows_dropped_prefix"] == 150
    assert session["session"]["duration_s"] == pytest.approx(416.0, abs=1.0)
    lap2 = next(lap for lap in session["laps"] if lap["lap"] == 2)
    assert lap2["duration_s"] == pytest.approx(LAP2_S, abs=0.05)
    assert max(lap["duration_s"] for lap in session["laps"]) < 200
