"""Latency of every session route on a real server; prints one JSON object per line:
``{"bench", "value", "unit", "baseline", "ratio"}``.

Setup: a ``--hours`` (default 1), 20 Hz Sonoma session (72,000 rows an hour) — the simulator's physics lap
(:func:`pitwall.live.physics.lap_profile`, natural lap of the E46 M3 ≈ 107 s, so ≈ 33 laps an hour) repeated,
with seeded noise: GPS fixes from :class:`~pitwall.live.physics.GpsReceiver` (0.5 m, Gauss-Markov), speed
± 0.5 km/h, throttle ± 1 %, and a camera link in the VBOX style (two video files, ``video_file_idx``/
``video_t_ms``). Like the Road America VBOs it has no accelerometer channel, so every route also derives g from
GPS. It is written into a fresh DuckDB file as the importer writes a session (with its track position, Arrow bulk
insert through ``Store.import_session``); then a REAL
server is started (``python -m pitwall --db … --port …``, uvicorn) and **every GET route in its ``/schema``
that takes a session** — ``/session/{session_id}/…`` and the routes with a ``session_id`` query — is requested
over HTTP (keep-alive), except the event streams (``/telemetry/stream``, ``/cues/stream``: measured by
``benchmarks/live.py``). Required parameters get a typical value (``names=speed_kph,throttle_pct``; each chart of
``/charts/{name}``).

* ``analytics.cold_first_request``: the very first request after start (``/stats``: reads the rows, positions
  them on the track, slices laps, derives g, computes corner passes) — ms;
* ``analytics.<route>.p50`` / ``.p99``: warm latency (after 2 warm-up requests), over ``--requests`` requests;
* ``analytics.worst_p50`` / ``analytics.worst_p99``: the slowest analysis or lap route (OpenAPI tags ``analysis``,
  ``laps``) against the targets (p50 20 ms, p99 50 ms on a 1-h session; p50 50 ms on a 4-h one): ratio ≤ 1
  passes; ``analytics.other_routes_worst_*``: the slowest of the other session routes (no target).

Baseline of the per-route lines: ``analytics.numpy_lap_slicer`` — a hand-written numpy lap slicer (start/finish
segment intersection on the same fixes, interpolated crossing times, lap durations), timed in the same run
(median of 20): the cost of the bare arithmetic of the simplest analysis, without HTTP, JSON or Polars.

Run from the repository root: ``.venv/bin/python -m benchmarks.analytics [--requests 100] [--hours 4]``
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from functools import partial
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import polars as pl

from benchmarks.report import emit as emit_figure
from pitwall import DATA_DIR, schema
from pitwall.analysis.geo import haversine_m, to_local_xy
from pitwall.api.web import CHART_NAMES
from pitwall.devserver import running_server
from pitwall.formats.car import load_car
from pitwall.formats.track import load_track
from pitwall.importer import positioned_for_storage
from pitwall.live.physics import GpsReceiver, lap_profile, lap_time_s
from pitwall.store import open_store
from pitwall.store.base import SessionImport, SessionRow
from pitwall.track import Gate, Track

SESSION_ID = "bench-sonoma"
RATE_HZ = 20.0
TARGETS_MS: dict[float, tuple[float, float | None]] = {1.0: (20.0, 50.0), 4.0: (50.0, None)}
"""(p50, p99) targets in ms by session length in hours (none for p99 at 4 h); other lengths use the 4-h ones."""
STREAMS = ("/telemetry/stream", "/cues/stream")
"""Session routes that answer with an event stream (measured by ``benchmarks/live.py``, not here)."""
TARGET_TAGS = {"analysis", "laps"}
"""OpenAPI tags of the analysis and lap routes, which the latency targets apply to; the other session routes
(the session row, signals, export, charts, coach) are measured and reported beside them."""
REQUIRED = {"names": "speed_kph,throttle_pct"}
"""A value for each required query parameter a session route has."""
emit = partial(emit_figure, baseline_digits=3)
"""Figures to 0.01 ms, baselines to 0.001 ms."""


def session_frame(track: Track, *, hours: float = 1.0, seed: int = 7) -> pl.DataFrame:
    """``hours`` at 20 Hz of the physics lap repeated with noise (canonical wide columns, no g channels)."""
    duration_s = 3600.0 * hours
    profile = lap_profile(track, car=load_car(DATA_DIR / "cars" / "bmw_e46_m3.yaml"), lap_seconds=None)
    period = lap_time_s(profile)
    rng = np.random.default_rng(seed)
    t = np.arange(0.0, duration_s, 1.0 / RATE_HZ)
    start = period - 20.0  # the session starts 20 s before the first start-line crossing: an out-lap
    phase = np.mod(t + start, period)
    lap_t = profile["t_s"].to_numpy()

    def at(column: str) -> np.ndarray:
        return np.interp(phase, lap_t, profile[column].to_numpy(), period=period)

    heading = np.radians(profile["heading_deg"].to_numpy())
    sin_h = np.interp(phase, lap_t, np.sin(heading), period=period)
    cos_h = np.interp(phase, lap_t, np.cos(heading), period=period)
    lat, lon = GpsReceiver(profile, seed=seed).fixes(t + start)
    step = haversine_m(lat[:-1], lon[:-1], lat[1:], lon[1:])
    t0 = datetime(2026, 5, 26, 17, 0, tzinfo=UTC)
    frame = pl.DataFrame(
        {
            "session_id": SESSION_ID,
            "frame_idx": np.arange(t.size),
            "t_s": t,
            "utc": [t0 + timedelta(seconds=float(x)) for x in t],
            "lat_deg": lat,
            "lon_deg": lon,
            "alt_m": at("alt_m"),
            "speed_kph": np.clip(at("speed_kph") + rng.normal(0.0, 0.5, t.size), 0.0, None),
            "heading_deg": np.degrees(np.arctan2(sin_h, cos_h)) % 360.0,
            "sats": np.full(t.size, 14),
            "throttle_pct": np.clip(at("throttle_pct") + rng.normal(0.0, 1.0, t.size), 0.0, 100.0),
            "brake_bar": at("brake_bar"),
            "steering_deg": at("steering_deg"),
            "rpm": at("rpm"),
            "gear": np.rint(at("gear")).astype(np.int32),
            "distance_m": np.concatenate([[0.0], np.cumsum(step)]),
            "video_file_idx": np.where(t < duration_s / 2, 1, 2).astype(np.int32),  # two video files
            "video_t_ms": np.rint(1000.0 * np.mod(t, duration_s / 2)).astype(np.int64) + 1200,
        }
    )
    return schema.conform(frame, schema.TELEMETRY)


def write_session(db: Path, track: Track, frame: pl.DataFrame) -> None:
    """Store the session as the importer does: with its track position (``positioned_for_storage``)."""
    frame, facts = positioned_for_storage(frame, track)
    store = open_store(db)
    try:
        row = SessionRow(
            session_id=SESSION_ID,
            started_at=frame["utc"][0],
            ended_at=frame["utc"][-1],
            driver="bench",
            track=track.name,
            track_id=track.id,
            source="simulator",
            n_frames=frame.height,
            duration_s=float(frame["t_s"][-1]),
            distance_m=float(frame["distance_m"][-1]),
            meta=facts,
        )
        empty = pl.DataFrame(schema=schema.TELEMETRY_SIGNALS)
        store.import_session(SessionImport(row, frame, empty, pl.DataFrame(schema=schema.SIGNAL_REGISTRY)))
    finally:
        store.close()


def numpy_lap_times(t: np.ndarray, lat: np.ndarray, lon: np.ndarray, gate: Gate) -> np.ndarray:
    """The baseline: lap durations from interpolated start/finish crossings (segment intersection in a local
    plane), crossings within 30 s of the previous one ignored."""
    x, y = to_local_xy(lat, lon, gate.lat1_deg, gate.lon1_deg)
    bx, by = to_local_xy(gate.lat2_deg, gate.lon2_deg, gate.lat1_deg, gate.lon1_deg)
    rx, ry = np.diff(x), np.diff(y)
    denom = rx * by - ry * bx
    with np.errstate(divide="ignore", invalid="ignore"):
        f = (-x[:-1] * by + y[:-1] * bx) / denom
        g = (-x[:-1] * ry + y[:-1] * rx) / denom
    idx = np.nonzero((f >= 0) & (f < 1) & (g >= 0) & (g <= 1))[0]
    crossings = t[idx] + f[idx] * (t[idx + 1] - t[idx])
    keep = np.concatenate([[True], np.diff(crossings) > 30.0]) if crossings.size else crossings.astype(bool)
    return np.asarray(np.diff(crossings[keep]), dtype=np.float64)


def _median_ms(fn: Callable[[], object], runs: int) -> float:
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return 1000.0 * statistics.median(times)


def session_routes(spec: dict[str, Any]) -> list[tuple[str, bool]]:
    """Every GET URL of the OpenAPI ``spec`` that takes a session (path or ``session_id`` query), filled in for
    :data:`SESSION_ID`, except :data:`STREAMS`, in the schema's order; with whether it is an analysis or lap
    route (tags :data:`TARGET_TAGS`: the ones the latency targets apply to)."""
    urls: list[tuple[str, bool]] = []
    for path, operations in spec["paths"].items():
        get = operations.get("get")
        if get is None or path in STREAMS:
            continue
        params = {p["name"]: p for p in get.get("parameters", [])}
        if "session_id" not in params:
            continue
        query = {"session_id": SESSION_ID} if params["session_id"]["in"] == "query" else {}
        query |= {
            name: REQUIRED[name] for name, p in params.items() if p.get("required") and p["in"] == "query"
        }
        filled = path.replace("{session_id}", SESSION_ID)
        targeted = bool(TARGET_TAGS & set(get.get("tags", ())))
        for url in (
            [filled.replace("{name}", name) for name in CHART_NAMES] if "{name}" in filled else [filled]
        ):
            urls.append(
                (url + ("?" + "&".join(f"{k}={v}" for k, v in query.items()) if query else ""), targeted)
            )
    return urls


def route_label(url: str) -> str:
    """A short figure name for a route URL: the path after the session id (or the bare path), no query."""
    path, _, query = url.partition("?")
    label = (
        path.replace(f"/{SESSION_ID}", "").removeprefix("/session").strip("/").replace("/", ".") or "session"
    )
    return label + ("_by_query" if "session_id=" in query else "")


def session_args(doc: str | None, *, requests: int) -> argparse.Namespace:
    """The options of a session benchmark: ``--requests`` (timed requests per URL, default ``requests``) and
    ``--hours`` (session length, default 1)."""
    parser = argparse.ArgumentParser(description=(doc or "").splitlines()[0])
    parser.add_argument("--requests", type=int, default=requests, help="timed requests per URL")
    parser.add_argument("--hours", type=float, default=1.0, help="session length, hours")
    return parser.parse_args()


def warm_latency_ms(client: httpx.Client, url: str, requests: int) -> tuple[float, float]:
    """p50 and p99 (ms) of ``requests`` GETs of ``url`` (each body read in full) after 2 warm-up GETs."""
    for _ in range(2):
        client.get(url).raise_for_status()
    times = []
    for _ in range(requests):
        start = time.perf_counter()
        client.get(url).raise_for_status()
        times.append(1000.0 * (time.perf_counter() - start))
    return statistics.median(times), float(np.percentile(times, 99))


def main() -> None:
    args = session_args(__doc__, requests=100)
    target_p50, target_p99 = TARGETS_MS.get(args.hours, TARGETS_MS[4.0])
    track = load_track(DATA_DIR / "tracks" / "sonoma.json")
    frame = session_frame(track, hours=args.hours)
    t, lat, lon = (frame[c].to_numpy() for c in ("t_s", "lat_deg", "lon_deg"))
    laps = numpy_lap_times(t, lat, lon, track.start_finish)
    baseline = _median_ms(lambda: numpy_lap_times(t, lat, lon, track.start_finish), 20)
    emit("analytics.session_rows", float(frame.height), "rows", None)
    emit("analytics.numpy_lap_slicer", baseline, "ms", None)
    emit("analytics.numpy_laps_found", float(laps.size), "laps", None)
    with tempfile.TemporaryDirectory() as tmp:
        db = Path(tmp) / "bench.duckdb"
        write_session(db, track, frame)
        with (
            running_server(db, "--track", str(DATA_DIR / "tracks" / "sonoma.json")) as base,
            httpx.Client(base_url=base, timeout=120.0) as client,
        ):
            start = time.perf_counter()
            first = client.get(f"/session/{SESSION_ID}/stats")
            first.raise_for_status()
            emit("analytics.cold_first_request", 1000.0 * (time.perf_counter() - start), "ms", None)
            emit("analytics.complete_laps", float(first.json()["n_complete_laps"]), "laps", None)
            urls = session_routes(client.get("/schema/openapi.json").json())
            emit("analytics.routes", float(len(urls)), "routes", None)
            worst = {True: [0.0, 0.0], False: [0.0, 0.0]}  # targeted?: [p50, p99]
            for url, targeted in urls:
                p50, p99 = warm_latency_ms(client, url, args.requests)
                worst[targeted] = [max(worst[targeted][0], p50), max(worst[targeted][1], p99)]
                emit(f"analytics.{route_label(url)}.p50", p50, "ms", baseline)
                emit(f"analytics.{route_label(url)}.p99", p99, "ms", baseline)
            emit("analytics.worst_p50", worst[True][0], "ms", target_p50)
            emit("analytics.worst_p99", worst[True][1], "ms", target_p99)
            emit("analytics.other_routes_worst_p50", worst[False][0], "ms", None)
            emit("analytics.other_routes_worst_p99", worst[False][1], "ms", None)


if __name__ == "__main__":
    main()
