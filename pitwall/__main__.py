"""``python -m pitwall``: run the server (flags in :mod:`pitwall.cli`; console script ``pitwall``)."""

from __future__ import annotations

import sys

from pitwall.arenas import limit_malloc_arenas

limit_malloc_arenas()  # before the imports below start threads (numpy's BLAS pool): glibc fixes its limit then

from pitwall.cli import main  # noqa: E402

__all__ = ["main"]

if __name__ == "__main__":
    sys.exit(main())
