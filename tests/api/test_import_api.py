"""POST /session/import with the real sample VBOs: counts, track detection, roots, errors, idempotency."""

from __future__ import annotations

import os
import shutil
from datetime import UTC, datetime
from pathlib import Path

import pytest
from litestar import Litestar
from litestar.testing import TestClient

from pitwall.config import Settings
from pitwall.formats.vbo import read_vbo
from pitwall.importer import InvalidSessionId, candidate_ids, check_session_id, make_session_id, slugify
from tests.api.conftest import RUN01, RUN04, RUN05, SAMPLES, data_rows


@pytest.mark.parametrize("path", sorted(SAMPLES.glob("*.vbo")), ids=lambda p: p.name)
def test_import_real_sample_exact_frames(client: TestClient[Litestar], path: Path) -> None:
    recording = read_vbo(path)
    assert recording.rows_in_file == data_rows(path)
    kept = data_rows(path) - recording.rows_dropped_prefix - recording.rows_dropped_duplicate
    response = client.post(
        "/session/import", json={"vbo_path": str(path), "driver": "Taha", "driver_level": "pro"}
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["n_frames"] == kept
    assert body["vbo_source"] == path.name
    assert body["status"] == "imported"
    assert body["duration_s"] == pytest.approx(recording.telemetry["t_s"].max())
    assert body["distance_m"] == pytest.approx(recording.telemetry["distance_m"].max())
    assert body["capabilities_count"] > 0
    caps = client.get(f"/session/{body['session_id']}/capabilities").json()
    assert caps["count"] == body["capabilities_count"]
    row = client.get(f"/session/{body['session_id']}").json()["session"]
    assert row["n_frames"] == kept and row["driver"] == "Taha" and row["driver_level"] == "pro"
    assert row["source"] == "vbo" and row["ended_at"] is not None
    assert len(row["content_hash"]) == 64


def test_import_run04_detects_road_america_and_names_the_session(client: TestClient[Litestar]) -> None:
    body = client.post("/session/import", json={"vbo_path": str(RUN04)}).json()
    assert (
        body["n_frames"]
        == 10_401 - read_vbo(RUN04).rows_dropped_prefix - read_vbo(RUN04).rows_dropped_duplicate
    )
    assert body["track"] == "Road America"
    assert body["session_id"].startswith("road-america-2025")
    row = client.get(f"/session/{body['session_id']}").json()["session"]
    assert row["track_id"] == "road-america"
    assert row["meta"]["gates"], "the VBO [laptiming] gate is kept for lap slicing"
    listed = client.get("/sessions").json()["sessions"][0]
    assert listed["lap_count"] >= 1 and 110 < listed["best_lap_s"] < 120  # ECU lap counter: lap 2 ≈ 115.0 s


def test_import_with_explicit_id_and_conflicts(client: TestClient[Litestar]) -> None:
    first = client.post("/session/import", json={"vbo_path": str(RUN05), "session_id": "rdam-run05"})
    assert first.status_code == 200 and first.json()["session_id"] == "rdam-run05"
    same_file = client.post("/session/import", json={"vbo_path": str(RUN05)})
    assert same_file.status_code == 409
    assert same_file.json() == {
        "error": "already imported",
        "detail": {"session_id": "rdam-run05", "vbo_source": RUN05.name},
    }
    taken_id = client.post("/session/import", json={"vbo_path": str(RUN01), "session_id": "rdam-run05"})
    assert taken_id.status_code == 409 and taken_id.json()["error"] == "session exists"
    bad_id = client.post("/session/import", json={"vbo_path": str(RUN01), "session_id": "no/slash"})
    assert bad_id.status_code == 400 and bad_id.json()["error"] == "invalid session id"


def test_import_refuses_paths_outside_the_roots(client: TestClient[Litestar], tmp_path: Path) -> None:
    outside = tmp_path / "outside.vbo"
    shutil.copy(RUN05, outside)
    response = client.post("/session/import", json={"vbo_path": str(outside)})
    assert response.status_code == 403
    assert response.json()["error"] == "path outside import roots"
    dotdot = client.post(
        "/session/import", json={"vbo_path": str(SAMPLES / ".." / ".." / ".." / "etc" / "passwd")}
    )
    assert dotdot.status_code == 403


def test_import_refuses_a_symlink_escaping_the_roots(
    client: TestClient[Litestar], settings: Settings, tmp_path: Path
) -> None:
    outside = tmp_path / "secret.vbo"
    shutil.copy(RUN05, outside)
    root = settings.import_roots[1]
    link = root / "innocent.vbo"
    os.symlink(outside, link)
    response = client.post("/session/import", json={"vbo_path": str(link)})
    assert response.status_code == 403, response.text
    inside = root / "inside.vbo"
    shutil.copy(RUN05, inside)
    os.symlink(inside, root / "alias.vbo")
    assert client.post("/session/import", json={"vbo_path": str(root / "alias.vbo")}).status_code == 200


def test_import_missing_file_is_404(client: TestClient[Litestar]) -> None:
    response = client.post("/session/import", json={"vbo_path": str(SAMPLES / "no-such-file.vbo")})
    assert response.status_code == 404
    assert response.json()["error"] == "file not found"


def test_import_garbage_is_400_with_file_line_and_reason(
    client: TestClient[Litestar], settings: Settings
) -> None:
    root = settings.import_roots[1]
    garbage = root / "garbage.vbo"
    garbage.write_text("[header]\ntime\nlat\n[data]\n123 not-a-number\n")
    response = client.post("/session/import", json={"vbo_path": str(garbage)})
    assert response.status_code == 400, response.text
    body = response.json()
    assert body["error"] == "unreadable VBO"
    assert body["detail"]["file"] == str(garbage)
    assert body["detail"]["reason"]
    assert str(garbage) in body["detail"]["message"]
    binary = root / "binary.vbo"
    binary.write_bytes(bytes(range(256)) * 10)
    assert client.post("/session/import", json={"vbo_path": str(binary)}).status_code == 400
    assert client.get("/sessions").json()["count"] == 0


def test_import_body_validation(client: TestClient[Litestar]) -> None:
    assert client.post("/session/import", json={}).status_code == 400
    assert client.post("/session/import", json={"vbo_path": "   "}).status_code == 400
    assert client.post("/session/import", json={"vbo_path": "data/samples/a\u0000.vbo"}).status_code == 400
    assert client.post("/session/import", json={"vbo_path": 5}).status_code == 400


def test_session_id_helpers() -> None:
    moment = datetime(2025, 8, 1, 14, 10, 5, tzinfo=UTC)
    assert slugify("Sonoma Raceway (Long)") == "sonoma-raceway-long"
    assert make_session_id("Road America", moment) == "road-america-20250801-141005"
    assert make_session_id("25IR05_RdAm_FP1_Run04_KO", None) == "25ir05-rdam-fp1-run04-ko-undated"
    assert make_session_id("!!!", moment) == "session-20250801-141005"
    ids = list(candidate_ids("x"))
    assert ids[:3] == ["x", "x-2", "x-3"] and ids[-1] == "x-100" and len(ids) == 100
    assert check_session_id("rdam-run04_v2.1") == "rdam-run04_v2.1"
    for bad in ("", "a:b", "_lead", "x" * 129, "a/b"):
        with pytest.raises(InvalidSessionId):
            check_session_id(bad)
