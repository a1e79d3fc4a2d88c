"""Live path benchmark: ~8,000 CAN frames/s through the virtual bus into the store and out to 100 SSE clients.

Setup (real, end to end): a ``python -m pitwall --simulate --simulate-speed S`` **server process** (DuckDB in a
temporary folder) with ``S`` chosen so the simulated AiM MXP sends 8,000 frames/s (the car YAML's frame
rates sum to ≈294 Hz, so S ≈ 27); its CanReader reads them back, batches, appends to the store and publishes.
This process opens **100 SSE clients** over loopback HTTP (asyncio streams with a minimal chunked decoder):
10 "probe" clients parse every event for latency, 90 count events and check their ``id`` sequence for gaps.

Figures, one JSON object per line ``{"bench", "value", "unit", "baseline", "ratio"}``, over a measured
window after a warm-up:

* ``live.can_frames_per_s`` — frames read by the server's CanReader per wall second; baseline 8,000 (target).
* ``live.server_cpu_share`` — server process CPU seconds / wall seconds (1.0 = one core busy); baseline 1.0.
* ``live.client_cpu_share`` — the same for this client process (100 HTTP clients; not part of the server).
* ``live.sse_latency_p50_ms`` / ``p99`` — frame → SSE event: receive time minus the wall time at which the
  simulator had sent the row's clock frame (``/diagnostics/can`` is polled every 50 ms for the simulator's
  progress ``simulator_sent_until_s``; the send time of data time ``t_s`` is interpolated). Includes the
  100 ms data window of the batcher (100 / S ms wall), the reader's gathering and the wait for the store
  (no frame is published more than 1 s of data ahead of it). Baseline: the 50 ms target. This process does
  not collect garbage during the window: its own full collections (20-30 ms with 100 clients' buffers) would
  be counted as the server's latency.
* ``live.simulator_frames_per_s`` — frames the simulator put on the bus per second (it shares the server's
  GIL; below the target it is the producer, not the pipeline, that falls short).
* ``live.sse_events_per_s`` — events delivered per second to all clients; baseline = rows published × 100.
* ``live.frames_lost`` — SSE events missing at clients (id gaps + ``dropped`` reports) plus rows published but
  not stored after SIGTERM; baseline 0 (ratio null). Its parts follow it: ``live.sse_id_gaps`` (events a
  client never saw), ``live.sse_dropped_reports`` (``dropped`` events: the server skipped a subscriber whose
  queue overflowed — a client process falling behind, not a server fault) and ``live.rows_not_stored``.
* ``live.can_backlog_frames`` — frames sent by the simulator but not yet read at the end of the window.
* ``live.loadavg_1m`` — the machine's 1-minute load average at the end (the figures above are only
  comparable between runs on a similarly loaded machine).

``--realtime``: the same 8,000 frames/s as a bus carries them in real time — a copy of the car YAML with every
frame rate multiplied so that they sum to ``--fps``, simulated at speed 1 — instead of the car's own rates
(≈ 294 frames/s) sped up 27×. Data time then runs at wall time: the store is written once a second (not 27
times) and rows wait for the batcher's window in wall time. Figures are named ``live.realtime.*``.

Run from the repository root: ``.venv/bin/python -m benchmarks.live [--seconds 10] [--clients 100] [--realtime]``
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import os
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import numpy as np

from benchmarks import report
from pitwall import DATA_DIR
from pitwall.devserver import server_process
from pitwall.formats.car import load_car
from pitwall.store import open_store

TARGET_FPS = 8_000.0
LATENCY_BUDGET_MS = 50.0
PROBES = 10
_T_S = re.compile(rb'"t_s":([-0-9.eE]+)')
_ID_LINE = b"\nid: "


def event_ids(block: bytes) -> tuple[int, int, int]:
    """``(count, first, last)`` of the ``id:`` fields of the SSE events in ``block`` (which starts on an event
    boundary); bytes searches, no regex, so that 100 clients in one process keep up with the stream."""
    starts = block.startswith(b"id: ")
    inner = block.count(_ID_LINE)
    if not (starts or inner):
        return 0, 0, 0
    head = 4 if starts else block.index(_ID_LINE) + 5
    tail = block.rfind(_ID_LINE) + 5 if inner else 4
    count = inner + starts
    return (
        count,
        int(block[head : block.index(b"\n", head)]),
        int(block[tail : block.index(b"\n", tail)]),
    )


def emit(bench: str, value: float, unit: str, baseline: float | None) -> None:
    report.emit(bench, value, unit, baseline, digits=3, baseline_digits=3, ratio_digits=3)


def dense_car(source: Path, target: Path, fps: float) -> Path:
    """A copy of the car YAML ``source`` at ``target`` with every ``rate_hz`` scaled so that they sum to ``fps``."""
    text = source.read_text(encoding="utf-8")
    factor = fps / sum(f.rate_hz for f in load_car(source).frames)
    target.write_text(
        re.sub(r"rate_hz: ([0-9.]+)", lambda m: f"rate_hz: {float(m.group(1)) * factor:.4f}", text),
        encoding="utf-8",
    )
    return target


def cpu_seconds(pid: int) -> float:
    """utime + stime of a process, seconds (Linux ``/proc``)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


@dataclass
class Client:
    probe: bool
    events: int = 0
    gaps: int = 0
    dropped: int = 0
    next_id: int | None = None
    last_frame_idx: int = -1
    arrivals: list[tuple[float, float]] = field(default_factory=list)  # (t_s, time.time() received)
    measuring: bool = False

    def feed(self, block: bytes, received: float) -> None:
        """Account for complete events (``block`` ends on an event boundary)."""
        if b"event: dropped" in block:
            self.dropped += 1
        count, first, last = event_ids(block)
        if not count:
            return
        if self.next_id is not None and first != self.next_id:
            self.gaps += first - self.next_id
        if last - first + 1 != count:
            self.gaps += last - first + 1 - count
        self.next_id = last + 1
        tail = block.rfind(b'"frame_idx":')
        self.last_frame_idx = int(block[tail + 12 : block.index(b",", tail)])
        if not self.measuring:
            return
        self.events += count
        if self.probe:
            self.arrivals += [(float(t_s), received) for t_s in _T_S.findall(block)]


async def run_client(port: int, client: Client) -> None:
    """Read the telemetry stream until the server ends it."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(b"GET /telemetry/stream HTTP/1.1\r\nHost: bench\r\nAccept: text/event-stream\r\n\r\n")
    await writer.drain()
    head = await reader.readuntil(b"\r\n\r\n")
    assert b" 200 " in head.split(b"\r\n", 1)[0] and b"chunked" in head.lower(), head
    raw, body = b"", b""
    try:
        while True:
            data = await reader.read(1 << 16)
            if not data:
                return
            received = time.time()
            raw += data
            while True:  # de-chunk: "<hex size>\r\n<payload>\r\n"
                eol = raw.find(b"\r\n")
                if eol < 0:
                    break
                size = int(raw[:eol], 16)
                if len(raw) < eol + 2 + size + 2:
                    break
                body += raw[eol + 2 : eol + 2 + size]
                raw = raw[eol + 4 + size :]
            cut = body.rfind(b"\n\n")
            if cut >= 0:
                client.feed(body[: cut + 2], received)
                body = body[cut + 2 :]
    finally:
        writer.close()


async def measure(server: subprocess.Popen[bytes], port: int, args: argparse.Namespace) -> dict:
    """Connect the clients, measure a window, then SIGTERM the server and read the streams to their end."""
    clients = [Client(probe=i < PROBES) for i in range(args.clients)]
    tasks = [asyncio.create_task(run_client(port, c)) for c in clients]
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", trust_env=False) as http:
        await asyncio.sleep(args.warmup)
        before = (await http.get("/diagnostics/can")).json()
        gc.collect()
        gc.disable()  # this process is the instrument: its full collections (20-30 ms) are not the server's
        cpu0, own0, wall0 = cpu_seconds(server.pid), time.process_time(), time.monotonic()
        for c in clients:
            c.measuring = True
        progress = []  # (simulator data time sent, wall time): when each data time went on the bus
        while time.monotonic() < wall0 + args.seconds:
            figures = (await http.get("/diagnostics/can")).json()
            progress.append((figures["simulator_sent_until_s"], time.time()))
            await asyncio.sleep(0.05)
        for c in clients:
            c.measuring = False
        gc.enable()
        cpu1, own1, wall1 = cpu_seconds(server.pid), time.process_time(), time.monotonic()
        after = (await http.get("/diagnostics/can")).json()
    server.send_signal(signal.SIGTERM)  # the streams drain and end once the last frame is stored
    await asyncio.wait_for(asyncio.gather(*tasks), timeout=60)
    wall = wall1 - wall0
    return {
        "clients": clients,
        "wall": wall,
        "server_cpu": (cpu1 - cpu0) / wall,
        "client_cpu": (own1 - own0) / wall,
        "can_fps": (after["frames_total"] - before["frames_total"]) / wall,
        "sim_fps": (after["simulator_frames_sent"] - before["simulator_frames_sent"]) / wall,
        "progress": progress,
        "rows_per_s": (after["frames_published"] - before["frames_published"]) / wall,
        "backlog": after["simulator_frames_sent"] - after["frames_total"],
        "session_id": after["session_id"],
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=10.0, help="measured window (s)")
    parser.add_argument("--warmup", type=float, default=3.0, help="seconds before measuring")
    parser.add_argument("--clients", type=int, default=100)
    parser.add_argument("--fps", type=float, default=TARGET_FPS, help="CAN frames/s to simulate")
    parser.add_argument(
        "--realtime", action="store_true", help="a full bus in real time (see the module doc)"
    )
    args = parser.parse_args()

    car_path = DATA_DIR / "cars" / "bmw_e46_m3.yaml"
    speed = args.fps / sum(f.rate_hz for f in load_car(car_path).frames)
    tmp = Path(tempfile.mkdtemp(prefix="pitwall-bench-live-"))
    db = tmp / "live.duckdb"
    source = ("--simulate-speed", f"{speed:.4f}")
    if args.realtime:
        source = ("--can-car-config", str(dense_car(car_path, tmp / "dense_car.yaml", args.fps)))
    prefix = "live.realtime" if args.realtime else "live"
    with server_process(db, "--simulate", *source) as (server, url):
        result = asyncio.run(measure(server, int(url.rsplit(":", 1)[1]), args))
        server.wait(timeout=60)

    clients: list[Client] = result["clients"]
    store = open_store(db)
    try:
        stored = store.count_telemetry(result["session_id"])
    finally:
        store.close()
    shutil.rmtree(tmp)  # kept (database and server log) only when the run failed
    sent_s, sent_wall = np.array(result["progress"]).T
    arrivals = np.array([a for c in clients if c.probe for a in c.arrivals])
    sampled = (arrivals[:, 0] >= sent_s[0]) & (arrivals[:, 0] <= sent_s[-1])
    latencies = sorted((arrivals[sampled, 1] - np.interp(arrivals[sampled, 0], sent_s, sent_wall)) * 1e3)
    lost_sse = sum(c.gaps for c in clients) + sum(c.dropped for c in clients)
    delivered = sum(c.events for c in clients)

    emit(f"{prefix}.can_frames_per_s", result["can_fps"], "frames/s", args.fps)
    emit(f"{prefix}.simulator_frames_per_s", result["sim_fps"], "frames/s", args.fps)
    emit(f"{prefix}.server_cpu_share", result["server_cpu"], "cpu_s/wall_s", 1.0)
    emit(f"{prefix}.client_cpu_share", result["client_cpu"], "cpu_s/wall_s", None)
    emit(f"{prefix}.sse_latency_p50_ms", statistics.median(latencies), "ms", LATENCY_BUDGET_MS)
    emit(f"{prefix}.sse_latency_p99_ms", latencies[int(0.99 * (len(latencies) - 1))], "ms", LATENCY_BUDGET_MS)
    emit(
        f"{prefix}.sse_events_per_s",
        delivered / result["wall"],
        "events/s",
        result["rows_per_s"] * len(clients),
    )
    published = max(c.last_frame_idx for c in clients) + 1  # the clients saw the stream to its end
    emit(f"{prefix}.frames_lost", lost_sse + (published - stored), "frames", 0)
    # its parts: a busy client process shows as gaps and drops, a server that lost rows as unstored rows
    emit(f"{prefix}.sse_id_gaps", sum(c.gaps for c in clients), "events", 0)
    emit(f"{prefix}.sse_dropped_reports", sum(c.dropped for c in clients), "events", 0)
    emit(f"{prefix}.rows_not_stored", published - stored, "frames", 0)
    emit(f"{prefix}.can_backlog_frames", result["backlog"], "frames", None)
    emit(f"{prefix}.loadavg_1m", os.getloadavg()[0], "runnable", None)
    return 0


if __name__ == "__main__":
    sys.exit(main())
