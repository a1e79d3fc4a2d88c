"""Sessions CRUD and the cache reset through the real app, on DuckDB and SQLite."""

from __future__ import annotations

import re
from datetime import datetime

from litestar import Litestar
from litestar.testing import TestClient


def test_start_generates_track_slug_and_utc_id(client: TestClient[Litestar]) -> None:
    response = client.post("/session/start", json={"driver": "Taha", "car": "BMW M3 (E46)", "note": "dry"})
    assert response.status_code == 200
    body = response.json()
    assert body["started"] is True
    assert re.fullmatch(r"sonoma-raceway-\d{8}-\d{6}", body["session_id"])
    row = client.get(f"/session/{body['session_id']}").json()["session"]
    assert row["driver"] == "Taha" and row["car"] == "BMW M3 (E46)" and row["note"] == "dry"
    assert row["track"] == "Sonoma Raceway" and row["track_id"] == "sonoma" and row["source"] == "api"
    assert row["ended_at"] is None and row["started_at"].endswith("Z")


def test_start_auto_ids_never_collide(client: TestClient[Litestar]) -> None:
    ids = {
        client.post("/session/start", json={"track": "Thunderhill East"}).json()["session_id"]
        for _ in range(3)
    }
    assert len(ids) == 3
    assert all(i.startswith("thunderhill-east-") for i in ids)


def test_start_with_supplied_id_and_conflict(client: TestClient[Litestar]) -> None:
    assert client.post("/session/start", json={"session_id": "my-run_1"}).json() == {
        "started": True,
        "session_id": "my-run_1",
    }
    again = client.post("/session/start", json={"session_id": "my-run_1"})
    assert again.status_code == 409
    assert again.json()["error"] == "session exists"


def test_start_rejects_bad_ids_and_bodies(client: TestClient[Litestar]) -> None:
    for bad in ("", "../etc", "a b", "x" * 129, "-lead"):
        response = client.post("/session/start", json={"session_id": bad})
        assert response.status_code == 400, bad
        assert response.json()["error"] == "invalid session id"
    wrong_type = client.post("/session/start", json={"driver": 7})
    assert wrong_type.status_code == 400 and wrong_type.json()["error"] == "invalid request"
    unknown_field = client.post("/session/start", json={"pilot": "x"})
    assert unknown_field.status_code == 400


def test_end_is_idempotent_and_404_for_unknown(client: TestClient[Litestar]) -> None:
    sid = client.post("/session/start", json={}).json()["session_id"]
    first = client.post(f"/session/{sid}/end")
    assert first.status_code == 200
    stamp = first.json()["ended_at"]
    assert first.json() == {"ended": True, "session_id": sid, "ended_at": stamp}
    datetime.fromisoformat(stamp)
    assert client.post(f"/session/{sid}/end").json()["ended_at"] == stamp
    missing = client.post("/session/nope/end")
    assert missing.status_code == 404 and missing.json()["error"] == "unknown session"


def test_list_sessions_newest_first_with_filters_and_limits(client: TestClient[Litestar]) -> None:
    ids = [client.post("/session/start", json={"session_id": f"s{i}"}).json()["session_id"] for i in range(3)]
    client.post("/session/s0/end")
    body = client.get("/sessions").json()
    assert [row["session_id"] for row in body["sessions"]] == ids[::-1]
    assert body["count"] == 3
    assert body["sessions"][0]["lap_count"] == 0 and body["sessions"][0]["best_lap_s"] is None
    assert "meta" not in body["sessions"][0]
    active = client.get("/sessions?active_only=true").json()
    assert {row["session_id"] for row in active["sessions"]} == {"s1", "s2"}
    assert client.get("/sessions?limit=1").json()["count"] == 1
    for bad in ("limit=0", "limit=501", "limit=x", "active_only=maybe"):
        response = client.get(f"/sessions?{bad}")
        assert response.status_code == 400, bad
        assert set(response.json()) == {"error", "detail"}
    assert client.get("/sessions?limit=500").status_code == 200


def test_session_detail_has_row_laps_and_last_50_notes(client: TestClient[Litestar], app: Litestar) -> None:
    client.post("/session/start", json={"session_id": "d1", "driver": "Ana"})
    store = app.state.store
    for i in range(55):
        store.add_coaching_note("d1", f"note {i}", "rule", {"i": i})
    client.post("/lap", json={"session_id": "d1", "lap": 1, "t_start_s": 10.0, "t_end_s": 100.5})
    body = client.get("/session/d1").json()
    assert body["session"]["session_id"] == "d1" and body["session"]["driver"] == "Ana"
    assert [lap["lap"] for lap in body["laps"]] == [1]
    assert body["laps"][0]["duration_s"] == 90.5 and body["laps"][0]["method"] == "manual"
    assert len(body["coaching_notes"]) == 50
    assert body["coaching_notes"][0]["text"] == "note 54"
    assert body["coaching_notes"][0]["payload"] == {"i": 54}
    missing = client.get("/session/nope")
    assert missing.status_code == 404 and missing.json()["error"] == "unknown session"


def test_reset_clears_every_registered_cache(client: TestClient[Litestar], app: Litestar) -> None:
    entries = {"a": 1, "b": 2}

    def clear_counted() -> int:
        n = len(entries)
        entries.clear()
        return n

    app.state.caches["counted"] = clear_counted
    app.state.caches["silent"] = lambda: None
    assert client.post("/session/reset").json() == {"reset": True, "cleared": {"counted": 2, "silent": None}}
    assert entries == {}
    assert client.post("/session/reset").json()["cleared"]["counted"] == 0
