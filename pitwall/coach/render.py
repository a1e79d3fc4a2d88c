"""Findings → text, by templates (pure). Every number a sentence states is a finding's number rounded to the
decimals of its unit (:func:`fmt`), so the text can be checked back against the findings.

:func:`render_findings` is the entry point (plain text, one sentence per finding); :func:`render_markdown`
lays the same sentences out as a debrief. A language model may later rephrase the same findings.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Final

from pitwall.coach.concepts import Concept
from pitwall.coach.findings import Finding

DECIMALS: Final = (
    ("_lap", 0),
    ("_pct_s", 0),
    ("_kph", 1),
    ("_pct", 1),
    ("_bar", 1),
    ("_c", 1),
    ("_g", 2),
    ("_m", 0),
    ("_s", 2),
)
"""Decimals shown per unit suffix (first match wins; ``_lap`` is a lap number); other numbers get 2."""

_PLACEHOLDER: Final = re.compile(r"\{([a-z0-9_]+)\}")


def decimals_for(key: str) -> int:
    return next((d for suffix, d in DECIMALS if key.endswith(suffix)), 2)


def fmt(key: str, value: float | int | None) -> str:
    """``value`` rounded to the decimals of ``key``'s unit; ``n/a`` when not measured."""
    if value is None:
        return "n/a"
    d = decimals_for(key)
    return f"{round(float(value), d):.{d}f}"


def fill(template: str, metrics: Mapping[str, float | int | None]) -> str:
    """``template`` with each ``{metric}`` replaced by :func:`fmt` of its value."""
    return _PLACEHOLDER.sub(lambda m: fmt(m.group(1), metrics.get(m.group(1))), template)


def corner_label(finding: Finding) -> str:
    """``T6 (The Carousel)`` / ``T3a``."""
    label = f"T{finding.corner}"
    return f"{label} ({finding.corner_name})" if finding.corner_name else label


def render_finding(finding: Finding, concepts: Mapping[str, Concept]) -> str:
    """One sentence for one finding (templates per ``kind``)."""
    m = finding.metrics
    concept = concepts.get(finding.concept or "")
    if finding.kind == "corner_time_loss":
        text = fill(
            f"{corner_label(finding)}: {fmt('gain_s', finding.gain_s)} s to gain, mean {{mean_time_s}} s against "
            "{ref_time_s} s; minimum speed {mean_min_speed_kph} km/h against {ref_min_speed_kph} km/h.",
            m,
        )
        return f"{text} {concept.name}." if concept else text
    if finding.kind == "sector_time_loss":
        return fill(
            f"Sector {finding.sector}: {fmt('gain_s', finding.gain_s)} s between your mean ({{mean_sector_s}} s) "
            f"and your best ({{best_sector_s}} s, lap {finding.lap}).",
            m,
        )
    if finding.kind == "braking_point":
        return fill(
            f"{corner_label(finding)}: you brake {{brake_earlier_m}} m earlier on average than on your best pass "
            "(at {mean_brake_point_s_m} m instead of {best_brake_point_s_m} m).",
            m,
        )
    if finding.kind == "delta_t_loss":
        return fill(
            f"Lap {finding.lap} lost {fmt('gain_s', finding.gain_s)} s to lap {{ref_lap}} between {{from_s_m}} m "
            "and {to_s_m} m ({lap_delta_s} s over the lap).",
            m,
        )
    if finding.kind == "lap_consistency":
        text = fill("Laps: best {best_lap_s} s, mean {mean_lap_s} s, spread {lap_time_cv_pct} %.", m)
        return f"{text} {concept.name}." if concept else text
    if concept is not None:
        return f"{fill(concept.cue, m)}."
    parts = ", ".join(f"{k} {fmt(k, v)}" for k, v in m.items())
    return f"{finding.kind}: {parts}."


def _by_id(concepts: Sequence[Concept]) -> dict[str, Concept]:
    return {c.id: c for c in concepts}


def render_findings(findings: Sequence[Finding], concepts: Sequence[Concept] = ()) -> str:
    """Plain text: one sentence per finding, in order (empty findings → a sentence saying so)."""
    if not findings:
        return "Nothing measured stands out: no finding to report."
    by_id = _by_id(concepts)
    return " ".join(render_finding(f, by_id) for f in findings)


def render_markdown(
    findings: Sequence[Finding], top: Sequence[Finding], concepts: Sequence[Concept], *, title: str
) -> str:
    """A markdown debrief: the top opportunities (numbered), then the other findings as bullets."""
    by_id = _by_id(concepts)
    lines = [f"## {title}", ""]
    if top:
        lines += ["**Top opportunities**", ""]
        lines += [f"{i}. {render_finding(f, by_id)}" for i, f in enumerate(top, 1)]
        lines.append("")
    rest = [f for f in findings if f not in top]
    if rest:
        lines += ["**Also measured**", ""]
        lines += [f"- {render_finding(f, by_id)}" for f in rest]
    if not findings:
        lines.append(render_findings(findings))
    return "\n".join(lines).rstrip() + "\n"


EMOTIONS: Final = (("determined", 0.5), ("encouraging", 0.0))
"""(emotion, smallest top gain in s): the tag of a debrief or a cue set; no time to gain → ``happy``."""


def emotion_for(findings: Sequence[Finding]) -> str:
    """An emotion tag for the avatar, from the largest time to gain among ``findings``."""
    gains = [f.gain_s for f in findings if f.gain_s is not None]
    if not findings:
        return "happy"
    top = max(gains, default=0.0)
    return next(tag for tag, floor in EMOTIONS if top >= floor)
