"""``GET /diagnostics/llm_friction``: recent LLM-friction rows (latency, fallback reasons)."""

from __future__ import annotations

from typing import Annotated

from litestar import Router, get
from litestar.datastructures import State
from litestar.params import Parameter

from pitwall.api.deps import store_of
from pitwall.api.schemas import Rows, json_rows


@get("/diagnostics/llm_friction", operation_id="llmFriction", sync_to_thread=True)
def llm_friction(
    state: State, limit: Annotated[int, Parameter(ge=1, le=1000, description="rows, newest first")] = 100
) -> Rows:
    """Recent rows of the ``llm_friction`` table, newest first — exactly what was recorded (an empty list
    when the LLM was never used). 503 when no database."""
    rows = json_rows(store_of(state).list_llm_friction(limit=limit))
    return Rows(rows=rows, count=len(rows))


router = Router("/", route_handlers=[llm_friction])
