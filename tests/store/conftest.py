"""Fixtures of the storage tests."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from pitwall.formats.track import TrackLibrary
from pitwall.importer import import_vbo_file
from pitwall.store import BACKENDS, Store, open_store
from tests.api.conftest import RUN04


@pytest.fixture(params=BACKENDS)
def imported_run04(
    request: pytest.FixtureRequest, tmp_path: Path
) -> Iterator[tuple[Store, str, TrackLibrary]]:
    """A store of each backend with Road America run 4 imported: the store, the session id and the library."""
    library = TrackLibrary()
    store = open_store(tmp_path / f"run04.{request.param}", backend=request.param)
    try:
        yield store, import_vbo_file(store, RUN04, library=library).session_id, library
    finally:
        store.close()
