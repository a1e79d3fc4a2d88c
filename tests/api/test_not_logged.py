""" "Not logged" is not zero, and discrete channels are never interpolated — over HTTP, on both backends.

The real Road America Run04 recording is imported as it is and as a copy with its throttle and brake channels
removed (header, column names and every data row), as a logger without those sensors would write it.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from litestar.testing import TestClient

from pitwall.api.app import create_app
from tests.api.conftest import BACKENDS, RUN04, make_settings

DROPPED = ("Throttle_Pedal", "Brake_Pressure_Front")


def without_channels(source: Path, target: Path, names: tuple[str, ...]) -> Path:
    """``source`` with the VBO channels ``names`` removed from ``[header]``, ``[column names]`` and ``[data]``."""
    lines = source.read_text().split("\n")
    at = lines.index("[column names]") + 1
    columns = lines[at].split()
    drop = {columns.index(name) for name in names}
    lines[at] = " ".join(c for k, c in enumerate(columns) if k not in drop) + " "
    first = lines.index("[data]") + 1
    for k in range(first, len(lines)):
        fields = lines[k].split()
        if len(fields) == len(columns):
            lines[k] = " ".join(f for j, f in enumerate(fields) if j not in drop)
    header = lines.index("[header]") + 1
    end = next(k for k in range(header, len(lines)) if lines[k].startswith("["))
    kept = [line for line in lines[header:end] if line.strip() not in names]
    assert len(kept) == end - header - len(names), "the header must list every dropped channel"
    target.write_text("\n".join([*lines[:header], *kept, *lines[end:]]))
    return target


@pytest.fixture(scope="module", params=BACKENDS)
def two_sessions(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[TestClient, str, str]]:  # type: ignore[type-arg]
    """A client with Run04 imported as it is and without its pedal channels: (client, full id, bare id)."""
    tmp = tmp_path_factory.mktemp(f"not-logged-{request.param}")
    settings = make_settings(tmp, str(request.param))
    stripped = without_channels(RUN04, tmp / "roots" / "run04-no-pedals.vbo", DROPPED)
    with TestClient(create_app(settings)) as client:
        ids = []
        for path in (RUN04, stripped):
            response = client.post("/session/import", json={"vbo_path": str(path)})
            assert response.status_code == 200, response.text
            ids.append(response.json()["session_id"])
        yield client, ids[0], ids[1]


def test_stats_say_not_logged_instead_of_zero(two_sessions: tuple[TestClient, str, str]) -> None:  # type: ignore[type-arg]
    client, full, bare = two_sessions
    logged = client.get(f"/session/{full}/stats").json()
    assert 0.0 < logged["on_throttle_frac"] < 1.0 and 0.0 < logged["braking_frac"] < 1.0
    assert "throttle_pct" not in logged["not_logged"] and "brake_bar" not in logged["not_logged"]
    missing = client.get(f"/session/{bare}/stats").json()
    assert missing["on_throttle_frac"] is None
    assert missing["full_throttle_frac"] is None
    assert missing["braking_frac"] is None
    assert {"throttle_pct", "brake_bar", "brake_pct"} <= set(missing["not_logged"])
    assert missing["max_speed_kph"] == pytest.approx(logged["max_speed_kph"])  # everything else unchanged


def test_pedal_behavior_is_not_100_percent_coasting(two_sessions: tuple[TestClient, str, str]) -> None:  # type: ignore[type-arg]
    client, full, bare = two_sessions
    logged = client.get(f"/session/{full}/pedal_behavior").json()
    assert sum(state["pct"] for state in logged["states"].values()) == pytest.approx(100.0)
    missing = client.get(f"/session/{bare}/pedal_behavior").json()
    assert all(state["pct"] is None and state["time_s"] is None for state in missing["states"].values())
    assert missing["session"]["coast_frac"] is None
    assert all(lap["coast_frac"] is None for lap in missing["laps"])
    assert {"throttle_pct", "brake_bar", "brake_pct"} <= set(missing["not_logged"])


def test_hustle_map_without_throttle_is_null(two_sessions: tuple[TestClient, str, str]) -> None:  # type: ignore[type-arg]
    client, full, bare = two_sessions
    logged = client.get(f"/session/{full}/hustle_map").json()["segments"]
    assert any(seg["full_throttle_frac"] for seg in logged)
    missing = client.get(f"/session/{bare}/hustle_map").json()["segments"]
    assert missing and all(seg["full_throttle_frac"] is None for seg in missing)


def test_gear_is_held_never_interpolated(two_sessions: tuple[TestClient, str, str]) -> None:  # type: ignore[type-arg]
    client, full, _ = two_sessions
    body = client.get(
        f"/session/{full}/signals", params={"names": "gear,rpm", "rate_hz": 100, "interp": "linear"}
    ).json()
    assert body["signals"]["gear"]["kind"] == "discrete" and body["signals"]["rpm"]["kind"] == "continuous"
    gears = [g for g in body["signals"]["gear"]["values"] if g is not None]
    assert len(set(gears)) > 2, "the lap must shift through several gears"
    assert all(float(g).is_integer() for g in gears)
    rpm = [r for r in body["signals"]["rpm"]["values"] if r is not None]
    assert any(not float(r).is_integer() for r in rpm), "continuous channels are still interpolated at 100 Hz"
