"""``/health`` throughput on a real server against a trivial Litestar app; prints JSON lines
``{"bench", "value", "unit", "baseline", "ratio"}``.

Setup: ``python -m pitwall`` (uvicorn) on a fresh DuckDB file with the three Road America samples imported, and
:mod:`benchmarks.trivial_app` under the same uvicorn. ``--clients`` threads with keep-alive httpx clients send
``GET /health`` back to back for ``--seconds`` seconds, alternating the two servers ``--rounds`` times; the
figure is the median requests/s. ``health.rps`` is Pitwall's, its baseline the trivial app's (target ratio
≥ 0.8: ``/health`` keeps the live state in memory and runs no query per call).

Run from the repository root: ``.venv/bin/python -m benchmarks.health [--seconds 5] [--rounds 3] [--clients 4]``
"""

from __future__ import annotations

import argparse
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import httpx

from benchmarks.report import emit
from pitwall import DATA_DIR
from pitwall.devserver import repo_env, running_server


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _rps(url: str, *, seconds: float, clients: int) -> float:
    """Requests per second of ``GET {url}/health`` from ``clients`` threads for ``seconds`` seconds."""
    counts = [0] * clients
    stop = time.monotonic() + seconds

    def hammer(k: int) -> None:
        with httpx.Client(base_url=url, trust_env=False) as http:
            while time.monotonic() < stop:
                if http.get("/health").status_code == 200:
                    counts[k] += 1

    threads = [threading.Thread(target=hammer, args=(k,)) for k in range(clients)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return sum(counts) / seconds


def _trivial_server() -> tuple[subprocess.Popen[bytes], str]:
    port = _free_port()
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "uvicorn",
            "benchmarks.trivial_app:app",
            "--port",
            str(port),
            "--log-level",
            "warning",
        ],
        env=repo_env(),
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{url}/health", trust_env=False).status_code == 200:
                return proc, url
        except httpx.TransportError:
            time.sleep(0.1)
    proc.kill()
    raise RuntimeError("the trivial app did not start")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--clients", type=int, default=4)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        db = Path(tmp) / "health.duckdb"
        with running_server(db, "--log-level", "warning") as url:
            for sample in sorted((DATA_DIR / "samples").glob("25IR05_*.vbo")):
                httpx.post(
                    f"{url}/session/import", json={"vbo_path": str(sample)}, timeout=120, trust_env=False
                )
            trivial, trivial_url = _trivial_server()
            try:
                ours, theirs = [], []
                for _ in range(args.rounds):
                    ours.append(_rps(url, seconds=args.seconds, clients=args.clients))
                    theirs.append(_rps(trivial_url, seconds=args.seconds, clients=args.clients))
            finally:
                trivial.terminate()
                trivial.wait()
    emit(
        "health.rps", statistics.median(ours), "req/s", statistics.median(theirs), digits=0, baseline_digits=0
    )


if __name__ == "__main__":
    main()
