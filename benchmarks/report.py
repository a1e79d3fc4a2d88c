"""The one output line of every benchmark figure: ``{"bench", "value", "unit", "baseline", "ratio"}``."""

from __future__ import annotations

import json


def emit(
    bench: str, value: float, unit: str, baseline: float | None, *, digits: int = 2, baseline_digits: int = 2
) -> None:
    """Print one figure as a JSON line (flushed): ``value`` rounded to ``digits``, ``baseline`` (or null) to
    ``baseline_digits``, ``ratio`` = value / baseline to 2 digits (null without a baseline)."""
    ratio = value / baseline if baseline else None
    record = {
        "bench": bench,
        "value": round(value, digits),
        "unit": unit,
        "baseline": None if baseline is None else round(baseline, baseline_digits),
        "ratio": None if ratio is None else round(ratio, 2),
    }
    print(json.dumps(record), flush=True)
