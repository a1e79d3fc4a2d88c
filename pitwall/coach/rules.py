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

from pitwall.analysis.delta import delta_t, lap_traces
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
    """Thresholds of the session rules: the smallest time loss worth a finding (s), how many opportunities a
    debrief lists, how much earlier than on the best pass the mean brake point must be to be a finding (m), and
    the stretch of track over which delta-T losses are summed (m)."""

    min_gain_s: float = 0.01
    top_n: int = 3
    min_brake_earlier_m: float = 5.0
    delta_window_m: float = 200.0


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


def _signed(delta_m: float, length_m: float) -> float:
    """A signed distance along a closed lap, in [−length/2, length/2)."""
    return (delta_m + length_m / 2) % length_m - length_m / 2


def braking_findings(
    summary: pl.DataFrame, track: Track, *, confidence: float, limits: FindingLimits = FINDING_LIMITS
) -> list[Finding]:
    """One ``braking_point`` finding per corner whose mean brake point (over passes) is at least
    ``min_brake_earlier_m`` before the brake point of its best pass: ``brake_earlier_m`` metres of braking to
    take back (``s_m`` = the mean brake point). Requires the ``corner_summary`` columns."""
    out = []
    for row in summary.iter_rows(named=True):
        best, mean = row["best_brake_point_s_m"], row["mean_brake_point_s_m"]
        if best is None or mean is None or row["n_passes"] < 2:
            continue
        earlier = _signed(best - mean, track.length_m)
        if earlier < limits.min_brake_earlier_m:
            continue
        out.append(
            Finding(
                kind="braking_point",
                metrics={
                    "best_brake_point_s_m": best,
                    "mean_brake_point_s_m": mean,
                    "brake_earlier_m": earlier,
                },
                corner=str(row["corner"]),
                corner_name=row.get("corner_name"),
                s_m=mean,
                confidence=confidence,
            )
        )
    return out


def lap_delta(
    telemetry: pl.LazyFrame, laps: pl.DataFrame, track: Track
) -> tuple[int, int, pl.DataFrame] | None:
    """``(slowest, best, delta)``: delta-T (:func:`pitwall.analysis.delta.delta_t`) of the slowest complete
    valid lap against the best one; ``None`` with fewer than two such laps. Requires what
    :func:`pitwall.analysis.delta.lap_traces` requires."""
    ranked = laps.filter((pl.col("kind") == "flying") & pl.col("valid")).sort("duration_s", "lap")
    if ranked.height < 2:
        return None
    best, slowest = int(ranked["lap"][0]), int(ranked["lap"][-1])
    traces = lap_traces(telemetry, laps.lazy(), track, laps=[best, slowest]).collect()
    delta = delta_t(
        traces.filter(pl.col("lap") == slowest).lazy(), traces.filter(pl.col("lap") == best).lazy()
    )
    return slowest, best, delta.collect()


def delta_findings(
    delta: pl.DataFrame,
    *,
    lap: int,
    ref_lap: int,
    confidence: float,
    limits: FindingLimits = FINDING_LIMITS,
) -> list[Finding]:
    """A ``delta_t_loss`` finding: the stretch of ``delta_window_m`` where ``lap`` lost the most time to
    ``ref_lap`` (``gain_s`` = delta-T growth over it, s; ``s_m`` = its start). ``delta`` has ``s_m``, ``delta_s``
    (:func:`pitwall.analysis.delta.delta_t`, on an even grid)."""
    if delta.height < 2:
        return []
    step = float(delta["s_m"][1] - delta["s_m"][0])
    k = max(1, round(limits.delta_window_m / step)) if step > 0 else 1
    grown = delta.with_columns((pl.col("delta_s").shift(-k) - pl.col("delta_s")).alias("_grown")).drop_nulls(
        "_grown"
    )
    if grown.height == 0:
        return []
    worst = grown.row(int(grown["_grown"].arg_max() or 0), named=True)
    if worst["_grown"] < limits.min_gain_s:
        return []
    return [
        Finding(
            kind="delta_t_loss",
            metrics={
                "from_s_m": worst["s_m"],
                "to_s_m": worst["s_m"] + k * step,
                "lap_delta_s": float(delta["delta_s"][-1]),
                "ref_lap": ref_lap,
            },
            lap=lap,
            s_m=worst["s_m"],
            gain_s=worst["_grown"],
            confidence=confidence,
        )
    ]


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
    delta: tuple[int, int, pl.DataFrame] | None = None,
    limits: FindingLimits = FINDING_LIMITS,
) -> list[Finding]:
    """Every finding of a session: corners (largest gain first), braking points, sectors, the worst stretch of
    the slowest lap against the best (``delta``: :func:`lap_delta`), lap consistency, technique."""
    lap_loss = (
        []
        if delta is None
        else delta_findings(delta[2], lap=delta[0], ref_lap=delta[1], confidence=confidence, limits=limits)
    )
    return [
        *corner_findings(summary, corners, track, concepts, confidence=confidence, limits=limits),
        *braking_findings(summary, track, confidence=confidence, limits=limits),
        *sector_findings(splits, confidence=confidence, limits=limits),
        *lap_loss,
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
    telemetry: pl.LazyFrame | None = None,
    limits: FindingLimits = FINDING_LIMITS,
) -> SessionReview:
    """Every finding of one session from the pipelines' results.

    ``driving``: telemetry of the complete laps with (derived) g and ``offset_m`` (see
    :func:`pitwall.coach.metrics.driving_metrics`); ``passes``: :func:`pitwall.analysis.corners.corner_passes`
    of those laps; ``summary``: :func:`pitwall.analysis.corners.corner_summary` of them; ``splits``:
    :func:`pitwall.analysis.sectors.sector_splits`; ``laps``: the ``schema.LAPS`` table; ``telemetry``: the
    session's positioned telemetry (``lap``, ``t_s``, ``s_m``…), for the delta-T finding (none without it).
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
        delta=None if telemetry is None else lap_delta(telemetry, laps, track),
        limits=limits,
    )
    return SessionReview(metrics, findings, top_opportunities(findings, limits=limits), conf)
