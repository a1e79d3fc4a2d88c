"""The baseline of :mod:`benchmarks.health`: the smallest Litestar app with a ``/health`` route that does no
work (a constant JSON object), served by the same uvicorn."""

from __future__ import annotations

from litestar import Litestar, get


@get("/health", sync_to_thread=False)
def health() -> dict[str, str]:
    """A constant answer."""
    return {"status": "ok"}


app = Litestar(route_handlers=[health])
