"""``pitwall.arenas``: the server's process keeps glibc's malloc to two arenas however many threads allocate."""

from __future__ import annotations

import platform
import subprocess
import sys

import pytest

from pitwall.arenas import MALLOC_ARENAS

pytestmark = pytest.mark.skipif(platform.libc_ver()[0] != "glibc", reason="malloc arenas are glibc's")

THREADS = 6

_HEAPS_AFTER_THREADS = """
import ctypes, re, sys, tempfile, threading
{setup}
barrier = threading.Barrier({threads})

def allocate():
    block = bytearray(4096)  # above Python's small-object limit: glibc's malloc, in this thread's arena
    barrier.wait()  # every thread alive (holding its arena) at once
    del block

threads = [threading.Thread(target=allocate) for _ in range({threads})]
for thread in threads:
    thread.start()
for thread in threads:
    thread.join()
libc = ctypes.CDLL("libc.so.6")
libc.fopen.restype = ctypes.c_void_p
libc.malloc_info.argtypes = [ctypes.c_int, ctypes.c_void_p]
libc.fclose.argtypes = [ctypes.c_void_p]
with tempfile.NamedTemporaryFile(suffix=".xml") as info:
    stream = libc.fopen(info.name.encode(), b"w")
    libc.malloc_info(0, stream)
    libc.fclose(stream)
    print(len(re.findall(r"<heap nr=", open(info.name).read())))
"""


def _heaps_after_threads(setup: str) -> int:
    """Arenas glibc reports in a fresh interpreter that ran ``setup`` and then had :data:`THREADS` threads
    allocate at the same time."""
    script = _HEAPS_AFTER_THREADS.format(setup=setup, threads=THREADS)
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True)
    return int(out.stdout)


def test_threads_get_arenas_of_their_own_by_default() -> None:
    assert _heaps_after_threads("") > MALLOC_ARENAS


def test_limit_holds_every_thread_to_the_shared_arenas() -> None:
    assert _heaps_after_threads("from pitwall.arenas import limit_malloc_arenas; limit_malloc_arenas()") <= (
        MALLOC_ARENAS
    )


def test_the_server_entry_point_sets_the_limit_before_its_imports_start_threads() -> None:
    """``python -m pitwall`` and the ``pitwall`` script run ``pitwall.__main__``: importing it (the server's
    whole import, numpy's BLAS threads included) leaves the limit in force."""
    assert _heaps_after_threads("import pitwall.__main__") <= MALLOC_ARENAS
