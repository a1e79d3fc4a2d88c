"""/health, /cars, /diagnostics/llm_friction, the OpenAPI document and the no-database answers."""

from __future__ import annotations

import gc
import re
from pathlib import Path

import pytest
from litestar import Litestar
from litestar.testing import TestClient

from pitwall import DATA_DIR, __version__
from pitwall.api.app import ROUTE_HANDLERS, create_app
from tests.api.conftest import make_settings


def test_health_reports_store_track_and_active_session(client: TestClient[Litestar]) -> None:
    body = client.get("/health").json()
    assert body["status"] == "ok"
    assert body["version"] == __version__
    assert body["engine"] is None and body["coach"] == "rule" and body["can"] is None
    assert body["duckdb"] is True
    assert body["track"] == "Sonoma Raceway"
    assert body["active_session_id"] is None
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", body["timestamp"])

    started = client.post("/session/start", json={"driver": "Taha"}).json()["session_id"]
    assert client.get("/health").json()["active_session_id"] == started
    client.post(f"/session/{started}/end")
    assert client.get("/health").json()["active_session_id"] is None


def test_startup_objects_leave_the_collectors_scans_while_serving(tmp_path: Path) -> None:
    """The app's objects (modules, routes, opened resources) are frozen out of the cyclic collector while it
    serves — so a full collection does not pause the live path for all of them — and handed back on shutdown."""
    gc.unfreeze()
    app = create_app(make_settings(tmp_path, "duckdb"))
    with TestClient(app) as client:
        frozen = gc.get_freeze_count()
        assert client.get("/health").status_code == 200
    assert frozen > 10_000  # the app, the store and the imported modules, not a handful
    assert gc.get_freeze_count() == 0


def test_health_without_database_or_track(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("x")
    settings = make_settings(tmp_path, "duckdb", db=blocker / "x.duckdb", track=tmp_path / "missing.json")
    with TestClient(create_app(settings)) as client:
        body = client.get("/health").json()
    assert body["duckdb"] is False and body["track"] is None and body["active_session_id"] is None


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("GET", "/sessions", None),
        ("GET", "/session/x", None),
        ("POST", "/session/start", {}),
        ("POST", "/session/x/end", None),
        ("POST", "/session/import", {"vbo_path": "data/samples/x.vbo"}),
        ("POST", "/session/x/frames", {"frames": [{"t_s": 0.0}]}),
        ("POST", "/session/x/frame", {"t_s": 0.0}),
        ("POST", "/session/x/video_frames", {"frames": []}),
        ("POST", "/session/x/signals", {"signals": []}),
        ("GET", "/session/x/export.parquet", None),
        ("GET", "/signals/registry", None),
        ("GET", "/session/x/capabilities", None),
        ("POST", "/session/x/capabilities/recompute", None),
        ("GET", "/session/x/signals?names=speed_kph", None),
        ("GET", "/laps", None),
        ("POST", "/lap", {"session_id": "x", "lap": 1, "t_start_s": 0.0, "t_end_s": 90.0}),
        ("GET", "/leaderboard", None),
        ("GET", "/diagnostics/llm_friction", None),
    ],
)
def test_every_database_route_answers_503_without_a_database(
    no_db_client: TestClient[Litestar], method: str, path: str, body: object
) -> None:
    response = no_db_client.request(method, path, json=body)
    assert response.status_code == 503, response.text
    assert response.json()["error"] == "no database"
    assert "pitwall.duckdb" in response.json()["detail"]


def test_reset_works_without_a_database(no_db_client: TestClient[Litestar]) -> None:
    assert no_db_client.post("/session/reset").json() == {"reset": True, "cleared": {}}


def test_cars_lists_every_yaml_and_flags_the_loaded_one(tmp_path: Path, backend: str) -> None:
    car = DATA_DIR / "cars" / "bmw_e46_m3.yaml"
    with TestClient(create_app(make_settings(tmp_path, backend, can_car_config=car))) as client:
        body = client.get("/cars").json()
    assert body["loaded_id"] == "bmw_e46_m3"
    assert body["cars_dir"] == str(DATA_DIR / "cars")
    assert len(body["cars"]) == len(list((DATA_DIR / "cars").glob("*.yaml")))
    e46 = next(c for c in body["cars"] if c["id"] == "bmw_e46_m3")
    assert e46["loaded"] is True
    assert e46["make"] == "BMW" and e46["channel_count"] == len(e46["channels"]) > 0


def test_cars_without_a_loaded_config(client: TestClient[Litestar]) -> None:
    body = client.get("/cars").json()
    assert body["loaded_id"] is None
    assert not any(car["loaded"] for car in body["cars"])


def test_cars_404_when_the_folder_is_missing(tmp_path: Path) -> None:
    with TestClient(create_app(make_settings(tmp_path, "sqlite", cars_dir=tmp_path / "nope"))) as client:
        response = client.get("/cars")
    assert response.status_code == 404
    assert response.json() == {"error": "no cars folder", "detail": str(tmp_path / "nope")}


def test_llm_friction_is_honest(client: TestClient[Litestar], app: Litestar) -> None:
    empty = {"rows": [], "count": 0, "by_role": {}, "fallback_rate": None}
    assert client.get("/diagnostics/llm_friction").json() == empty
    app.state.store.add_llm_friction(
        {"component": "debrief", "model": "local", "latency_ms": 1234.0, "fallback_reason": "timeout"}
    )
    body = client.get("/diagnostics/llm_friction").json()
    assert body["count"] == 1
    assert body["rows"][0]["fallback_reason"] == "timeout"
    assert body["by_role"] == {
        "debrief": {
            "calls": 1,
            "fallbacks": 1,
            "fallback_rate": 1.0,
            "mean_latency_ms": 1234.0,
            "reasons": {"timeout": 1},
        }
    }
    assert body["fallback_rate"] == 1.0
    assert client.get("/diagnostics/llm_friction?limit=0").status_code == 400


def test_openapi_documents_every_route_with_an_operation_id_and_description(
    client: TestClient[Litestar],
) -> None:
    doc = client.get("/schema/openapi.json").json()
    operations = [op for path in doc["paths"].values() for op in path.values() if isinstance(op, dict)]
    ids = [op["operationId"] for op in operations]
    assert len(ids) == len(set(ids))
    for op in operations:
        assert op.get("description") or op.get("summary"), op["operationId"]
    for route in ("/health", "/session/import", "/session/{session_id}/export.parquet", "/leaderboard"):
        assert route in doc["paths"]
    assert len(ROUTE_HANDLERS) >= 7


def test_unknown_route_and_malformed_body_use_the_one_error_shape(client: TestClient[Litestar]) -> None:
    missing = client.get("/no/such/route")
    assert missing.status_code == 404 and set(missing.json()) == {"error", "detail"}
    garbage = client.post(
        "/session/start", content=b"{not json", headers={"Content-Type": "application/json"}
    )
    assert garbage.status_code == 400 and set(garbage.json()) == {"error", "detail"}


def test_every_operation_has_a_snake_case_id_and_a_tag(client: TestClient[Litestar]) -> None:
    doc = client.get("/schema/openapi.json").json()
    operations = [op for path in doc["paths"].values() for op in path.values() if isinstance(op, dict)]
    for op in operations:
        assert re.fullmatch(r"[a-z][a-z0-9_]*", op["operationId"]), op["operationId"]
        assert op.get("tags"), op["operationId"]
