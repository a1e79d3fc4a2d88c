"""The server process's C allocator: glibc's malloc held to :data:`MALLOC_ARENAS` arenas.

glibc gives each new thread its own arena (up to 8 per core) and keeps the memory freed in an arena for that
arena. DuckDB builds its Arrow results with ``malloc`` on whichever of its threads runs the query, and another
thread frees them, so a long export left the freed pages of each result spread over several arenas: the peak of
a 4-h session's ``GET /export.parquet`` grew with the session's length. Two arenas — the main thread's and one
that every other thread shares — are the usual server setting for this (``MALLOC_ARENA_MAX=2``); the rest of
the process allocates mostly elsewhere (Polars and DuckDB's own data: jemalloc; pyarrow: mimalloc; small
Python objects: Python's own allocator), so the shared arena's lock is seldom contended.
"""

from __future__ import annotations

import ctypes
from typing import Final

MALLOC_ARENAS: Final = 2
"""Arenas glibc's malloc may use once :func:`limit_malloc_arenas` ran (the main thread's included)."""

_M_ARENA_MAX: Final = -8
"""``mallopt``'s parameter number of the arena limit (``<malloc.h>``)."""


def limit_malloc_arenas(arenas: int = MALLOC_ARENAS) -> bool:
    """Hold glibc's malloc to ``arenas`` arenas; True when it took the setting, False off glibc (macOS, musl:
    nothing to do). Takes effect only when called before the process's second thread first allocates (glibc
    fixes its limit then): first thing in the server's ``main``."""
    try:
        mallopt = ctypes.CDLL("libc.so.6").mallopt
    except (OSError, AttributeError):
        return False
    return bool(mallopt(_M_ARENA_MAX, arenas))
