"""Lap routes through the real app on both backends: a real Road America import and simulated Sonoma sessions
(physics lap profile driven at a varying pace, sent as frames) whose true crossing times are known."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import polars as pl
import pytest
from litestar import Litestar
from litestar.testing import TestClient
from polars.testing import assert_frame_equal

from pitwall import DATA_DIR
from pitwall.analysis.laps import add_lap_column, slice_laps
from pitwall.analysis.position import add_track_position
from pitwall.analysis.sectors import ideal_lap, lap_time_table
from pitwall.api.app import create_app
from pitwall.formats.car import load_car
from pitwall.formats.track import load_track
from pitwall.formats.vbo import read_vbo
from pitwall.live.physics import lap_profile, lap_time_s
from tests.analysis import simulate_laps
from tests.api.conftest import BACKENDS, RUN04, RUN05, make_settings

SONOMA = load_track(DATA_DIR / "tracks" / "sonoma.json")
ROAD_AMERICA = load_track(DATA_DIR / "tracks" / "road-america.json")


def sonoma_session(paces: list[float | np.ndarray]) -> tuple[pl.DataFrame, np.ndarray]:
    profile = lap_profile(SONOMA, car=load_car(DATA_DIR / "cars" / "bmw_e46_m3.yaml"), lap_seconds=None)
    return simulate_laps(profile, lap_time_s(profile), pace=paces, phase_s=0.037)


def wave(n: int, amplitude: float, shift: float) -> np.ndarray:
    """A pace factor varying along the lap, so different laps are fastest in different sectors."""
    return 1.0 + amplitude * np.sin(2 * np.pi * (np.arange(n) / n + shift))


@dataclass
class World:
    client: TestClient[Litestar]
    app: Litestar
    run04: str
    run05: str
    frames: pl.DataFrame  # the simulated session "sim-a" as sent
    truth: np.ndarray  # its true crossing times


@pytest.fixture(scope="module", params=BACKENDS)
def world(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    tmp = tmp_path_factory.mktemp(f"laps-{request.param}")
    app = create_app(make_settings(tmp, str(request.param)))
    n = lap_profile(SONOMA, car=load_car(DATA_DIR / "cars" / "bmw_e46_m3.yaml"), lap_seconds=None).height
    frames_a, truth = sonoma_session([wave(n, 0.04, 0.0), wave(n, 0.04, 0.5), 1.01, 0.97])
    frames_b, _ = sonoma_session([1.0, 0.99])
    with TestClient(app) as client:
        ids = [
            client.post("/session/import", json={"vbo_path": str(p)}).json()["session_id"]
            for p in (RUN04, RUN05)
        ]
        for sid, frames in (("sim-a", frames_a), ("sim-b", frames_b)):
            assert (
                client.post("/session/start", json={"session_id": sid, "track": SONOMA.name}).status_code
                == 200
            )
            response = client.post(f"/session/{sid}/frames", json={"frames": frames.to_dicts()})
            assert response.status_code == 200, response.text
        assert client.post("/session/start", json={"session_id": "empty"}).status_code == 200
        yield World(client, app, ids[0], ids[1], frames_a, truth)


def get(world: World, path: str, status: int = 200, **params: Any) -> Any:
    response = world.client.get(path, params=params)
    assert response.status_code == status, response.text
    return response.json()


def pure_sim_a(world: World) -> tuple[pl.LazyFrame, pl.LazyFrame]:
    """The notebook way: the pure pipelines on the frames as generated (no store, no HTTP)."""
    tel = add_track_position(world.frames.lazy(), SONOMA)
    laps = slice_laps(tel, SONOMA)
    return add_lap_column(tel, laps), laps


def test_laps_envelope_of_a_real_import(world: World) -> None:
    body = get(world, f"/session/{world.run04}/laps")
    full, *laps = body["laps"]
    rec = read_vbo(RUN04)
    assert full == {
        "name": "Full session",
        "t_start": 0.0,
        "t_end": rec.telemetry["t_s"].max(),
        "duration_s": rec.telemetry["t_s"].max(),
        "distance_m": rec.telemetry["distance_m"].max(),
        "method": "all",
    }
    expected = slice_laps(rec.telemetry.lazy(), ROAD_AMERICA, gates=rec.gates).collect()
    assert [lap["name"] for lap in laps] == ["Lap 1", "Lap 2", "Lap 3"]
    assert [(lap["kind"], lap["valid"], lap["method"]) for lap in laps] == [
        ("out", False, "gps"),
        ("flying", True, "gps"),
        ("in", False, "gps"),
    ]
    assert [lap["t_start"] for lap in laps] == expected["t_start_s"].to_list()
    assert [lap["duration_s"] for lap in laps] == expected["duration_s"].to_list()
    assert laps[1]["duration_s"] == pytest.approx(115.0, abs=0.05)
    assert laps[2]["reason"] == "in-lap: ends in the pit lane"
    assert body["track_length_m"] == ROAD_AMERICA.length_m


def test_import_stores_the_laps_for_the_sessions_list(world: World) -> None:
    rows = {r["session_id"]: r for r in get(world, "/sessions")["sessions"]}
    assert rows[world.run04]["lap_count"] >= 1
    assert rows[world.run04]["best_lap_s"] == pytest.approx(114.96, abs=0.01)
    assert rows[world.run05]["best_lap_s"] is None


@pytest.mark.parametrize(
    "route", ["lap_time_table", "sector_times", "lap_time_distribution", "ideal_lap", "optimal_lap", "delta"]
)
def test_analytics_need_a_complete_lap(world: World, route: str) -> None:
    body = get(world, f"/session/{world.run05}/{route}", 400)
    assert body == {"error": "no complete lap", "detail": f"{world.run05}: the session has no complete lap"}
    assert [lap["kind"] for lap in get(world, f"/session/{world.run05}/laps")["laps"][1:]] == ["out"]


@pytest.mark.parametrize("route", ["laps", "lap_time_table", "delta"])
def test_no_telemetry_and_unknown_sessions_are_404(world: World, route: str) -> None:
    assert get(world, f"/session/empty/{route}", 404)["error"] == "no telemetry"
    assert get(world, f"/session/nope/{route}", 404)["error"] == "unknown session"


def test_simulated_laps_match_the_true_crossings(world: World) -> None:
    laps = get(world, "/session/sim-a/laps")["laps"][1:]
    assert [lap["kind"] for lap in laps] == ["out", "flying", "flying", "flying", "flying", "incomplete"]
    starts = np.array([lap["t_start"] for lap in laps[1:]])
    np.testing.assert_allclose(starts, world.truth, atol=0.005)


def test_lap_time_table_route_equals_the_notebook_call(world: World) -> None:
    tel, laps = pure_sim_a(world)
    table = lap_time_table(tel, laps, SONOMA).collect()
    body = get(world, "/session/sim-a/lap_time_table")
    ours = [{k: row[k] for k in table.columns} for row in body["laps"]]  # without the original's aliases
    assert_frame_equal(pl.DataFrame(ours, schema=table.schema), table, abs_tol=1e-9)
    assert body["sectors"] == [
        {"sector": 1, "s_start_m": 0.0, "s_end_m": SONOMA.sector_ends_m[0]},
        {"sector": 2, "s_start_m": SONOMA.sector_ends_m[0], "s_end_m": SONOMA.sector_ends_m[1]},
        {"sector": 3, "s_start_m": SONOMA.sector_ends_m[1], "s_end_m": SONOMA.sector_ends_m[2]},
    ]
    best = table.filter(pl.col("is_best_lap"))
    assert body["best_lap"] == best["lap"][0] == 4  # the lap driven at 1.01 × the profile speed
    assert body["best_lap_s"] == best["duration_s"][0]


def test_sector_times_and_distribution(world: World) -> None:
    body = get(world, "/session/sim-a/sector_times")
    durations = {lap["lap"]: lap["duration_s"] for lap in get(world, "/session/sim-a/laps")["laps"][1:]}
    assert [row["lap"] for row in body["laps"]] == [2, 3, 4, 5]
    for row in body["laps"]:
        assert row["s1_s"] + row["s2_s"] + row["s3_s"] == pytest.approx(durations[row["lap"]], abs=1e-9)
    box = get(world, "/session/sim-a/lap_time_distribution")
    flying = [durations[k] for k in (2, 3, 4, 5)]
    assert box["n"] == 4
    assert box["median"] == pytest.approx(float(np.median(flying)), abs=1e-9)
    assert box["q1"] == pytest.approx(float(np.percentile(flying, 25)), abs=1e-9)
    assert box["min"] == min(flying) and box["max"] == max(flying)


def test_ideal_lap_is_the_sum_of_best_sectors(world: World) -> None:
    tel, laps = pure_sim_a(world)
    expected = ideal_lap(tel, laps, SONOMA).collect()
    body = get(world, "/session/sim-a/ideal_lap")
    assert body["ideal_lap_s"] == pytest.approx(expected["ideal_lap_s"][0], abs=1e-9)
    assert [s["lap"] for s in body["sectors"]] == expected["lap"].to_list()
    assert len({s["lap"] for s in body["sectors"]}) >= 2  # the waves make different laps best per sector
    assert body["gain_s"] == pytest.approx(body["best_lap_s"] - body["ideal_lap_s"], abs=1e-9)
    assert body["gain_s"] > 0.1


def test_optimal_lap_sits_between_the_mini_sector_sum_and_the_best_lap(world: World) -> None:
    body = get(world, "/session/sim-a/optimal_lap")
    assert body["sum_best_mini_sectors_s"] <= body["optimal_lap_s"] <= body["best_lap_s"]
    assert body["ideal_lap_s"] == get(world, "/session/sim-a/ideal_lap")["ideal_lap_s"]
    assert body["tolerance"] == {"offset_m": 1.5, "speed_frac": 0.03, "heading_deg": 5.0}
    assert body["n_segments"] == len(body["segments"]) == int(np.ceil(SONOMA.length_m / 100.0))
    assert sum(s["time_s"] for s in body["segments"]) == pytest.approx(body["optimal_lap_s"], abs=1e-9)
    coarse = get(world, "/session/sim-a/optimal_lap", segment_m=500.0)
    assert coarse["n_segments"] == int(np.ceil(SONOMA.length_m / 500.0))
    assert get(world, "/session/sim-a/optimal_lap", 400, segment_m=5.0)["error"] == "invalid request"


def test_delta_defaults_to_the_last_complete_lap_against_the_best(world: World) -> None:
    body = get(world, "/session/sim-a/delta")
    table = get(world, "/session/sim-a/lap_time_table")
    durations = {row["lap"]: row["duration_s"] for row in table["laps"]}
    assert body["lap"] == 5 and body["ref"]["kind"] == "best" and body["ref"]["lap"] == table["best_lap"]
    assert body["final_delta_s"] == pytest.approx(durations[5] - durations[table["best_lap"]], abs=1e-6)
    assert body["points"][0]["s_m"] == 0.0 and body["points"][-1]["s_m"] == SONOMA.length_m
    assert body["points"][-1]["t_s"] == pytest.approx(durations[5], abs=1e-9)
    assert {b["corner"] for b in body["braking"]} <= {c.number for c in SONOMA.corners}
    assert len(body["braking"]) >= 5


def test_delta_against_itself_is_zero_everywhere(world: World) -> None:
    best = get(world, "/session/sim-a/lap_time_table")["best_lap"]
    body = get(world, "/session/sim-a/delta", lap=best, ref=str(best), step_m=10.0)
    assert body["ref"]["kind"] == "lap"
    assert max(abs(p["delta_s"]) for p in body["points"]) == 0.0
    assert all(b["delta_m"] == 0.0 for b in body["braking"])


def test_delta_references_ideal_optimal_and_other_session(world: World) -> None:
    ideal = get(world, "/session/sim-a/delta", ref="ideal")
    assert ideal["ref"]["lap_time_s"] == pytest.approx(
        get(world, "/session/sim-a/ideal_lap")["ideal_lap_s"], abs=1e-6
    )
    optimal = get(world, "/session/sim-a/delta", ref="optimal")
    assert optimal["ref"]["lap_time_s"] == pytest.approx(
        get(world, "/session/sim-a/optimal_lap")["optimal_lap_s"], abs=1e-6
    )
    other = get(world, "/session/sim-a/delta", ref="sim-b:2", lap=4)
    b_lap2 = get(world, "/session/sim-b/laps")["laps"][2]
    assert other["ref"] == {
        "kind": "session", "label": "sim-b lap 2", "session_id": "sim-b", "lap": 2, "lap_time_s": b_lap2["duration_s"]
    }  # fmt: skip
    assert other["final_delta_s"] == pytest.approx(other["lap_time_s"] - b_lap2["duration_s"], abs=1e-6)


@pytest.mark.parametrize(
    ("params", "status", "error"),
    [
        ({"ref": "fastest"}, 400, "invalid ref"),
        ({"ref": ":3"}, 400, "invalid ref"),
        ({"ref": "9"}, 400, "not a complete lap"),
        ({"lap": 1}, 400, "not a complete lap"),
        ({"lap": 0}, 400, "invalid request"),
        ({"step_m": 0.1}, 400, "invalid request"),
        ({"ref": "sim-b:9"}, 400, "not a complete lap"),
        ({"ref": "ghost:2"}, 404, "unknown session"),
    ],
)
def test_delta_rejects_bad_parameters(world: World, params: dict[str, Any], status: int, error: str) -> None:
    assert get(world, "/session/sim-a/delta", status, **params)["error"] == error


def test_delta_across_tracks_is_refused(world: World) -> None:
    body = get(world, f"/session/{world.run04}/delta", 400, ref="sim-a:2")
    assert body == {
        "error": "different track",
        "detail": {"session": "road-america", "ref_session": "sonoma"},
    }


def test_reset_clears_the_view_cache(world: World) -> None:
    get(world, "/session/sim-a/laps")
    cleared = world.client.post("/session/reset").json()["cleared"]
    assert cleared["session_view"] >= 1
    assert world.client.post("/session/reset").json()["cleared"]["session_view"] == 0


def test_no_database_is_503(tmp_path: Path) -> None:
    blocker = tmp_path / "not-a-dir"
    blocker.write_text("x")
    with TestClient(create_app(make_settings(tmp_path, "duckdb", db=blocker / "x.duckdb"))) as client:
        response = client.get("/session/any/laps")
    assert response.status_code == 503 and response.json()["error"] == "no database"


def test_laps_over_a_real_uvicorn_server(
    world: World, serve: Callable[[Litestar], AbstractContextManager[str]], tmp_path: Path
) -> None:
    app = create_app(make_settings(tmp_path, "duckdb"))
    with serve(app) as base:
        imported = httpx.post(f"{base}/session/import", json={"vbo_path": str(RUN04)}, timeout=30)
        sid = imported.json()["session_id"]
        body = httpx.get(f"{base}/session/{sid}/lap_time_table", timeout=30).json()
    assert body["best_lap"] == 2
    assert body["best_lap_s"] == get(world, f"/session/{world.run04}/lap_time_table")["best_lap_s"]


def test_results_follow_a_growing_session(world: World) -> None:
    """Route results are kept per session version: a live session sent in two parts answers for the first part,
    then — the same routes, the same arguments — for the whole, never the kept answer of the first part."""
    half = world.frames.height // 2
    assert (
        world.client.post("/session/start", json={"session_id": "grows", "track": SONOMA.name}).status_code
        == 200
    )
    world.client.post("/session/grows/frames", json={"frames": world.frames.head(half).to_dicts()})
    first = [get(world, f"/session/grows/{route}") for route in ("lap_time_table", "corners", "optimal_lap")]
    again = [get(world, f"/session/grows/{route}") for route in ("lap_time_table", "corners", "optimal_lap")]
    assert again == first  # kept, and equal
    world.client.post("/session/grows/frames", json={"frames": world.frames.slice(half).to_dicts()})
    table, corners, optimal = (
        get(world, f"/session/grows/{route}") for route in ("lap_time_table", "corners", "optimal_lap")
    )
    assert table["lap_count"] > first[0]["lap_count"]
    assert len(corners["passes"]) > len(first[1]["passes"])
    whole = get(world, "/session/sim-a/lap_time_table")  # the same frames sent at once
    assert table["laps"] == whole["laps"] and optimal == get(world, "/session/sim-a/optimal_lap")
