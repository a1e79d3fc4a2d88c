"""Session findings from the analysis pipelines' results (pure; no HTTP, no store).

Inputs are the collected results an edge (API handler, notebook) already computes for a session:

* ``summary`` — :func:`pitwall.analysis.corners.corner_summary` (one row per corner);
* ``corners`` — :func:`pitwall.coach.metrics.corner_metrics` (one row per corner);
* ``splits`` — :func:`pitwall.analysis.sectors.sector_splits` (one row per lap × sector);
* ``metrics`` — :func:`pitwall.coach.metrics.session_metrics` as a dict, plus ``best_lap_s``/``mean_lap_s``.

:func:`review_session` composes it all from the pipelines' outputs (the API and the notebooks call it).

A corner's time to gain is the summary's ``delta_to_reference_s`` (mean pass − reference, s) unchanged, so a
debrief's seconds equal ``GET /session/<sid>/corners``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Final

import polars as pl

from pitwall.coach.concepts import Concept, fired
from pitwall.coach.findings import Finding
from pitwall.coach.metrics import (
    CORNER_METRICS,
    Metrics,
    confidence,
    corner_metrics,
    lap_metrics,
    row_metrics,
    sampling,
    session_metrics,
)
from pitwall.track import Track

SESSION_CONCEPT_METRICS: Final = (
    "coast_pct",
    "trail_brake_pct",
    "max_brake_bar",
    "avg_throttle_pct",
    "throttle_rate_p95_pct_s",
    "max_combo_g",
    "track_use_m",
)
"""Sample-level metrics that make a session-wide technique finding (corner metrics go on corner findings)."""


@dataclass(frozen=True)
class FindingLimits:
    """Thresholds of the session rules: the smallest time loss worth a finding (s) and how many opportunities
    a debrief lists."""

    min_gain_s: float = 0.01
    top_n: int = 3


FINDING_LIMITS: Final = FindingLimits()


def corner_findings(
    summary: pl.DataFrame,
    corners: pl.DataFrame,
    track: Track,
    concepts: Sequence[Concept],
    *,
    confidence: float,
    limits: FindingLimits = FINDING_LIMITS,
) -> list[Finding]:
    """One ``corner_time_loss`` finding per corner slower on average than its reference by ≥ ``min_gain_s``.

    ``gain_s`` = ``delta_to_reference_s``; ``s_m`` = the corner's apex; ``concept`` = the first concept whose
    rule fires over the corner's metrics (``None`` when none does). Ordered by gain, largest first.
    """
    apex = {c.number: c.s_apex_m for c in track.corners}
    per_corner = {str(r["corner"]): row_metrics(r) for r in corners.iter_rows(named=True)}
    out = []
    for row in summary.iter_rows(named=True):
        gain = row["delta_to_reference_s"]
        if gain is None or gain < limits.min_gain_s:
            continue
        corner = str(row["corner"])
        measured: Metrics = {
            "mean_time_s": row["mean_time_s"],
            "ref_time_s": row["ref_time_s"],
            "best_time_s": row["best_time_s"],
            "mean_min_speed_kph": row["mean_min_speed_kph"],
            "ref_min_speed_kph": row["ref_min_speed_kph"],
            "n_passes": row["n_passes"],
        }
        extra = per_corner.get(corner, {})
        measured.update({k: extra.get(k) for k in CORNER_METRICS})
        hits = fired(tuple(concepts), measured)
        out.append(
            Finding(
                kind="corner_time_loss",
                metrics=measured,
                concept=hits[0].id if hits else None,
                corner=corner,
                corner_name=row.get("corner_name"),
                s_m=apex.get(corner),
                gain_s=float(gain),
                confidence=confidence,
            )
        )
    return sorted(out, key=lambda f: -(f.gain_s or 0.0))


def sector_findings(
    splits: pl.DataFrame, *, confidence: float, limits: FindingLimits = FINDING_LIMITS
) -> list[Finding]:
    """One ``sector_time_loss`` finding per sector whose mean time exceeds its best by ≥ ``min_gain_s``
    (``gain_s`` = mean − best, s; ``s_m`` = sector start). Needs ≥ 2 timed laps of the sector."""
    per_sector = (
        splits.filter(pl.col("time_s").is_not_null())
        .group_by("sector")
        .agg(
            pl.col("s_start_m").first(),
            pl.col("time_s").min().alias("best_sector_s"),
            pl.col("time_s").mean().alias("mean_sector_s"),
            pl.col("lap").sort_by("time_s").first().alias("best_lap"),
            pl.len().alias("n_laps"),
        )
        .filter(pl.col("n_laps") >= 2)
        .sort("sector")
    )
    out = []
    for row in per_sector.iter_rows(named=True):
        gain = row["mean_sector_s"] - row["best_sector_s"]
        if gain < limits.min_gain_s:
            continue
        out.append(
            Finding(
                kind="sector_time_loss",
                metrics={"best_sector_s": row["best_sector_s"], "mean_sector_s": row["mean_sector_s"]},
                sector=int(row["sector"]),
                lap=int(row["best_lap"]),
                s_m=float(row["s_start_m"]),
                gain_s=gain,
                confidence=confidence,
            )
        )
    return out


def lap_findings(
    metrics: Mapping[str, float | None], concepts: Sequence[Concept], *, confidence: float
) -> list[Finding]:
    """A ``lap_consistency`` finding (best and mean lap, spread; ``gain_s`` = mean − best) when two or more
    complete valid laps were timed (``lap_time_cv_pct`` measured)."""
    cv, best, mean = metrics.get("lap_time_cv_pct"), metrics.get("best_lap_s"), metrics.get("mean_lap_s")
    if cv is None or best is None or mean is None:
        return []
    measured: Metrics = {"best_lap_s": best, "mean_lap_s": mean, "lap_time_cv_pct": cv}
    hits = [
        c
        for c in fired(tuple(concepts), measured)
        if any(k.metric == "lap_time_cv_pct" for k in c.conditions)
    ]
    return [
        Finding(
            kind="lap_consistency",
            metrics=measured,
            concept=hits[0].id if hits else None,
            gain_s=mean - best,
            confidence=confidence,
        )
    ]


def technique_findings(
    metrics: Mapping[str, float | None], concepts: Sequence[Concept], *, confidence: float
) -> list[Finding]:
    """One ``technique`` finding per concept whose rule fires over the session's sample-level metrics
    (:data:`SESSION_CONCEPT_METRICS`), with the metrics that triggered it."""
    measured = {k: metrics.get(k) for k in SESSION_CONCEPT_METRICS}
    return [
        Finding(kind="technique", metrics=c.triggering(measured), concept=c.id, confidence=confidence)
        for c in fired(tuple(concepts), measured)
    ]


def session_findings(
    *,
    summary: pl.DataFrame,
    corners: pl.DataFrame,
    splits: pl.DataFrame,
    metrics: Mapping[str, float | None],
    track: Track,
    concepts: Sequence[Concept],
    confidence: float,
    limits: FindingLimits = FINDING_LIMITS,
) -> list[Finding]:
    """Every finding of a session: corners (largest gain first), sectors, lap consistency, technique."""
    return [
        *corner_findings(summary, corners, track, concepts, confidence=confidence, limits=limits),
        *sector_findings(splits, confidence=confidence, limits=limits),
        *lap_findings(metrics, concepts, confidence=confidence),
        *technique_findings(metrics, concepts, confidence=confidence),
    ]


def top_opportunities(
    findings: Sequence[Finding], *, limits: FindingLimits = FINDING_LIMITS
) -> list[Finding]:
    """The ``top_n`` corner findings with the most time to gain, largest first."""
    corners = [f for f in findings if f.kind == "corner_time_loss" and f.gain_s is not None]
    return sorted(corners, key=lambda f: -(f.gain_s or 0.0))[: limits.top_n]


@dataclass(frozen=True)
class SessionReview:
    """A session's coaching: its metrics (``pitwall.coach.metrics`` names plus ``best_lap_s``/``mean_lap_s``),
    findings (:func:`session_findings`), top opportunities and the confidence they carry."""

    metrics: dict[str, float | None]
    findings: list[Finding]
    top: list[Finding]
    confidence: float


def review_session(
    *,
    driving: pl.LazyFrame,
    passes: pl.DataFrame,
    summary: pl.DataFrame,
    splits: pl.DataFrame,
    laps: pl.DataFrame,
    track: Track,
    concepts: Sequence[Concept],
    limits: FindingLimits = FINDING_LIMITS,
) -> SessionReview:
    """Every finding of one session from the pipelines' results.

    ``driving``: telemetry of the complete laps with (derived) g and ``offset_m`` (see
    :func:`pitwall.coach.metrics.driving_metrics`); ``passes``: :func:`pitwall.analysis.corners.corner_passes`
    of those laps; ``summary``: :func:`pitwall.analysis.corners.corner_summary` of them; ``splits``:
    :func:`pitwall.analysis.sectors.sector_splits`; ``laps``: the ``schema.LAPS`` table.
    """
    length = track.length_m
    lap_row = lap_metrics(laps.lazy()).select("best_lap_s", "mean_lap_s")
    every = session_metrics(driving, passes.lazy(), summary.lazy(), laps.lazy(), length_m=length)
    metrics = row_metrics(pl.concat([every, lap_row], how="horizontal").collect().row(0, named=True))
    rate = sampling(driving).collect().row(0, named=True)
    conf = confidence(rate["sample_hz"], rate["median_sats"])
    findings = session_findings(
        summary=summary,
        corners=corner_metrics(passes.lazy(), summary.lazy(), length_m=length).collect(),
        splits=splits,
        metrics=metrics,
        track=track,
        concepts=concepts,
        confidence=conf,
        limits=limits,
    )
    return SessionReview(metrics, findings, top_opportunities(findings, limits=limits), conf)
