"""``GET /diagnostics/can``: the live CAN reader's state (interface, channel, bitrate, frames/s, last error)."""

from __future__ import annotations

from typing import Any

from litestar import Router, get
from litestar.datastructures import State

from pitwall.api.deps import live_of


@get("/diagnostics/can", operation_id="diagnostics_can", sync_to_thread=True)
def diagnostics_can(state: State) -> dict[str, Any]:
    """Always 200. With a live reader: ``available: true`` plus the reader's ``interface``, ``channel``,
    ``bitrate``, ``connected``, ``fps`` (CAN frames/s), ``frames_total``, ``unknown_frames``, ``last_error``;
    with ``--simulate`` the simulator's ``simulator_frames_sent`` and ``simulator_sent_until_s`` (data s);
    and the service's ``session_id``, ``source``, ``running``, ``frames_published``, ``frames_stored``,
    ``pending_frames``, ``flushes``, ``last_flush_utc``, ``store_error``. Without one (no ``--simulate`` /
    ``--can-channel``, or it failed to start): ``{"available": false, "reason": …}``."""
    live = live_of(state)
    if live is None:
        return {"available": False, "reason": state.get("live_error") or "no live reader configured"}
    return {"available": True, **live.stats()}


router = Router("/", route_handlers=[diagnostics_can], tags=["diagnostics"])
