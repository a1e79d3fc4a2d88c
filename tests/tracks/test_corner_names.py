"""Public turn numbers and names for library tracks beyond Sonoma, matched to the curvature-detected corners.

The match is checked two ways: the public turn directions in lap order equal the detected directions, and — for
Road America, where a real recording exists — the named corners behave as the circuit's do (Turn 5 is the
slowest corner of the lap, the Kink is taken flat out, Canada Corner is a heavy stop).
"""

from __future__ import annotations

from pathlib import Path

import pytest
from litestar.testing import TestClient

from pitwall.api.app import create_app
from pitwall.formats.track import TRACKS_DIR, load_track
from tests.api.conftest import RUN04, make_settings

# Public turn lists in lap order (label, name, direction), as the override files cite them.
PUBLIC: dict[str, list[tuple[str, str | None, str]]] = {
    "road-america": [
        ("1", None, "right"),
        ("3", None, "right"),
        ("5", None, "left"),
        ("6", None, "left"),
        ("7", None, "right"),
        ("8", None, "left"),
        ("9", "The Carousel", "right"),
        ("11", "The Kink", "right"),
        ("12", "Canada Corner", "right"),
        ("13", None, "right"),
        ("13a", None, "left"),
        ("14", None, "right"),
    ],
    "brands-indy": [
        ("1", "Paddock Hill Bend", "right"),
        ("2", "Druids", "right"),
        ("3", "Graham Hill Bend", "left"),
        ("4", "Surtees", "left"),
        ("5", "Clearways", "right"),
    ],
}


@pytest.mark.parametrize("track_id", sorted(PUBLIC))
def test_named_tracks_follow_the_public_turn_list(track_id: str) -> None:
    track = load_track(TRACKS_DIR / f"{track_id}.json")
    assert [(c.number, c.name, c.direction) for c in track.corners] == PUBLIC[track_id]
    assert not track.corner_names_source.startswith("curvature")
    assert "Matched to the" in track.corner_names_source  # the matching is documented with the source


def test_road_america_names_match_the_real_lap(tmp_path: Path) -> None:
    with TestClient(create_app(make_settings(tmp_path, "duckdb"))) as client:
        response = client.post("/session/import", json={"vbo_path": str(RUN04)})
        assert response.status_code == 200, response.text
        session_id = response.json()["session_id"]
        corners = client.get(f"/session/{session_id}/corners").json()
    assert corners["track_id"] == "road-america"
    passes = corners["passes"]
    lap = {p["corner"]: p for p in passes if p["lap"] == 2}
    assert len(lap) == len(PUBLIC["road-america"])
    slowest = min(lap.values(), key=lambda p: p["min_speed_kph"])
    fastest = max(lap.values(), key=lambda p: p["min_speed_kph"])
    assert slowest["corner"] == "5"
    assert fastest["corner"] == "11" and fastest["min_speed_kph"] > 240.0  # the Kink: flat out
    canada = lap["12"]
    assert canada["entry_speed_kph"] - canada["min_speed_kph"] > 60.0  # a heavy stop at the end of a straight


def test_markers_say_where_corner_names_come_from(tmp_path: Path) -> None:
    settings = make_settings(tmp_path, "duckdb", track=TRACKS_DIR / "castlecombe.json")
    with TestClient(create_app(settings)) as client:
        body = client.get("/markers").json()
    assert body["track_id"] == "castlecombe"
    assert body["corner_names_source"].startswith("curvature")
