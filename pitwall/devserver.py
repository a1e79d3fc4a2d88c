"""Start a real ``python -m pitwall`` server process on a free loopback port and wait for ``/health``.

For the test suite and the benchmarks, which exercise the server exactly as it runs in production (uvicorn,
its own process, a database file); not used by the server itself. The child runs from this checkout
(``PYTHONPATH`` = the repository) and logs to ``server-<port>.log`` next to the database.
"""

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
    """A TCP port free on 127.0.0.1 right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def pitwall_command(*args: str) -> list[str]:
    """``python -m pitwall <args>`` with this interpreter."""
    return [sys.executable, "-m", "pitwall", *args]


def repo_env() -> dict[str, str]:
    """The environment for child processes: this checkout importable, no proxies for loopback."""
    return {**os.environ, "PYTHONPATH": str(REPO_DIR), "NO_PROXY": "127.0.0.1,localhost"}


PORT_TRIES = 5
"""Ports tried by :func:`server_process`: a free port can be taken by another process (another test, in
parallel runs) between :func:`free_port` and the child's bind; the child then exits with its "already in use"
message and the next free port is tried."""


class _PortTaken(Exception):
    pass


def _start(db: Path, args: tuple[str, ...], timeout_s: float) -> tuple[subprocess.Popen[bytes], str]:
    """Spawn the server on a free port and wait for ``/health`` (see :func:`server_process`)."""
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
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + timeout_s
        while True:
            if proc.poll() is not None:
                text = log.read_text()
                if proc.returncode == 2 and "already in use" in text:
                    raise _PortTaken(text)
                raise RuntimeError(f"server exited with {proc.returncode}: {text}")
            try:
                if httpx.get(f"{url}/health", timeout=1.0, trust_env=False).status_code == 200:
                    return proc, url
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"server did not answer within {timeout_s} s: {log.read_text()}")
            time.sleep(0.1)
    except BaseException:
        _stop(proc)
        raise


def _stop(proc: subprocess.Popen[bytes]) -> None:
    proc.terminate()
    try:
        proc.wait(timeout=15)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


@contextmanager
def server_process(
    db: Path, *args: str, timeout_s: float = 60.0
) -> Iterator[tuple[subprocess.Popen[bytes], str]]:
    """Start the server on ``db`` (extra CLI ``args``), wait until ``/health`` answers 200 and yield the
    process and its base URL (``http://127.0.0.1:<port>``). On exit a server still running is terminated
    (killed after 15 s). Raises ``RuntimeError`` with the server's log when it exits or does not answer within
    ``timeout_s`` seconds (a port taken before the child could bind it is retried, :data:`PORT_TRIES`)."""
    for attempt in range(PORT_TRIES):
        try:
            proc, url = _start(db, args, timeout_s)
            break
        except _PortTaken as taken:
            if attempt == PORT_TRIES - 1:
                raise RuntimeError(f"no free port after {PORT_TRIES} tries: {taken}") from None
    try:
        yield proc, url
    finally:
        _stop(proc)


@contextmanager
def running_server(db: Path, *args: str, timeout_s: float = 60.0) -> Iterator[str]:
    """:func:`server_process` when only the base URL is needed."""
    with server_process(db, *args, timeout_s=timeout_s) as (_, url):
        yield url
