"""``python -m pitwall``: run the server (flags in :mod:`pitwall.cli`; console script ``pitwall``)."""

from __future__ import annotations

import sys

from pitwall.cli import main

__all__ = ["main"]

if __name__ == "__main__":
    sys.exit(main())
