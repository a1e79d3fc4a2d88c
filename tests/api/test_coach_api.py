"""Coach routes on both backends: concepts, burst coaching, debrief (its seconds equal /session/<sid>/corners on
a multi-lap recording), score, insights, brief; bad input → 4xx with the error shape; /schema lists them."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from litestar import Litestar
from litestar.testing import TestClient

from pitwall import DATA_DIR
from pitwall.api.app import create_app
from pitwall.coach.cues import CUE_LIMITS
from tests.api.conftest import BACKENDS, RUN04, make_settings
from tests.coach.simulated import SONOMA

SIM_DRIVER = "Sim Driver"
CAROUSEL = next(c for c in SONOMA.corners if c.number == "6")


@pytest.fixture(scope="module", params=BACKENDS)
def coach(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory, sim_vbo: Path
) -> Iterator[tuple[TestClient[Litestar], str, str]]:
    """A client with the simulated 3-lap session and Road America Run04 imported: (client, sim_sid, run04_sid)."""
    tmp = tmp_path_factory.mktemp(f"coach-{request.param}")
    settings = make_settings(tmp, str(request.param), import_roots=(DATA_DIR, sim_vbo.parent))
    with TestClient(create_app(settings)) as client:
        sim = client.post("/session/import", json={"vbo_path": str(sim_vbo), "driver": SIM_DRIVER})
        run04 = client.post("/session/import", json={"vbo_path": str(RUN04), "driver": "Taha Bakir"})
        assert sim.status_code == 200 and run04.status_code == 200, (sim.text, run04.text)
        yield client, sim.json()["session_id"], run04.json()["session_id"]


def _error(response: Any, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.text
    body: dict[str, Any] = response.json()
    assert set(body) == {"error", "detail"} and isinstance(body["error"], str)
    return body


def test_concepts_route_lists_the_nine_with_rules(coach: tuple[TestClient[Litestar], str, str]) -> None:
    client, _, _ = coach
    body = client.get("/coach/concepts").json()
    assert body["count"] == 9 == len(body["concepts"])
    carry = next(c for c in body["concepts"] if c["id"] == "carry_min_speed")
    assert carry["description"] and carry["fires_when"] == {
        "all": [{"metric": "min_speed_deficit_kph", "op": ">", "value": 3.0}]
    }
    assert client.get("/health").json()["coach"] == "rule"


BURST = {
    "burst_id": 7,
    "avg_speed_kmh": 142.0,
    "max_combo_g": 1.1,
    "max_lateral_g": -0.9,
    "max_long_g": -1.0,
    "max_brake_bar": 60.0,
    "avg_throttle_pct": 38.0,
    "avg_steering_deg": 4.0,
    "coast_frames": 30,
    "trail_brake_frames": 1,
    "frame_count": 200,
    "corners_visited": ["4", "5"],
    "distance_m": 850.0,
    "in_corner": False,
    "past_apex": False,
}


def test_analyze_speaks_disciplined_cues_and_writes_a_note(
    coach: tuple[TestClient[Litestar], str, str],
) -> None:
    client, sim, _ = coach
    body = client.post("/analyze", json={**BURST, "session_id": sim}).json()
    assert body["coach_source"] == "rule" and body["source"] == "rule" and body["burst_id"] == 7
    assert [c["cue"] for c in body["cues"]] == [
        "brake_straight_then_trail",
        "commit_throttle_exit",
        "balance_the_car",
    ]
    assert len(body["cues"]) <= CUE_LIMITS.max_items and body["held_back"] is None
    trail, commit, balance = body["cues"]
    assert commit["metrics"] == {"avg_throttle_pct": 38.0}
    assert trail["metrics"] == {"max_brake_bar": 60.0, "trail_brake_pct": 0.5}
    assert (
        balance["metrics"] == {"coast_pct": 15.0}
        and balance["text"] == "Balance the car: 15.0 % coasting, pick a pedal"
    )
    assert all(c["tts_ms"] > 300 and 0 < c["confidence"] <= 1 and c["emotion"] for c in body["cues"])
    assert body["coaching"] == " ".join(f"{c['text']}." for c in body["cues"])
    assert body["pace_note"].startswith("T6 The Carousel, left")  # the corner after T5
    assert body["metrics"]["max_lateral_g"] == 0.9 and body["metrics"]["avg_speed_kph"] == 142.0
    notes = client.get(f"/session/{sim}").json()["coaching_notes"]
    note = next(n for n in notes if n["id"] == body["note_id"])
    assert note["text"] == body["coaching"] and note["source"] == "rule"
    # the same burst again at once: every cue is within its repeat gap
    again = client.post("/analyze", json={**BURST, "session_id": sim}).json()
    assert again["cues"] == [] and again["held_back"] == "repeat_gap" and again["coaching"] == ""
    # no session: nothing written; a corner: nothing spoken
    corner = client.post(
        "/analyze", json={**BURST, "in_corner": True, "s_m": CAROUSEL.s_entry_m - 128}
    ).json()
    assert corner["cues"] == [] and corner["held_back"] == "in_corner" and corner["note_id"] is None
    assert corner["pace_note"].startswith("128, T6 The Carousel, left")
    apex = client.post("/analyze", json={**BURST, "past_apex": True, "burst_id": 8}).json()
    assert apex["cues"] == [] and apex["held_back"] == "past_apex"
    counted = client.post("/analyze", json={"corners_visited": 4, "s_m": 10.0}).json()  # a count, not a list
    assert counted["pace_note_detail"]["corner"] == "1" and counted["cues"] == []
    empty = client.post("/analyze", json={}).json()  # every field optional
    assert empty["cues"] == [] and empty["metrics"]["coast_pct"] is None and empty["burst_id"] is None


@pytest.mark.parametrize(
    "body",
    [
        {"avg_throttle_pct": 150},
        {"frame_count": 10, "coast_frames": 11},
        {"max_brake_bar": "hard"},
        {"corners_visited": {"a": 1}},
        {"in_corner": "maybe"},
        {"session_id": ""},
    ],
)
def test_analyze_bad_bursts_are_400(
    coach: tuple[TestClient[Litestar], str, str], body: dict[str, Any]
) -> None:
    client, _, _ = coach
    _error(client.post("/analyze", json=body), 400)


def test_analyze_unknown_session_is_404(coach: tuple[TestClient[Litestar], str, str]) -> None:
    client, _, _ = coach
    assert (
        _error(client.post("/analyze", json={**BURST, "session_id": "nope"}), 404)["error"]
        == "unknown session"
    )


def test_debrief_top_three_equal_the_corners_route(coach: tuple[TestClient[Litestar], str, str]) -> None:
    client, sim, _ = coach
    body = client.post("/coach/debrief", json={"session_id": sim, "driver_id": SIM_DRIVER}).json()
    corners = client.get(f"/session/{sim}/corners").json()
    expected = sorted(corners["corners"], key=lambda c: -c["delta_to_reference_s"])[:3]
    assert [o["corner"] for o in body["opportunities"]] == [c["corner"] for c in expected]
    assert [o["gain_s"] for o in body["opportunities"]] == [c["delta_to_reference_s"] for c in expected]
    assert [o["rank"] for o in body["opportunities"]] == [1, 2, 3]
    assert corners["reference_file"] == body["reference_file"] == "data/reference/sonoma_model.json"
    for opportunity in body["opportunities"]:
        label = f"T{opportunity['corner']}"
        assert (
            f"{label}" in body["narrative"] and f"{opportunity['gain_s']:.2f} s to gain" in body["narrative"]
        )
        assert opportunity["text"] in body["narrative"] and opportunity["confidence"] > 0
    assert body["narrative"].startswith("## Debrief: Sonoma Raceway") and body["coach_source"] == "rule"
    assert body["emotion"] in {"determined", "encouraging", "happy"}
    assert body["fragments"]["telemetry"]["lap_time_cv_pct"] is not None  # 3 complete laps
    kinds = {
        "corner_time_loss",
        "braking_point",
        "sector_time_loss",
        "delta_t_loss",
        "lap_consistency",
        "technique",
    }
    assert {f["kind"] for f in body["findings"]} <= kinds and all(f["text"] for f in body["findings"])
    assert body["fragments"]["highlights"] == [o["text"] for o in body["opportunities"]]
    assert {c["id"] for c in body["fragments"]["concepts"]} == {
        f["concept"] for f in body["findings"] if f["concept"]
    }
    notes = client.get(f"/session/{sim}").json()["coaching_notes"]
    assert any(n["id"] == body["note_id"] and n["text"] == body["narrative"] for n in notes)


def test_debrief_of_a_vbo_path_and_bad_requests(
    coach: tuple[TestClient[Litestar], str, str], sim_vbo: Path
) -> None:
    client, sim, run04 = coach
    by_path = client.post("/coach/debrief", json={"vbo_path": str(sim_vbo), "driver_id": SIM_DRIVER}).json()
    assert by_path["session_id"] == sim  # already imported: the existing session is debriefed
    one_lap = client.post("/coach/debrief", json={"session_id": run04, "driver_id": "Taha Bakir"})
    assert one_lap.status_code == 200 and one_lap.json()["track_id"] == "road-america"
    _error(client.post("/coach/debrief", json={"session_id": "nope", "driver_id": "x"}), 404)
    _error(client.post("/coach/debrief", json={"vbo_path": str(sim_vbo.parent / "missing.vbo")}), 404)
    _error(client.post("/coach/debrief", json={"vbo_path": "/etc/passwd"}), 403)
    _error(client.post("/coach/debrief", json={"driver_id": "x"}), 400)
    _error(client.post("/coach/debrief", json={"session_id": sim, "colour": "red"}), 400)


def test_score_is_a_rubric_with_reasons(coach: tuple[TestClient[Litestar], str, str]) -> None:
    client, sim, _ = coach
    body = client.post("/score", json={"session_id": sim}).json()
    scorecard = client.get(f"/session/{sim}/scorecard").json()
    items = {i["item"]: i for i in body["items"]}
    assert set(items) == {"consistency", "corners", "pedals"} and all(i["reason"] for i in body["items"])
    assert items["corners"]["grade"] == scorecard["overall"]["grade"]
    assert items["corners"]["metrics"]["time_lost_s"] == scorecard["overall"]["time_lost_s"]
    assert items["consistency"]["grade"] is not None and body["grade"] in {"A", "B", "C", "D", "F"}
    graded = [i["grade_points"] for i in body["items"] if i["grade_points"] is not None]
    assert body["grade_points"] == pytest.approx(sum(graded) / len(graded))
    _error(client.post("/score", json={"session_id": "nope"}), 404)
    _error(client.post("/score", json={}), 400)


def test_insights_across_sessions(coach: tuple[TestClient[Litestar], str, str]) -> None:
    client, sim, run04 = coach
    body = client.get("/insights", params={"driver": SIM_DRIVER}).json()
    assert body["sessions"] == [sim] and body["skipped"] == []
    corners = {c["corner"]: c for c in client.get(f"/session/{sim}/corners").json()["corners"]}
    corner_items = [i for i in body["insights"] if i["kind"] == "corner"]
    assert corner_items and all({"id", "title", "detail", "est_gain_s"} <= set(i) for i in body["insights"])
    for item in corner_items:
        corner = item["id"].removeprefix("corner-")
        assert item["est_gain_s"] == pytest.approx(corners[corner]["delta_to_reference_s"], abs=1e-12)
    everyone = client.get("/insights").json()
    assert set(everyone["sessions"]) == {sim, run04}
    _error(client.get("/insights", params={"limit": 0}), 400)


def test_brief_names_weak_corners_from_earlier_sessions(coach: tuple[TestClient[Litestar], str, str]) -> None:
    client, sim, _ = coach
    body = client.get(
        "/coach/brief", params={"driver": SIM_DRIVER, "focus": "braking", "hour_local": 13}
    ).json()
    assert (
        body["track_id"] == "sonoma" and body["weather_phase"] == "Midday" and body["surface_state"] == "hot"
    )
    assert body["sessions_considered"] == 1 and body["coach_source"] == "rule"
    assert body["focus"][0] == "braking" and "T6 (The Carousel)" in body["focus"]
    assert body["weak_corners"][0]["corner"] == "6" and "T6 (The Carousel)" in body["narrative_md"]
    assert body["emotion"] == "determined"
    # the session itself is not "earlier": its own brief has no history
    own = client.get("/coach/brief", params={"driver": SIM_DRIVER, "session_id": sim, "hour_local": 6}).json()
    assert own["weak_corners"] == [] and own["surface_state"] == "cold" and own["emotion"] == "encouraging"
    _error(client.get("/coach/brief", params={"session_id": "nope"}), 404)
    _error(client.get("/coach/brief", params={"hour_local": 24}), 400)


def test_coach_routes_are_in_the_schema(coach: tuple[TestClient[Litestar], str, str]) -> None:
    client, _, _ = coach
    paths = client.get("/schema/openapi.json").json()["paths"]
    expected = {
        ("/coach/concepts", "get"): "coach_concepts",
        ("/analyze", "post"): "analyze_burst",
        ("/coach/brief", "get"): "coach_brief",
        ("/coach/debrief", "post"): "coach_debrief",
        ("/score", "post"): "score_session",
        ("/insights", "get"): "coach_insights",
    }
    for (path, method), operation_id in expected.items():
        operation = paths[path][method]
        assert operation["operationId"] == operation_id and operation["tags"] == ["coach"]
        assert operation.get("description") or operation.get("summary")


def test_coach_routes_without_database_are_503(no_db_client: TestClient[Litestar]) -> None:
    _error(no_db_client.post("/score", json={"session_id": "x"}), 503)
    _error(no_db_client.get("/insights"), 503)
    _error(no_db_client.post("/analyze", json={"session_id": "x"}), 503)
    assert no_db_client.post("/analyze", json=BURST).status_code == 200  # no session: no database needed
