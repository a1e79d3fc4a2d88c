"""Latency of ``GET /session/{session_id}/signals`` (the resampling synchroniser) on a real server; prints one
JSON object per line: ``{"bench", "value", "unit", "baseline", "ratio"}``.

Setup: the ``--hours`` (default 1) 20 Hz Sonoma session of :mod:`benchmarks.analytics` (same frame, stored the
same way), a real server (``python -m pitwall``), HTTP keep-alive; per request 2 warm-up calls, then
``--requests`` timed ones, each body read in full. Requests (the body grows with the session: the route
answers every grid point, as ``x``, per-signal ``values``/``source`` and the original's ``rows``):

* ``signals.two_10hz``: ``names=speed_kph,throttle_pct`` at the default 10 Hz — the request of
  :mod:`benchmarks.analytics` (36,000 points per name an hour, 5.0 MB of JSON);
* ``signals.eight_10hz``: eight canonical channels at 10 Hz (gear held, the rest interpolated);
* ``signals.two_distance``: the two names on the distance axis every 5 m.

Figures: ``.p50`` / ``.p99`` (ms) against the session-route targets of :mod:`benchmarks.analytics` (p50 20 ms
and p99 50 ms on a 1-h session, p50 50 ms on a 4-h one: ratio ≤ 1 passes) and ``.body`` (MB, no baseline).

Run from the repository root: ``.venv/bin/python -m benchmarks.signals [--requests 50] [--hours 4]``
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import httpx

from benchmarks.analytics import (
    SESSION_ID,
    TARGETS_MS,
    emit,
    session_args,
    session_frame,
    warm_latency_ms,
    write_session,
)
from pitwall import DATA_DIR
from pitwall.devserver import running_server
from pitwall.formats.track import load_track

REQUESTS = {
    "two_10hz": "names=speed_kph,throttle_pct",
    "eight_10hz": "names=speed_kph,throttle_pct,brake_bar,steering_deg,rpm,gear,heading_deg,alt_m",
    "two_distance": "names=speed_kph,throttle_pct&axis=distance",
}
"""Figure name → query of ``/session/{SESSION_ID}/signals``."""


def main() -> None:
    args = session_args(__doc__, requests=50)
    target_p50, target_p99 = TARGETS_MS.get(args.hours, TARGETS_MS[4.0])
    track = load_track(DATA_DIR / "tracks" / "sonoma.json")
    with tempfile.TemporaryDirectory() as tmp:
        db = Path(tmp) / "bench.duckdb"
        write_session(db, track, session_frame(track, hours=args.hours))
        with (
            running_server(db, "--track", str(DATA_DIR / "tracks" / "sonoma.json")) as base,
            httpx.Client(base_url=base, timeout=120.0) as client,
        ):
            for name, query in REQUESTS.items():
                url = f"/session/{SESSION_ID}/signals?{query}"
                p50, p99 = warm_latency_ms(client, url, args.requests)
                emit(f"signals.{name}.p50", p50, "ms", target_p50)
                emit(f"signals.{name}.p99", p99, "ms", target_p99)
                emit(f"signals.{name}.body", len(client.get(url).content) / 1e6, "MB", None)


if __name__ == "__main__":
    main()
