"""A lock file beside a database held by the server for its lifetime (``<db>.server.lock``, ``flock``).

DuckDB refuses a second process by itself; a SQLite file can be opened by many processes, so tools that
*replace* a database file (``python -m pipelines sample-db``) ask :func:`held_by_server` first — a server
writing into a file that was replaced would write into a deleted file and lose everything on restart.
"""

from __future__ import annotations

import fcntl
import os
from pathlib import Path

from pitwall.store.base import DatabaseLocked


def lock_path(db: str | Path) -> Path:
    db = Path(db)
    return db.with_name(db.name + ".server.lock")


def hold(db: str | Path) -> int:
    """Take the server lock of ``db`` for this process (the descriptor stays open until exit);
    :class:`DatabaseLocked` when another process holds it."""
    path = lock_path(db)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        raise DatabaseLocked(f"{db} is served by another pitwall process (lock {path})") from None
    os.ftruncate(fd, 0)
    os.write(fd, f"{os.getpid()}\n".encode())
    return fd


def held_by_server(db: str | Path) -> bool:
    """Whether a running server holds ``db``'s lock."""
    path = lock_path(db)
    if not path.exists():
        return False
    fd = os.open(path, os.O_RDONLY)
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    finally:
        os.close(fd)
    return False
