"""The real thing: ``python -m pitwall`` under uvicorn on a loopback port, talked to over HTTP."""

from __future__ import annotations

import io
import time
from pathlib import Path

import httpx
import pyarrow.parquet as pq
import pytest

from pitwall.devserver import running_server
from tests.api.conftest import RUN05, data_rows


@pytest.mark.slow
@pytest.mark.parametrize("suffix", ["duckdb", "sqlite"])
def test_real_server_imports_lists_and_exports(tmp_path: Path, suffix: str) -> None:
    db = tmp_path / f"live.{suffix}"
    with running_server(db) as base, httpx.Client(base_url=base, timeout=60) as http:
        health = http.get("/health").json()
        assert health["status"] == "ok" and health["duckdb"] is True and health["track"] == "Sonoma Raceway"

        imported = http.post("/session/import", json={"vbo_path": str(RUN05), "driver": "Taha"})
        assert imported.status_code == 200, imported.text
        sid = imported.json()["session_id"]
        assert imported.json()["n_frames"] <= data_rows(RUN05)

        sessions = http.get("/sessions").json()
        assert [row["session_id"] for row in sessions["sessions"]] == [sid]
        assert sessions["sessions"][0]["n_frames"] == imported.json()["n_frames"]

        export = http.get(f"/session/{sid}/export.parquet")
        assert export.status_code == 200
        assert pq.read_table(io.BytesIO(export.content)).num_rows == imported.json()["n_frames"]
        assert http.get("/schema/openapi.json").json()["info"]["title"] == "Pitwall"
    assert db.exists()


@pytest.mark.slow
def test_real_server_health_shows_the_simulated_can_feed(tmp_path: Path) -> None:
    with (
        running_server(tmp_path / "sim.duckdb", "--simulate", "--simulate-speed", "2") as base,
        httpx.Client(base_url=base, timeout=30) as http,
    ):
        deadline = time.monotonic() + 30
        while (health := http.get("/health").json())["can"]["frames_total"] == 0:
            assert time.monotonic() < deadline, health
            time.sleep(0.2)
        assert health["can"]["connected"] is True and health["can"]["fps"] >= 0
        active = http.get("/sessions?active_only=true").json()["sessions"]
        assert health["active_session_id"] == active[0]["session_id"]
        assert active[0]["source"] == "simulator"
