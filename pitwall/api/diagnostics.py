"""``GET /diagnostics/llm_friction``: recent LLM-friction rows (latency, fallback reasons)."""

from __future__ import annotations

from typing import Annotated, Any

import msgspec
import polars as pl
from litestar import Router, get
from litestar.datastructures import State
from litestar.params import Parameter

from pitwall.api.deps import store_of
from pitwall.api.schemas import json_rows


class RoleFriction(msgspec.Struct):
    """One role's calls (a phrasing attempt each), how many fell back to the template, the share (0–1) and
    the mean model latency (ms; null when the model was never called)."""

    calls: int
    fallbacks: int
    fallback_rate: float
    mean_latency_ms: float | None
    reasons: dict[str, int]


class LlmFriction(msgspec.Struct):
    """``rows`` newest first (as recorded), ``count``, and over those rows: ``by_role`` and the overall
    ``fallback_rate`` (null without rows)."""

    rows: list[dict[str, Any]]
    count: int
    by_role: dict[str, RoleFriction]
    fallback_rate: float | None


def friction_by_role(rows: pl.DataFrame) -> dict[str, RoleFriction]:
    """Aggregate ``llm_friction`` rows per ``component`` (the coach role that asked the model)."""
    out: dict[str, RoleFriction] = {}
    for (role,), group in rows.group_by("component", maintain_order=True):
        reasons = group["fallback_reason"].drop_nulls().value_counts(sort=True)
        fallbacks = int(group["fallback_reason"].is_not_null().sum())
        latency = group["latency_ms"].drop_nulls()
        out[str(role)] = RoleFriction(
            calls=group.height,
            fallbacks=fallbacks,
            fallback_rate=fallbacks / group.height,
            mean_latency_ms=float(latency.mean()) if latency.len() else None,  # type: ignore[arg-type]
            reasons=dict(zip(reasons["fallback_reason"].to_list(), reasons["count"].to_list(), strict=True)),
        )
    return out


@get("/diagnostics/llm_friction", operation_id="llm_friction", sync_to_thread=True)
def llm_friction(
    state: State, limit: Annotated[int, Parameter(ge=1, le=1000, description="rows, newest first")] = 100
) -> LlmFriction:
    """Recent rows of the ``llm_friction`` table, newest first — one per phrasing attempt of the coach
    (``component`` = role, ``latency_ms``, ``fallback_reason``: null when the model's text was used,
    ``not_configured`` without a model) — with aggregates ``by_role`` and ``fallback_rate``. 503 when no
    database."""
    frame = store_of(state).list_llm_friction(limit=limit)
    rows = json_rows(frame)
    rate = None if frame.height == 0 else float(frame["fallback_reason"].is_not_null().mean())  # type: ignore[arg-type]
    return LlmFriction(rows=rows, count=len(rows), by_role=friction_by_role(frame), fallback_rate=rate)


router = Router("/", route_handlers=[llm_friction], tags=["diagnostics"])
