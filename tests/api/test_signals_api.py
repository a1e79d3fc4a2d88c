"""Registry, capabilities and the resampling synchroniser on a real imported session."""

from __future__ import annotations

import pytest
from litestar import Litestar
from litestar.testing import TestClient

from pitwall.formats.vbo import read_vbo
from tests.api.conftest import RUN04

Imported = tuple[TestClient[Litestar], str]


def test_registry_has_the_54_obd2_pids_and_the_vbo_channels(imported: Imported) -> None:
    client, _ = imported
    body = client.get("/signals/registry").json()
    assert body["count"] == len(body["signals"])
    obd = [s for s in body["signals"] if s["source"] == "obd2"]
    assert len(obd) == 54
    names = {s["signal_name"] for s in body["signals"]}
    assert set(read_vbo(RUN04).registry["signal_name"].to_list()) <= names


def test_capabilities_and_recompute(imported: Imported) -> None:
    client, sid = imported
    caps = client.get(f"/session/{sid}/capabilities").json()
    assert caps["session_id"] == sid and caps["count"] == len(caps["capabilities"]) > 0
    speed = next(c for c in caps["capabilities"] if c["signal_name"] == "speed_kph")
    assert speed["n_samples"] > 10_000 and speed["mean_hz"] == pytest.approx(25, rel=0.05) and speed["useful"]
    lap_number = next(c for c in caps["capabilities"] if c["signal_name"] == "Lap_Number")
    assert lap_number["n_samples"] > 0
    again = client.post(f"/session/{sid}/capabilities/recompute")
    assert again.status_code == 200 and again.json() == caps
    assert client.get("/session/nope/capabilities").status_code == 404
    assert client.post("/session/nope/capabilities/recompute").status_code == 404


def test_time_axis_resampling_matches_measured_samples(imported: Imported) -> None:
    client, sid = imported
    telemetry = read_vbo(RUN04).telemetry
    response = client.get(f"/session/{sid}/signals?names=speed_kph,Lap_Number&rate_hz=25&t_from=100&t_to=110")
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["axis"] == "time" and body["x_name"] == "t_s" and body["step"] == 0.04
    assert body["n"] == 251 and body["x"][0] == 100.0 and body["x"][-1] == pytest.approx(110.0)
    assert body["missing"] == []
    speed = body["signals"]["speed_kph"]
    at_100 = telemetry.filter((telemetry["t_s"] - 100.0).abs() < 1e-6)["speed_kph"][0]
    assert speed["values"][0] == pytest.approx(at_100)
    assert speed["source"][0] == "measured"
    assert set(body["signals"]["Lap_Number"]["values"]) <= {1.0, 2.0}


def test_distance_axis_and_previous_interp(imported: Imported) -> None:
    client, sid = imported
    body = client.get(
        f"/session/{sid}/signals?names=rpm,speed_kph&axis=distance&step_m=10&interp=previous&t_from=135&t_to=250"
    ).json()
    assert body["axis"] == "distance" and body["x_name"] == "distance_m" and body["step"] == 10.0
    assert 3_000 < body["x"][-1] - body["x"][0] < 6_500  # one Road America lap ≈ 6.5 km of GPS distance
    assert all(v is not None for v in body["signals"]["speed_kph"]["values"])
    assert set(body["signals"]["rpm"]["source"]) <= {"measured", "interpolated"}


def test_missing_signal_is_listed(imported: Imported) -> None:
    client, sid = imported
    body = client.get(f"/session/{sid}/signals?names=speed_kph,yaw_rate_dps&rate_hz=1").json()
    assert body["missing"] == ["yaw_rate_dps"]
    assert set(body["signals"]["yaw_rate_dps"]["values"]) == {None}


@pytest.mark.parametrize(
    ("query", "status", "error"),
    [
        ("names=", 400, "invalid request"),
        ("names=speed_kph&axis=sideways", 400, "unknown signal"),  # an axis is time, distance or a signal
        ("names=speed_kph&interp=cubic", 400, "invalid request"),
        ("names=speed_kph&rate_hz=0", 400, "invalid request"),
        ("names=speed_kph&rate_hz=abc", 400, "invalid request"),
        ("names=speed_kph&axis=distance&rate_hz=5", 400, "invalid request"),
        ("names=speed_kph&step_m=5", 400, "invalid request"),
        ("names=speed_kph&t_from=10&t_to=5", 400, "invalid request"),
        ("names=no_such_signal", 400, "unknown signal"),
        ("names=utc", 400, "unknown signal"),
        ("names=speed_kph&rate_hz=1000", 400, "too many points"),
        ("names=yaw_rate_dps", 404, "no data"),
        ("names=speed_kph&t_from=100000", 404, "no data"),
    ],
)
def test_signals_errors(imported: Imported, query: str, status: int, error: str) -> None:
    client, sid = imported
    response = client.get(f"/session/{sid}/signals?{query}")
    assert response.status_code == status, response.text
    assert response.json()["error"] == error


def test_signals_unknown_session_and_missing_names(imported: Imported) -> None:
    client, _ = imported
    assert client.get("/session/nope/signals?names=speed_kph").status_code == 404
    assert client.get("/session/nope/signals").status_code == 400


def test_rows_repeat_the_axis_and_values_under_any_name(client: TestClient[Litestar]) -> None:
    # a tall signal named "t" takes the row's "t" key (as the original's dict did); 1e20 has a positive exponent
    signals = [["t", 0.0, 1.0], ["t", 2.0, 3.0], ['a"b é', 0.5, 1e20], ['a"b é', 1.5, -0.0]]
    assert client.post("/session/rows-shape/signals", json={"signals": signals}).status_code == 200
    response = client.get("/session/rows-shape/signals", params={"names": 't,a"b é', "rate_hz": 2})
    body = response.json()
    expected = [
        {"t": x, **{name: body["signals"][name]["values"][k] for name in body["names"]}}
        for k, x in enumerate(body["x"])
    ]
    assert body["rows"] == expected and body["count"] == body["n"] == len(body["x"]) == 5
    assert list(body["rows"][0]) == ["t", 'a"b é'] and b'"a\\"b \xc3\xa9":1e20' in response.content


def test_the_time_column_resamples_onto_itself(imported: Imported) -> None:
    client, sid = imported
    body = client.get(f"/session/{sid}/signals?names=t_s&rate_hz=4&t_from=100&t_to=105").json()
    assert body["signals"]["t_s"]["values"] == pytest.approx(body["x"])
