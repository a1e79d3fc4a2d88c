"""Fixtures shared by the whole suite. Add yours with a small, separate edit."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path

import pytest
import uvicorn
from litestar import Litestar

from pitwall.store import BACKENDS, Store, open_store

STORE_SUFFIX = {"duckdb": ".duckdb", "sqlite": ".sqlite"}


def new_store(directory: Path, backend: str) -> Store:
    """A fresh, migrated store file of ``backend`` in ``directory``."""
    return open_store(directory / f"pitwall{STORE_SUFFIX[backend]}")


@pytest.fixture(params=BACKENDS)
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Store]:
    """A real store on a file in ``tmp_path``, once per backend (DuckDB and SQLite)."""
    opened = new_store(tmp_path, request.param)
    yield opened
    opened.close()


@pytest.fixture
def serve() -> Iterator[Callable[[Litestar], AbstractContextManager[str]]]:
    """``with serve(app) as base_url:`` runs ``app`` under a real uvicorn on a free 127.0.0.1 port (in a
    thread, lifespan on) and stops it on exit. Close streaming clients before leaving the block."""

    @contextmanager
    def running(app: Litestar) -> Iterator[str]:
        sock = socket.socket()
        sock.bind(("127.0.0.1", 0))
        sock.listen(128)
        config = uvicorn.Config(app, lifespan="on", log_level="warning", timeout_graceful_shutdown=3)
        server = uvicorn.Server(config)
        thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
        thread.start()
        deadline = time.monotonic() + 20
        while not server.started:
            if not thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError("uvicorn did not start")
            time.sleep(0.01)
        try:
            yield f"http://127.0.0.1:{sock.getsockname()[1]}"
        finally:
            server.should_exit = True
            thread.join(15)
            sock.close()

    yield running


@pytest.fixture(scope="session")
def sim_vbo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A 3.4-lap Sonoma recording made through the simulator and the live path, written as a VBO (once per test
    process; see :mod:`tests.coach.simulated`)."""
    from tests.coach.simulated import record_simulated_vbo

    return record_simulated_vbo(tmp_path_factory.mktemp("sim-vbo"))
