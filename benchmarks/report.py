"""The one output line of every benchmark figure: ``{"bench", "value", "unit", "baseline", "ratio"}``."""

from __future__ import annotations

import json


def record(
    bench: str,
    value: float,
    unit: str,
    baseline: float | None,
    *,
    digits: int = 2,
    baseline_digits: int = 2,
    ratio_digits: int = 2,
) -> dict[str, object]:
    """One figure: ``value`` rounded to ``digits``, ``baseline`` (or null) to ``baseline_digits``,
    ``ratio`` = value / baseline to ``ratio_digits`` (null without a baseline)."""
    ratio = value / baseline if baseline else None
    return {
        "bench": bench,
        "value": round(value, digits),
        "unit": unit,
        "baseline": None if baseline is None else round(baseline, baseline_digits),
        "ratio": None if ratio is None else round(ratio, ratio_digits),
    }


def emit(
    bench: str,
    value: float,
    unit: str,
    baseline: float | None,
    *,
    digits: int = 2,
    baseline_digits: int = 2,
    ratio_digits: int = 2,
) -> None:
    """Print :func:`record` as one JSON line (flushed)."""
    figure = record(
        bench,
        value,
        unit,
        baseline,
        digits=digits,
        baseline_digits=baseline_digits,
        ratio_digits=ratio_digits,
    )
    print(json.dumps(figure), flush=True)
