"""Track routes on the real app: markers, danger zones, weather of the active track; library elevation."""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import pytest
from litestar import Litestar
from litestar.testing import TestClient

from pitwall import DATA_DIR
from pitwall.api.app import create_app
from pitwall.formats.track import load_track
from pitwall.track import Marker
from tests.api.conftest import make_settings

SONOMA = load_track(DATA_DIR / "tracks" / "sonoma.json")

Client = TestClient[Litestar]


@pytest.fixture(scope="module")
def library(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A track folder: Sonoma and Road America as shipped, one track without a reference line, one without
    altitude."""
    folder = tmp_path_factory.mktemp("tracks")
    for name in ("sonoma.json", "road-america.json"):
        shutil.copy(DATA_DIR / "tracks" / name, folder / name)
    raw = json.loads((DATA_DIR / "tracks" / "road-america.json").read_text(encoding="utf-8"))
    flat = dict(raw, id="flat", reference_line=dict(raw["reference_line"], alt_m=None))
    (folder / "flat.json").write_text(json.dumps(flat), encoding="utf-8")
    lineless = {key: value for key, value in raw.items() if key != "reference_line"} | {"id": "lineless"}
    (folder / "lineless.json").write_text(json.dumps(lineless), encoding="utf-8")
    return folder


@pytest.fixture(scope="module")
def client(tmp_path_factory: pytest.TempPathFactory, library: Path) -> Iterator[Client]:
    settings = make_settings(tmp_path_factory.mktemp("track-api"), "duckdb", tracks_dir=library)
    with TestClient(create_app(settings)) as test_client:
        yield test_client


def test_markers_of_the_active_track_in_lap_order(client: Client) -> None:
    body = client.get("/track/markers").json()
    assert body["track_id"] == "sonoma" and body["count"] == len(SONOMA.markers) > 0
    assert [m["s_m"] for m in body["markers"]] == sorted(m.s_m for m in SONOMA.markers)
    assert {m["text"] for m in body["markers"]} == {m.text for m in SONOMA.markers}


@pytest.mark.parametrize(
    ("params", "keep"),
    [
        ({"corner": "2"}, lambda m: m.corner == "2"),
        ({"kind": "crest"}, lambda m: m.kind == "crest"),
        ({"corner": "3a", "kind": "crest"}, lambda m: m.corner == "3a" and m.kind == "crest"),
        ({"corner": "99"}, lambda m: False),
    ],
)
def test_marker_filters(client: Client, params: dict[str, str], keep: Callable[[Marker], bool]) -> None:
    body = client.get("/markers", params=params).json()
    expected = sorted((m.s_m, m.text) for m in SONOMA.markers if keep(m))
    assert [(m["s_m"], m["text"]) for m in body["markers"]] == expected
    assert body["count"] == len(expected) and body["corner"] == params.get("corner")


def test_danger_zones(client: Client) -> None:
    body = client.get("/track/danger_zones").json()
    assert body["count"] == len(SONOMA.danger_zones) > 0
    first = min(SONOMA.danger_zones, key=lambda z: z.s_start_m)
    ours = {
        "name": first.name,
        "s_start_m": first.s_start_m,
        "s_end_m": first.s_end_m,
        "severity": first.severity,
        "text": first.text,
    }
    assert {key: body["danger_zones"][0][key] for key in ours} == ours


@pytest.mark.parametrize("hour", [0, 7, 8, 12, 15, 23])
def test_weather_phase_by_local_hour(client: Client, hour: int) -> None:
    body = client.get("/track/weather", params={"hour_local": hour}).json()
    assert body["hour_local"] == hour and body["timezone"] == "America/Los_Angeles"
    covering = [p for p in SONOMA.weather if p.hour_from <= hour < p.hour_to]
    assert len(covering) == 1  # Sonoma's phases tile the day
    assert body["phase_detail"]["label"] == covering[0].label and len(body["phases"]) == len(SONOMA.weather)


def test_weather_defaults_to_now_and_validates_the_hour(client: Client) -> None:
    assert 0 <= client.get("/track/weather").json()["hour_local"] <= 23
    for bad in ("24", "-1", "noon"):
        response = client.get("/track/weather", params={"hour_local": bad})
        assert response.status_code == 400 and response.json()["error"] == "invalid request"


def test_elevation_profile_follows_the_reference_line(client: Client) -> None:
    body = client.get("/track/sonoma/elevation", params={"step_m": 25}).json()
    line = SONOMA.reference_line
    s = np.arange(0.0, SONOMA.length_m + 1e-9, 25.0)
    assert [p["s_m"] for p in body["points"]] == pytest.approx(list(s))
    assert [p["alt_m"] for p in body["points"]] == pytest.approx(list(np.interp(s, line.s_m, line.alt_m)))
    assert body["min_alt_m"] == pytest.approx(float(line.alt_m.min()))
    assert body["max_alt_m"] == pytest.approx(float(line.alt_m.max()))
    assert body["climb_m"] >= body["max_alt_m"] - body["min_alt_m"] - 1e-9
    default = client.get("/track/road-america/elevation").json()
    assert default["step_m"] == 10.0 and len(default["points"]) == int(default["length_m"] // 10) + 1


@pytest.mark.parametrize(
    ("path", "status", "error"),
    [
        ("/track/nowhere/elevation", 404, "unknown track"),
        ("/track/lineless/elevation", 422, "no reference line"),
        ("/track/flat/elevation", 422, "no elevation"),
        ("/track/sonoma/elevation?step_m=0", 400, "invalid request"),
        ("/track/sonoma/elevation?step_m=501", 400, "invalid request"),
        ("/track/so.noma/elevation", 400, "invalid track id"),
    ],
)
def test_elevation_errors(client: Client, path: str, status: int, error: str) -> None:
    response = client.get(path)
    assert response.status_code == status and response.json()["error"] == error


def test_active_track_routes_answer_404_without_a_track(tmp_path: Path) -> None:
    settings = make_settings(tmp_path, "duckdb", track=tmp_path / "missing.json")
    with TestClient(create_app(settings)) as bare:
        for path in ("/track/markers", "/track/danger_zones", "/track/weather", "/markers"):
            response = bare.get(path)
            assert response.status_code == 404 and response.json()["error"] == "no active track"
