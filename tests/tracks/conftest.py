"""Fixtures for the track library tests: the bundled library and Sonoma (no network, no /work/shared)."""

from __future__ import annotations

import pytest

from pitwall.formats.track import TRACKS_DIR, TrackLibrary
from pitwall.track import Track


@pytest.fixture(scope="session")
def library() -> TrackLibrary:
    return TrackLibrary(TRACKS_DIR)


@pytest.fixture(scope="session")
def sonoma(library: TrackLibrary) -> Track:
    return library.get("sonoma")
