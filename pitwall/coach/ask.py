"""Ask the coach: route a driver's question to an intent and answer it from the pipelines' numbers (pure).

:func:`route` reads the question (keywords, lap numbers, a corner) — the optional ``intent`` of a request
bypasses it. :func:`answer_findings` builds the :class:`~pitwall.coach.findings.Finding` s that answer an intent
from a session's collected results (:class:`AskInputs`: the lap-time table of
:func:`pitwall.analysis.sectors.lap_time_table`, the corner passes of
:func:`pitwall.analysis.corners.corner_passes` and the rule coach's :class:`~pitwall.coach.rules.SessionReview`);
:func:`render_answer` turns them into the answer text with the same number formatting as every coach sentence
(:func:`pitwall.coach.render.fill`). Lap and sector times are the lap-time table's values, so an answer agrees with
``/session/<sid>/lap_time_table`` and ``/sector_times`` to the 0.01 s it states.

Intents: ``lap_comparison`` (why one lap was faster than another: where, by sector and corner),
``corner_advice`` (a corner, or the corners with most time to gain), ``braking`` (braking points),
``consistency`` (spread of the valid laps), ``best_lap``, ``sectors`` (best sectors and the ideal lap), ``general``
(the top opportunities of the session).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Final

import polars as pl

from pitwall.coach.concepts import Concept
from pitwall.coach.findings import Finding
from pitwall.coach.render import corner_label, emotion_for, fill, render_findings
from pitwall.coach.rules import SessionReview

INTENTS: Final = (
    "lap_comparison",
    "corner_advice",
    "braking",
    "consistency",
    "best_lap",
    "sectors",
    "general",
)

ROUTES: Final[tuple[tuple[str, re.Pattern[str]], ...]] = (
    ("braking", re.compile(r"\bbrak|\bbrake|\btrail", re.I)),
    ("sectors", re.compile(r"\bsector|\bsplits?\b|\bs[1-9]\b|\bideal\b", re.I)),
    ("consistency", re.compile(r"\bconsisten|\bvariation|\bspread|\brepeatab|\bscatter", re.I)),
    ("corner_advice", re.compile(r"\bcorners?\b|\bturns?\b|\bt\d+[a-z]?\b|\bapex|\bhairpin|\bchicane", re.I)),
    ("best_lap", re.compile(r"\bbest\b|\bfastest\b|\bquickest\b|\bpersonal best\b|\bpb\b", re.I)),
)
"""Keyword routes tried in order after lap comparison (which needs two lap numbers, or one and a comparison
word); no match is ``general``."""

_LAPS: Final = re.compile(
    r"\blaps?\s*#?\s*(\d+)(?:\s*(?:and|vs\.?|versus|&|,|to|with)\s*(?:lap\s*)?#?\s*(\d+))?", re.I
)
_COMPARE: Final = re.compile(
    r"\bfaster\b|\bslower\b|\bcompare|\bdifferen|\bversus\b|\bvs\.?\b|\bquicker\b", re.I
)
_CORNER: Final = re.compile(r"\b(?:turn|corner|t)\s*(\d+[a-z]?)\b", re.I)

EXAMPLES: Final[dict[str, tuple[str, ...]]] = {
    "lap_comparison": ("Why was lap 4 faster than lap 2?", "Compare lap 3 and lap 5"),
    "corner_advice": ("How do I take turn 6?", "Which corners cost me the most?"),
    "braking": ("Where am I braking too early?",),
    "consistency": ("How consistent were my laps?",),
    "best_lap": ("What was my best lap?",),
    "sectors": ("What are my best sectors?", "What is my ideal lap?"),
    "general": ("What should I work on?",),
}
"""Example questions per intent (``GET /coach/agents``)."""

ROLES: Final[dict[str, str]] = {
    "lap_comparison": "Explains the time between two laps by sector and corner (lap-time table, corner passes).",
    "corner_advice": "Time to gain per corner against the reference (corner summary) and the corner's metrics.",
    "braking": "Braking points against the best pass per corner (corner passes).",
    "consistency": "Spread of the valid flying laps (lap-time table).",
    "best_lap": "The best valid lap and its sectors (lap-time table).",
    "sectors": "Best sector times and the ideal lap (lap-time table).",
    "general": "The session's top opportunities (the rule coach's findings).",
}


@dataclass(frozen=True)
class Intent:
    """A routed question: the intent, the lap numbers it names (in order) and the corner label it names."""

    name: str
    laps: tuple[int, ...] = ()
    corner: str | None = None
    routed_by: str = "router"  # router | request


def route(question: str, *, intent: str | None = None) -> Intent:
    """The intent of ``question`` (``intent`` given: that one, with the question's laps and corner)."""
    laps: list[int] = []
    for match in _LAPS.finditer(question):
        laps += [int(g) for g in match.groups() if g]
    corner_match = _CORNER.search(question)
    corner = corner_match.group(1).lower() if corner_match else None
    if intent is not None:
        return Intent(intent, tuple(laps), corner, "request")
    if len(laps) >= 2 or (laps and _COMPARE.search(question)):
        return Intent("lap_comparison", tuple(laps), corner)
    name = next((name for name, pattern in ROUTES if pattern.search(question)), "general")
    return Intent(name, tuple(laps), corner)


@dataclass(frozen=True)
class AskInputs:
    """A session's collected results: ``table`` (:func:`~pitwall.analysis.sectors.lap_time_table`: ``lap``,
    ``kind``, ``valid``, ``duration_s``, ``s1_s``…), ``passes`` (corner passes of the complete laps: ``lap``,
    ``corner``, ``corner_time_s``…), ``corner_names`` (label → public name) and the rule coach's ``review``."""

    table: pl.DataFrame
    passes: pl.DataFrame
    review: SessionReview
    corner_names: dict[str, str | None] = field(default_factory=dict)

    @property
    def sector_columns(self) -> list[str]:
        return [c for c in self.table.columns if re.fullmatch(r"s\d+_s", c)]

    def flying(self, *, valid_only: bool = True) -> pl.DataFrame:
        laps = self.table.filter(pl.col("kind") == "flying", pl.col("duration_s").is_not_null())
        return laps.filter(pl.col("valid")) if valid_only else laps


@dataclass(frozen=True)
class Answer:
    """The findings that answer a question, the rendered text and the emotion tag."""

    intent: Intent
    findings: tuple[Finding, ...]
    text: str
    emotion: str


def _lap_times(inputs: AskInputs, lap: int) -> dict[str, float | None]:
    """``duration_s`` and the sector columns of a complete lap (empty when the lap is not complete)."""
    rows = inputs.flying(valid_only=False).filter(pl.col("lap") == lap)
    if rows.height == 0:
        return {}
    row = rows.select("duration_s", *inputs.sector_columns).row(0, named=True)
    return {name: None if value is None else float(value) for name, value in row.items()}


def _missing_laps(inputs: AskInputs, laps: Sequence[int]) -> list[Finding]:
    complete = inputs.flying(valid_only=False)["lap"].to_list()
    return [
        Finding(kind="unknown_lap", lap=lap, metrics={"asked_lap": lap, "complete_laps": len(complete)})
        for lap in laps
        if lap not in complete
    ]


def _comparison_laps(inputs: AskInputs, laps: Sequence[int]) -> tuple[int, int] | None:
    """The two laps to compare: the two named; one named and the best; none named: best and slowest valid."""
    valid = inputs.flying().sort("duration_s")["lap"].to_list()
    if len(laps) >= 2:
        return laps[0], laps[1]
    if len(laps) == 1 and valid:
        other = valid[0] if valid[0] != laps[0] else (valid[1] if len(valid) > 1 else None)
        return None if other is None else (laps[0], other)
    return (valid[0], valid[-1]) if len(valid) >= 2 else None


def lap_comparison(inputs: AskInputs, laps: Sequence[int], *, top_n: int = 3) -> list[Finding]:
    """A ``lap_delta`` finding (faster lap, slower lap, both times, the difference — s, from the lap-time
    table), one ``sector_delta`` per sector (slower − faster, s) and the ``top_n`` corners where the slower lap
    lost most (``corner_delta``: corner time slower − faster, s)."""
    pair = _comparison_laps(inputs, laps)
    missing = _missing_laps(inputs, pair or laps)
    if missing or pair is None:
        return missing or [Finding(kind="no_comparison", metrics={"valid_laps": inputs.flying().height})]
    rows = {lap: _lap_times(inputs, lap) for lap in pair}
    fast, slow = sorted(pair, key=lambda lap: rows[lap]["duration_s"] or 0.0)
    fast_s, slow_s = rows[fast]["duration_s"] or 0.0, rows[slow]["duration_s"] or 0.0
    metrics = {"faster_lap": fast, "slower_lap": slow, "faster_lap_s": fast_s, "slower_lap_s": slow_s}
    out = [
        Finding(
            kind="lap_delta",
            lap=fast,
            gain_s=slow_s - fast_s,
            metrics={**metrics, "delta_s": slow_s - fast_s},
        )
    ]
    sector_deltas = []
    for k, column in enumerate(inputs.sector_columns, 1):
        a, b = rows[fast][column], rows[slow][column]
        if a is not None and b is not None:
            metrics = {"sector": k, "faster_s": a, "slower_s": b, "delta_s": b - a}
            sector_deltas.append(Finding(kind="sector_delta", sector=k, gain_s=b - a, metrics=metrics))
    out += sorted(sector_deltas, key=lambda f: -(f.gain_s or 0.0))
    times = (
        inputs.passes.filter(pl.col("lap").is_in([fast, slow]))
        .pivot(on="lap", index="corner", values="corner_time_s", aggregate_function="first")
        .rename({str(fast): "fast", str(slow): "slow"}, strict=False)
    )
    if {"fast", "slow"} <= set(times.columns):
        lost = (
            times.with_columns((pl.col("slow") - pl.col("fast")).alias("delta"))
            .filter(pl.col("delta") > 0)
            .sort("delta", descending=True)
            .head(top_n)
        )
        out += [
            Finding(
                kind="corner_delta",
                corner=corner,
                corner_name=inputs.corner_names.get(corner),
                gain_s=delta,
                metrics={"faster_corner_s": f, "slower_corner_s": s, "delta_s": delta},
            )
            for corner, f, s, delta in lost.select("corner", "fast", "slow", "delta").iter_rows()
        ]
    return out


def best_lap(inputs: AskInputs) -> list[Finding]:
    """``best_lap``: the fastest valid flying lap, its time and sector times (s)."""
    valid = inputs.flying().sort("duration_s", "lap")
    if valid.height == 0:
        return [
            Finding(kind="no_valid_lap", metrics={"complete_laps": inputs.flying(valid_only=False).height})
        ]
    row = valid.row(0, named=True)
    metrics = {"best_lap": row["lap"], "lap_s": row["duration_s"], "valid_laps": valid.height}
    metrics |= {f"s{k}_s": row[c] for k, c in enumerate(inputs.sector_columns, 1)}
    return [Finding(kind="best_lap", lap=row["lap"], metrics=metrics)]


def sectors(inputs: AskInputs) -> list[Finding]:
    """One ``best_sector`` per sector (time, s, and the lap it was set on, among valid flying laps) and the
    ``ideal_lap`` (their sum and its gap to the best lap, s)."""
    valid = inputs.flying()
    out: list[Finding] = []
    for k, column in enumerate(inputs.sector_columns, 1):
        timed = valid.filter(pl.col(column).is_not_null()).sort(column, "lap")
        if timed.height:
            lap, time_s = timed.select("lap", column).row(0)
            metrics = {"sector": k, "on_lap": lap, "time_s": time_s}
            out.append(Finding(kind="best_sector", sector=k, lap=lap, metrics=metrics))
    if out and len(out) == len(inputs.sector_columns):
        ideal = sum(float(f.metrics["time_s"] or 0.0) for f in out)
        best = float(valid["duration_s"].min())  # type: ignore[arg-type]
        metrics = {"ideal_lap_s": ideal, "best_lap_s": best, "gap_s": best - ideal}
        out.append(Finding(kind="ideal_lap", gain_s=best - ideal, metrics=metrics))
    return out or [Finding(kind="no_valid_lap", metrics={"complete_laps": valid.height})]


def consistency(inputs: AskInputs) -> list[Finding]:
    """``lap_spread``: valid flying laps, their mean, standard deviation and spread (max − min), s."""
    times = inputs.flying()["duration_s"]
    if times.len() < 2:
        return [Finding(kind="too_few_laps", metrics={"valid_laps": times.len()})]
    return [
        Finding(
            kind="lap_spread",
            metrics={
                "valid_laps": times.len(),
                "mean_lap_s": float(times.mean()),  # type: ignore[arg-type]
                "std_lap_s": float(times.std()),  # type: ignore[arg-type]
                "spread_s": float(times.max()) - float(times.min()),  # type: ignore[arg-type]
            },
        )
    ]


def corner_advice(inputs: AskInputs, corner: str | None, *, top_n: int = 3) -> list[Finding]:
    """The rule coach's findings of ``corner`` (its time loss, braking point…), else the ``top_n`` corners
    with most time to gain."""
    corner_findings = [f for f in inputs.review.findings if f.corner is not None]
    if corner is not None:
        mine = [f for f in corner_findings if (f.corner or "").lower() == corner]
        return mine or [Finding(kind="corner_ok", corner=corner, corner_name=inputs.corner_names.get(corner))]
    losses = [f for f in corner_findings if f.kind == "corner_time_loss"]
    return sorted(losses, key=lambda f: -(f.gain_s or 0.0))[:top_n] or [Finding(kind="no_corner_loss")]


def braking(inputs: AskInputs, corner: str | None) -> list[Finding]:
    """The rule coach's ``braking_point`` findings (of ``corner`` when named)."""
    found = [f for f in inputs.review.findings if f.kind == "braking_point"]
    if corner is not None:
        found = [f for f in found if (f.corner or "").lower() == corner]
    return found or [Finding(kind="no_braking_finding", corner=corner)]


def answer_findings(intent: Intent, inputs: AskInputs) -> list[Finding]:
    """The findings that answer ``intent`` (see the module doc)."""
    match intent.name:
        case "lap_comparison":
            return lap_comparison(inputs, intent.laps)
        case "best_lap":
            return best_lap(inputs)
        case "sectors":
            return sectors(inputs)
        case "consistency":
            return consistency(inputs)
        case "corner_advice":
            return corner_advice(inputs, intent.corner)
        case "braking":
            return braking(inputs, intent.corner)
        case _:
            return list(inputs.review.top) or [Finding(kind="no_corner_loss")]


TEMPLATES: Final[dict[str, str]] = {
    "lap_delta": "Lap {faster_lap} ({faster_lap_s} s) was {delta_s} s faster than lap {slower_lap} ({slower_lap_s} s).",
    "unknown_lap": "Lap {asked_lap} is not a complete lap of this session ({complete_laps} complete laps).",
    "no_comparison": "There are not two valid laps to compare ({valid_laps} valid).",
    "best_lap": "Your best lap is lap {best_lap}: {lap_s} s, out of {valid_laps} valid laps.",
    "no_valid_lap": "No valid flying lap yet ({complete_laps} complete laps).",
    "ideal_lap": "Your best sectors add up to an ideal lap of {ideal_lap_s} s, {gap_s} s under your best lap of {best_lap_s} s.",
    "lap_spread": "Over {valid_laps} valid laps you averaged {mean_lap_s} s with a standard deviation of {std_lap_s} s and {spread_s} s between the fastest and the slowest.",
    "too_few_laps": "Consistency needs at least two valid laps ({valid_laps} so far).",
    "no_corner_loss": "No corner stands out: you are within the reference everywhere it was measured.",
    "no_braking_finding": "Your braking points are consistent with your best passes.",
}
"""Answer sentences per finding kind (``{metric}`` placeholders, :func:`~pitwall.coach.render.fill`); the rule
coach's kinds are rendered by :func:`~pitwall.coach.render.render_findings`."""


_SPECIAL: Final = frozenset({"sector_delta", "corner_delta", "best_sector", "corner_ok"})
"""Answer kinds with their own sentence builder in :func:`_sentence`."""


def _sentence(finding: Finding) -> str:
    m = dict(finding.metrics)
    if finding.kind == "sector_delta":
        word = "lost" if (finding.gain_s or 0.0) > 0 else "gained"
        return fill(
            f"S{{sector}}: {word} {{abs_delta_s}} s ({{slower_s}} s against {{faster_s}} s).",
            {**m, "abs_delta_s": abs(finding.gain_s or 0.0)},
        )
    if finding.kind == "corner_delta":
        return fill(
            f"{corner_label(finding)}: {{delta_s}} s ({{slower_corner_s}} s against {{faster_corner_s}} s).",
            m,
        )
    if finding.kind == "best_sector":
        return fill("Best S{sector}: {time_s} s on lap {on_lap}.", m)
    if finding.kind == "corner_ok":
        return f"{corner_label(finding)}: nothing measured there loses time against the reference."
    return fill(TEMPLATES[finding.kind], m)


def finding_text(finding: Finding, concepts: Sequence[Concept] = ()) -> str:
    """The sentence of one finding (an answer's own kinds here, the rule coach's by its renderer)."""
    if finding.kind in TEMPLATES or finding.kind in _SPECIAL:
        return _sentence(finding)
    return render_findings([finding], concepts)


def render_answer(intent: Intent, findings: Sequence[Finding], concepts: Sequence[Concept] = ()) -> str:
    """The answer text: the rule coach's findings through its renderer, the others through :data:`TEMPLATES`."""
    own = [f for f in findings if f.kind in TEMPLATES or f.kind in _SPECIAL]
    coach = [f for f in findings if f not in own]
    parts = [_sentence(f) for f in own]
    if intent.name == "lap_comparison" and any(f.kind == "sector_delta" for f in own):
        parts.insert(1, "Where the time went, by sector and corner:")
    if coach:
        parts.append(render_findings(coach, concepts))
    return " ".join(parts)


def answer(
    question: str, inputs: AskInputs, *, intent: str | None = None, concepts: Sequence[Concept] = ()
) -> Answer:
    """Route ``question`` (or take ``intent``), build its findings and render them."""
    routed = route(question, intent=intent)
    findings = answer_findings(routed, inputs)
    gains = [f for f in findings if f.kind in {"corner_time_loss", "braking_point", "delta_t_loss"}]
    return Answer(
        routed,
        tuple(findings),
        render_answer(routed, findings, concepts),
        emotion_for(gains) if gains else "neutral",
    )
