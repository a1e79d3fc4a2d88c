"""The optional language model at the edge: phrase a template through :func:`pitwall.coach.llm.phrase` and log
every attempt as an ``llm_friction`` row (latency, role, model, fallback reason — ``None`` when the model's text
was used), so ``/diagnostics/llm_friction`` can tell how often the coach fell back and why."""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence

from litestar.datastructures import State

from pitwall.api.deps import settings_of
from pitwall.coach.findings import Finding
from pitwall.coach.llm import Phrased, phrase
from pitwall.store.base import StoreError

log = logging.getLogger("pitwall.coach")


def phrase_logged(
    state: State,
    findings: Sequence[Finding],
    template: str,
    *,
    role: str,
    session_id: str | None,
    question: str | None = None,
    on_delta: Callable[[str], None] | None = None,
) -> Phrased:
    """:func:`~pitwall.coach.llm.phrase` with the server's model settings, logged to ``llm_friction`` as
    ``component`` = ``role`` (``ask``, ``debrief``, ``brief``, ``score``). A failed log write never fails the
    answer."""
    config = settings_of(state).llm
    phrased = phrase(findings, template, config=config, question=question, on_delta=on_delta)
    store = state.get("store")
    if store is not None:
        try:
            store.add_llm_friction(
                {
                    "session_id": session_id,
                    "component": role,
                    "model": config.model if config.enabled else None,
                    "latency_ms": phrased.latency_ms,
                    "fallback_reason": phrased.fallback_reason,
                    "detail": phrased.detail,
                }
            )
        except (StoreError, ValueError) as exc:
            log.warning("llm_friction row not written: %s", exc)
    return phrased
