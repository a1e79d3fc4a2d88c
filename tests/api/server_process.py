"""Run a real ``python -m pitwall`` process on a free loopback port (shared by API, CLI and pipeline tests)."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx

from pitwall import REPO_DIR


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def pitwall_command(*args: str) -> list[str]:
    return [sys.executable, "-m", "pitwall", *args]


def repo_env() -> dict[str, str]:
    """The environment for child processes: this checkout importable, no proxies for loopback."""
    return {**os.environ, "PYTHONPATH": str(REPO_DIR), "NO_PROXY": "127.0.0.1,localhost"}


@contextmanager
def running_server(db: Path, *args: str, timeout_s: float = 60.0) -> Iterator[str]:
    """Start the server on ``db``, wait until ``/health`` answers, yield its base URL, then terminate it."""
    port = free_port()
    log = db.parent / f"server-{port}.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(
            pitwall_command("--port", str(port), "--db", str(db), "--log-level", "warning", *args),
            cwd=REPO_DIR,
            env=repo_env(),
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + timeout_s
        while True:
            if proc.poll() is not None:
                raise AssertionError(f"server exited with {proc.returncode}: {log.read_text()}")
            try:
                if httpx.get(f"{base}/health", timeout=1.0).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                raise AssertionError(f"server did not answer within {timeout_s} s: {log.read_text()}")
            time.sleep(0.1)
        yield base
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
