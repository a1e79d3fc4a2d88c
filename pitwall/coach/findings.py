"""Findings: the typed records every coaching sentence is rendered from (data first, language second).

A finding says *what* was measured, *where* (corner, sector, position along the lap) and *how much* (seconds or
metres to gain), with the numbers that triggered it (unit-suffixed keys) and a confidence in [0, 1] derived from
the sample rate and the GPS quality. Renderers turn findings into text; a language model may only rephrase
them and must not introduce a number that :func:`finding_numbers` does not list.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Finding:
    """One measured coaching fact.

    ``kind`` names the rule or question that produced it (e.g. ``corner_time_loss``, ``lap_delta``);
    ``concept`` is the id of the pedagogical concept it illustrates (``data/coach/concepts.yaml``) or ``None``.
    ``corner_name`` is the corner's public name when the track has one (``"The Carousel"``).
    ``gain_s`` is the time to gain in seconds (positive) where one applies; ``metrics`` holds the numbers with
    unit-suffixed keys (``entry_speed_kph``, ``brake_point_s_m``…).
    """

    kind: str
    metrics: Mapping[str, float | int | None] = field(default_factory=dict)
    concept: str | None = None
    corner: str | None = None
    corner_name: str | None = None
    sector: int | None = None
    lap: int | None = None
    s_m: float | None = None
    gain_s: float | None = None
    confidence: float = 1.0

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form (``metrics`` as a plain dict)."""
        return {
            "kind": self.kind,
            "concept": self.concept,
            "corner": self.corner,
            "corner_name": self.corner_name,
            "sector": self.sector,
            "lap": self.lap,
            "s_m": self.s_m,
            "gain_s": self.gain_s,
            "confidence": self.confidence,
            "metrics": dict(self.metrics),
        }


def finding_numbers(findings: Iterable[Finding]) -> set[float]:
    """Every number a text rendered from ``findings`` may state: metric values, gains, positions, laps and
    sectors (used to check that a rephrasing introduces no number of its own)."""
    numbers: set[float] = set()
    for f in findings:
        values: list[Any] = [f.gain_s, f.s_m, f.lap, f.sector, *f.metrics.values()]
        numbers.update(float(v) for v in values if isinstance(v, int | float) and not isinstance(v, bool))
    return numbers
