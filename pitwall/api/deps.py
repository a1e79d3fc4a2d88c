"""Typed access to the resources ``create_app`` opens in its lifespan and keeps on ``app.state``.

``state.settings`` (:class:`~pitwall.config.Settings`), ``state.store`` (:class:`~pitwall.store.base.Store`),
``state.track`` (the active :class:`~pitwall.track.Track`, or ``None`` when the track file is missing),
``state.live`` (the live service, or ``None`` when no reader runs).
"""

from __future__ import annotations

from typing import Any, cast

from litestar.datastructures import State

from pitwall.api.errors import ApiError
from pitwall.config import Settings
from pitwall.store.base import Store
from pitwall.track import Track


def settings_of(state: State) -> Settings:
    return cast(Settings, state.settings)


def store_of(state: State) -> Store:
    """The open store; 503 when the database could not be opened."""
    store = state.get("store")
    if store is None:
        raise ApiError(503, "no database", state.get("store_error"))
    return cast(Store, store)


def track_of(state: State) -> Track:
    """The active track; 404 when none is loaded."""
    track = state.get("track")
    if track is None:
        raise ApiError(404, "no active track", str(settings_of(state).track))
    return cast(Track, track)


def live_of(state: State) -> Any:
    return state.get("live")
