"""GET /leaderboard, GET /laps and POST /lap."""

from __future__ import annotations

import pytest
from litestar import Litestar
from litestar.testing import TestClient

from pitwall.api.leaderboard import initials, lap_time_text


def _session(client: TestClient[Litestar], sid: str, driver: str, car: str = "BMW M3 (E46)") -> None:
    """A session with 400 s of (sparse) telemetry, so manual laps within it are backed by data."""
    assert (
        client.post("/session/start", json={"session_id": sid, "driver": driver, "car": car}).status_code
        == 200
    )
    frames = [{"t_s": float(t), "speed_kph": 100.0} for t in range(0, 401, 20)]
    assert client.post(f"/session/{sid}/frames", json={"frames": frames}).status_code == 200


def _lap(
    client: TestClient[Litestar], sid: str, lap: int, seconds: float, **extra: object
) -> dict[str, object]:
    response = client.post(
        "/lap", json={"session_id": sid, "lap": lap, "t_start_s": 100.0, "t_end_s": 100.0 + seconds, **extra}
    )
    assert response.status_code == 200, response.text
    return dict(response.json())


def test_leaderboard_empty_is_honest(client: TestClient[Litestar]) -> None:
    assert client.get("/leaderboard").json() == {"entries": [], "count": 0}


def test_leaderboard_best_valid_lap_per_driver_car_track(client: TestClient[Litestar]) -> None:
    _session(client, "a", "Taha Bakir")
    _session(client, "b", "Ana")
    _session(client, "c", "Taha Bakir", car="Mazda MX-5")
    _lap(client, "a", 1, 106.2)
    _lap(client, "a", 2, 105.318)
    _lap(client, "a", 3, 99.0, valid=False, reason="cut T11")
    _lap(client, "b", 1, 104.0006)
    _lap(client, "c", 1, 110.0)
    _lap(client, "c", 2, 50.0, kind="out")
    body = client.get("/leaderboard").json()
    assert body["count"] == 3
    first, second, third = body["entries"]
    assert (first["rank"], first["initials"], first["time"], first["session_id"]) == (
        1,
        "AN",
        "1:44.001",
        "b",
    )
    assert (second["rank"], second["initials"], second["time"], second["lap"]) == (2, "TB", "1:45.318", 2)
    assert second["car"] == "BMW M3 (E46)" and second["track"] == "Sonoma Raceway"
    assert second["lap_time_s"] == pytest.approx(105.318)
    assert (third["car"], third["time"]) == ("Mazda MX-5", "1:50.000")
    assert client.get("/leaderboard?limit=1").json()["count"] == 1
    assert client.get("/leaderboard?track=sonoma raceway").json()["count"] == 3
    assert client.get("/leaderboard?track=Laguna Seca").json() == {"entries": [], "count": 0}
    assert client.get("/leaderboard?limit=100000").status_code == 200  # capped at 500
    assert client.get("/leaderboard?limit=0").status_code == 400


def test_laps_listing_and_lap_validation(client: TestClient[Litestar]) -> None:
    _session(client, "a", "Taha")
    stored = _lap(client, "a", 1, 90.0, distance_m=4030.5)
    assert stored["duration_s"] == 90.0 and stored["method"] == "manual" and stored["distance_m"] == 4030.5
    auto = client.post("/lap", json={"session_id": "a", "t_start_s": 190.0, "t_end_s": 280.0}).json()
    assert auto["lap"] == 2
    body = client.get("/laps?session_id=a").json()
    assert body["count"] == 2 and [row["lap"] for row in body["rows"]] == [1, 2]
    assert client.get("/laps?limit=1").json()["count"] == 1
    assert client.get("/laps?session_id=nope").status_code == 404
    assert client.get("/laps?limit=0").status_code == 400
    for bad in (
        {"session_id": "a", "lap": 3, "t_start_s": 10.0, "t_end_s": 5.0},
        {"session_id": "a", "lap": -1, "t_start_s": 0.0, "t_end_s": 5.0},
        {"session_id": "a", "lap": 3, "t_start_s": 0.0, "t_end_s": 5.0, "duration_s": -2.0},
        {"session_id": "a", "lap": 3, "t_start_s": 0.0, "t_end_s": 5.0, "kind": "hot"},
        {"session_id": "a", "lap": 3, "t_start_s": 0.0},
        {"session_id": "a", "lap": "three", "t_start_s": 0.0, "t_end_s": 5.0},
    ):
        response = client.post("/lap", json=bad)
        assert response.status_code == 400, bad
        assert set(response.json()) == {"error", "detail"}
    missing = client.post("/lap", json={"session_id": "nope", "lap": 1, "t_start_s": 0.0, "t_end_s": 5.0})
    assert missing.status_code == 404


@pytest.mark.parametrize(
    ("seconds", "text"),
    [(105.318, "1:45.318"), (59.9996, "1:00.000"), (0.5, "0:00.500"), (3725.25, "62:05.250")],
)
def test_lap_time_text(seconds: float, text: str) -> None:
    assert lap_time_text(seconds) == text


@pytest.mark.parametrize(
    ("driver", "expected"),
    [
        ("Taha Bakir", "TB"),
        ("taha", "TA"),
        ("Jean-Éric Vergne", "JV"),
        ("", ""),
        ("  ", ""),
        ("A. B. Cooper", "AC"),
    ],
)
def test_initials(driver: str, expected: str) -> None:
    assert initials(driver) == expected


def test_a_manual_lap_the_telemetry_does_not_cover_never_reaches_the_leaderboard(
    client: TestClient[Litestar],
) -> None:
    assert client.post("/session/start", json={"session_id": "short", "driver": "Cheat"}).status_code == 200
    frames = [{"t_s": 0.0, "speed_kph": 10.0}, {"t_s": 0.3, "speed_kph": 11.0}]
    assert client.post("/session/short/frames", json={"frames": frames}).status_code == 200
    lap = {"session_id": "short", "lap_number": 1, "t_start_s": 0.0, "t_end_s": 101.5}
    stored = client.post("/lap", json=lap).json()
    assert stored["valid"] is False and "not backed" in stored["reason"]
    assert client.get("/leaderboard").json() == {"entries": [], "count": 0}
    _session(client, "real", "Honest")
    assert _lap(client, "real", 1, 101.5)["valid"] is True
    assert [e["session_id"] for e in client.get("/leaderboard").json()["entries"]] == ["real"]
