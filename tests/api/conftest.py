"""Fixtures for API tests: the real app (Litestar TestClient) over real database files on both backends."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest
from litestar import Litestar
from litestar.testing import TestClient

from pitwall import DATA_DIR
from pitwall.api.app import create_app
from pitwall.config import Settings

SAMPLES = DATA_DIR / "samples"
RUN04 = SAMPLES / "25IR05_RdAm_FP1_Run04_KO.vbo"
RUN05 = SAMPLES / "25IR05_RdAm_FP1_Run05_TL.vbo"
RUN01 = SAMPLES / "25IR05_RdAm_FP1_Run01_KO.vbo"
RACECHRONO_LAP9 = SAMPLES / "session_20251231_111318_tianma_lap9_v3.csv"
RACECHRONO_LAP13 = SAMPLES / "session_20251231_111959_tianma_lap13_v3.csv"
RACECAPTURE = SAMPLES / "rc_mk2_test.log"

BACKENDS = ("duckdb", "sqlite")


def data_rows(path: Path) -> int:
    """Rows of a VBO's ``[data]`` section, counted straight from the file (independent of the reader)."""
    lines = path.read_bytes().splitlines()
    start = next(i for i, line in enumerate(lines) if line.strip().lower() == b"[data]")
    return sum(1 for line in lines[start + 1 :] if line.strip())


def make_settings(tmp: Path, backend: str, **changes: object) -> Settings:
    """Settings on a fresh database file in ``tmp``; imports allowed from ``data/`` and ``tmp/roots``."""
    (tmp / "roots").mkdir(exist_ok=True)
    base = Settings(db=tmp / f"pitwall.{backend}", backend=backend, import_roots=(DATA_DIR, tmp / "roots"))
    return replace(base, **changes)  # type: ignore[arg-type]


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def settings(tmp_path: Path, backend: str) -> Settings:
    return make_settings(tmp_path, backend)


@pytest.fixture
def app(settings: Settings) -> Litestar:
    return create_app(settings)


@pytest.fixture
def client(app: Litestar) -> Iterator[TestClient[Litestar]]:
    with TestClient(app) as test_client:
        yield test_client


@pytest.fixture
def no_db_client(tmp_path: Path) -> Iterator[TestClient[Litestar]]:
    """An app whose database cannot be opened (its folder is a regular file)."""
    blocker = tmp_path / "not-a-dir"
    blocker.write_text("x")
    with TestClient(
        create_app(make_settings(tmp_path, "duckdb", db=blocker / "pitwall.duckdb"))
    ) as test_client:
        yield test_client


@pytest.fixture(scope="module", params=BACKENDS)
def imported(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[TestClient[Litestar], str]]:
    """A client with Road America Run04 imported through ``POST /session/import`` (shared by a module)."""
    tmp = tmp_path_factory.mktemp(f"imported-{request.param}")
    with TestClient(create_app(make_settings(tmp, str(request.param)))) as test_client:
        response = test_client.post("/session/import", json={"vbo_path": str(RUN04), "driver": "Taha Bakir"})
        assert response.status_code == 200, response.text
        yield test_client, response.json()["session_id"]
