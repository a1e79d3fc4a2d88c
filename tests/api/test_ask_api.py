"""Ask the coach, its history, traces, agents, the LLM friction log and the driver routes, on both backends, on
a multi-lap simulated recording; the optional language model against a real local OpenAI-compatible server."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from litestar import Litestar
from litestar.testing import TestClient

from pitwall import DATA_DIR
from pitwall.api.app import create_app
from pitwall.config import LlmConfig
from pitwall.formats.vbo import read_vbo
from pitwall.formats.vbo_writer import write_vbo
from tests.api.conftest import BACKENDS, RUN04, make_settings
from tests.llm_server import LEAD_IN, model_server

DRIVER = "Sim Driver"
Client = TestClient[Litestar]


@pytest.fixture(scope="module", params=BACKENDS)
def asked(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory, sim_vbo: Path
) -> Iterator[tuple[Client, str]]:
    tmp = tmp_path_factory.mktemp(f"ask-{request.param}")
    settings = make_settings(tmp, str(request.param), import_roots=(DATA_DIR, sim_vbo.parent))
    with TestClient(create_app(settings)) as client:
        sim = client.post("/session/import", json={"vbo_path": str(sim_vbo), "driver": DRIVER})
        assert sim.status_code == 200, sim.text
        assert (
            client.post("/session/import", json={"vbo_path": str(RUN04), "driver": "KO"}).status_code == 200
        )
        yield client, sim.json()["session_id"]


def _error(response: Any, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.text
    body: dict[str, Any] = response.json()
    assert set(body) == {"error", "detail"}
    return body


def _flying(client: Client, sid: str) -> list[dict[str, Any]]:
    table = client.get(f"/session/{sid}/lap_time_table").json()
    return [lap for lap in table["laps"] if lap["kind"] == "flying" and lap["duration_s"] is not None]


def test_lap_comparison_states_the_lap_time_table_difference(asked: tuple[Client, str]) -> None:
    client, sid = asked
    laps = _flying(client, sid)
    assert len(laps) >= 2
    a, b = laps[0], laps[1]
    question = f"Why was lap {a['lap']} faster than lap {b['lap']}?"
    body = client.post(
        "/coach/ask", json={"question": question, "driver_id": DRIVER, "session_id": sid}
    ).json()
    assert body["intent"] == "lap_comparison" and body["routed_by"] == "router"
    assert body["coach_source"] == "rule" and body["fallback_reason"] == "not_configured"
    lap_delta = next(f for f in body["findings"] if f["kind"] == "lap_delta")
    expected = abs(a["duration_s"] - b["duration_s"])
    assert lap_delta["metrics"]["delta_s"] == pytest.approx(expected, abs=0.01)
    assert f"{expected:.2f} s faster" in body["answer"]
    fast, slow = sorted((a, b), key=lambda lap: lap["duration_s"])
    sectors = {f["sector"]: f for f in body["findings"] if f["kind"] == "sector_delta"}
    assert set(sectors) == {1, 2, 3}
    times = {row["lap"]: row for row in client.get(f"/session/{sid}/sector_times").json()["laps"]}
    for k, finding in sectors.items():
        delta = times[slow["lap"]][f"s{k}_s"] - times[fast["lap"]][f"s{k}_s"]
        assert finding["metrics"]["delta_s"] == pytest.approx(delta, abs=0.01)
        assert f"{abs(delta):.2f} s" in body["answer"]
    assert any(f["kind"] == "corner_delta" for f in body["findings"])
    # the intent field bypasses the router
    forced = client.post(
        "/coach/ask",
        json={"question": "tell me", "driver_id": DRIVER, "session_id": sid, "intent": "lap_comparison"},
    ).json()
    assert forced["intent"] == "lap_comparison" and forced["routed_by"] == "request"
    assert forced["findings"][0]["kind"] == "lap_delta"


@pytest.mark.parametrize(
    ("question", "intent", "kind"),
    [
        ("What was my best lap?", "best_lap", "best_lap"),
        ("What are my best sectors?", "sectors", "best_sector"),
        ("How consistent were my laps?", "consistency", "lap_spread"),
        ("Which corners cost me the most?", "corner_advice", "corner_time_loss"),
        ("What should I work on?", "general", None),
        ("Compare lap 99 and lap 2", "lap_comparison", "unknown_lap"),
    ],
)
def test_each_intent_answers_from_the_pipelines(
    asked: tuple[Client, str], question: str, intent: str, kind: str | None
) -> None:
    client, sid = asked
    body = client.post(
        "/coach/ask", json={"question": question, "driver_id": DRIVER, "session_id": sid}
    ).json()
    assert body["intent"] == intent and body["answer"] and body["findings"]
    if kind is not None:
        assert body["findings"][0]["kind"] == kind
    if intent == "best_lap":
        table = client.get(f"/session/{sid}/lap_time_table").json()
        assert f"{table['best_lap_s']:.2f} s" in body["answer"]
        assert body["findings"][0]["lap"] == table["best_lap"]


def test_bad_questions_are_4xx(asked: tuple[Client, str]) -> None:
    client, sid = asked
    for question in ("", "   \n\t"):
        _error(client.post("/coach/ask", json={"question": question, "session_id": sid}), 400)
    _error(client.post("/coach/ask", json={"question": "best lap?", "session_id": "no-such"}), 404)
    _error(client.post("/coach/ask", json={"question": "best lap?", "session_id": sid, "intent": "x"}), 400)
    _error(client.post("/coach/ask", json={"session_id": sid}), 400)
    _error(client.post("/coach/ask", json={"question": "best?", "driver_id": "nobody"}), 404)
    _error(client.post("/coach/ask/stream", json={"question": " ", "session_id": sid}), 400)
    _error(client.post("/coach/ask/end", json={}), 400)


def _sse_data(text: str) -> list[dict[str, Any]]:
    return [json.loads(line[5:]) for line in text.splitlines() if line.startswith("data:")]


def test_stream_sends_deltas_then_the_checked_answer(asked: tuple[Client, str]) -> None:
    client, sid = asked
    response = client.post(
        "/coach/ask/stream",
        json={"question": "What was my best lap?", "driver_id": DRIVER, "session_id": sid},
    )
    assert response.status_code == 200 and response.headers["content-type"].startswith("text/event-stream")
    events = _sse_data(response.text)
    deltas, done = events[:-1], events[-1]
    assert deltas and all(set(e) == {"delta"} for e in deltas)
    assert done["done"] is True and done["emotion"] and done["intent"] == "best_lap"
    assert "".join(e["delta"] for e in deltas) == done["answer"]


def test_history_is_flushed_to_conversations(asked: tuple[Client, str]) -> None:
    client, sid = asked
    driver = "History Driver"
    turns = [
        client.post("/coach/ask", json={"question": q, "driver_id": driver, "session_id": sid}).json()
        for q in ("What was my best lap?", "How consistent were my laps?")
    ]
    assert [t["turn"] for t in turns] == [1, 2] and turns[0]["qa_key"] == f"{driver}:{sid}"
    ended = client.post("/coach/ask/end", json={"driver_id": driver, "session_id": sid}).json()
    assert ended == {"qa_key": f"{driver}:{sid}", "flushed": 4}
    again = client.post("/coach/ask/end", json={"qa_key": f"{driver}:{sid}"}).json()
    assert again["flushed"] == 0
    history = client.get(f"/conversations/driver/{driver}").json()["history"]
    assert [h["role"] for h in history] == ["driver", "coach", "driver", "coach"]
    assert history[1]["text"] == turns[0]["answer"] and history[0]["text"] == "What was my best lap?"
    assert {h["session_id"] for h in history} == {sid} and all(
        h["recorded_at"].endswith("Z") for h in history
    )
    by_session = client.get(f"/conversations/{sid}").json()["history"]
    assert [h["text"] for h in by_session if h["driver_id"] == driver] == [h["text"] for h in history]
    _error(client.get("/conversations/no-such-session"), 404)
    assert client.get("/conversations/driver/nobody").json() == {"history": [], "count": 0}


def test_agents_and_traces(asked: tuple[Client, str]) -> None:
    client, sid = asked
    agents = client.get("/coach/agents").json()
    assert agents["available"] is True and agents["llm"] == {"configured": False, "model": None}
    assert {a["name"] for a in agents["agents"]} == {
        "lap_comparison",
        "corner_advice",
        "braking",
        "consistency",
        "best_lap",
        "sectors",
        "general",
    }
    assert all(a["role"] and a["example_questions"] for a in agents["agents"])
    before = time.time() - 1
    client.post("/coach/ask", json={"question": "Where am I braking too early?", "session_id": sid})
    traces = client.get("/coach/traces", params={"session_id": sid, "since_ts": before}).json()
    assert traces["available"] is True
    steps = [(t["agent"], t["event"]) for t in traces["traces"]][:3]
    assert steps == [("template", "phrase"), ("braking", "tools"), ("router", "route")]
    route = traces["traces"][2]["payload"]
    assert route["intent"] == "braking" and route["question"] == "Where am I braking too early?"
    assert client.get("/coach/traces", params={"limit": 1}).json()["count"] == 1
    assert client.get("/coach/traces", params={"since_ts": time.time() + 60}).json()["traces"] == []
    _error(client.get("/coach/traces", params={"limit": 1001}), 400)


def test_llm_friction_rows_and_aggregates(asked: tuple[Client, str]) -> None:
    client, sid = asked
    client.post("/coach/ask", json={"question": "best lap?", "session_id": sid})
    body = client.get("/diagnostics/llm_friction").json()
    assert body["rows"][0]["component"] == "ask" and body["rows"][0]["fallback_reason"] == "not_configured"
    assert body["by_role"]["ask"]["fallback_rate"] == 1.0 and body["fallback_rate"] == 1.0
    assert body["by_role"]["ask"]["reasons"]["not_configured"] == body["by_role"]["ask"]["calls"]


@pytest.mark.parametrize("backend", BACKENDS)
def test_a_configured_model_phrases_answers_and_a_lying_one_is_caught(
    backend: str, tmp_path: Path, sim_vbo: Path
) -> None:
    with model_server("rephrase") as model:
        settings = make_settings(tmp_path, backend, import_roots=(sim_vbo.parent,))
        settings = replace(settings, llm=LlmConfig(url=model.url, model="tiny", timeout_s=10))
        with TestClient(create_app(settings)) as client:
            sid = client.post("/session/import", json={"vbo_path": str(sim_vbo), "driver": DRIVER}).json()[
                "session_id"
            ]
            body = client.post("/coach/ask", json={"question": "best lap?", "session_id": sid}).json()
            assert body["coach_source"] == "llm" and body["answer"].startswith(LEAD_IN)
            assert body["fallback_reason"] is None
            debrief = client.post("/coach/debrief", json={"session_id": sid, "driver_id": DRIVER}).json()
            assert debrief["coach_source"] == "llm" and debrief["narrative"].startswith(LEAD_IN)
            assert client.get("/coach/agents").json()["llm"] == {"configured": True, "model": "tiny"}
            model.mode = "invent"
            caught = client.post("/coach/ask", json={"question": "best lap?", "session_id": sid}).json()
            assert caught["coach_source"] == "rule" and caught["fallback_reason"] == "invented_number"
            assert "7.77" not in caught["answer"]
            friction = client.get("/diagnostics/llm_friction").json()
            assert friction["by_role"]["ask"]["calls"] == 2 and friction["by_role"]["ask"]["fallbacks"] == 1
            assert friction["by_role"]["debrief"]["fallback_rate"] == 0.0


def test_driver_profile_and_evolution(asked: tuple[Client, str], tmp_path: Path, sim_vbo: Path) -> None:
    client, sid = asked
    profile = client.get(f"/driver/{DRIVER}/profile").json()
    laps = [lap for lap in _flying(client, sid) if lap["valid"]]
    assert profile["driver_id"] == DRIVER and profile["sessions"] == 1 and profile["laps"] == len(laps)
    assert profile["tracks"][0]["track_id"] == "sonoma"
    assert profile["tracks"][0]["best_lap_s"] == pytest.approx(min(lap["duration_s"] for lap in laps))
    assert profile["events"][-1]["kind"] == "session"
    _error(client.get("/driver/nobody/profile"), 404)
    _error(client.get("/driver/nobody/evolution"), 404)
    assert client.get(f"/driver/{DRIVER}/evolution", params={"track": "sonoma"}).status_code == 204


def test_evolution_over_five_sessions(tmp_path: Path, sim_vbo: Path) -> None:
    recording = read_vbo(sim_vbo)
    folder = tmp_path / "five"
    folder.mkdir()
    settings = make_settings(tmp_path, "duckdb", import_roots=(folder,))
    with TestClient(create_app(settings)) as client:
        for k in range(5):  # five recordings of the same drive, each starting a few samples later
            frames = recording.telemetry.slice(10 * k)
            path = write_vbo(frames, folder / f"run{k}.vbo", gates=list(recording.gates))
            answer = client.post("/session/import", json={"vbo_path": str(path), "driver": "Evo"})
            assert answer.status_code == 200, answer.text
        body = client.get("/driver/Evo/evolution").json()
    assert body["track_id"] == "sonoma" and body["summary"]["sessions"] == 5 == len(body["series"])
    firsts = [row["best_lap_s"] for row in body["series"]]
    assert body["summary"]["first_best_lap_s"] == firsts[0]
    assert body["summary"]["delta_s"] == pytest.approx(firsts[-1] - firsts[0])
    assert body["summary"]["best_ever_lap_s"] == min(firsts)
