"""Burst coaching: metrics of a short stretch of driving → spoken cues, under the cue discipline (pure).

Two sources give a burst: the PWA's burst summary (:class:`BurstSummary`, ``POST /analyze``) and a rolling
window of live telemetry (:func:`window_metrics`, the live coach). Both produce the metric names of
:mod:`pitwall.coach.metrics`; the concepts of ``data/coach/concepts.yaml`` fire over them and each fired concept
is a candidate :class:`Cue`. The :class:`CueGate` then applies the discipline of :class:`CueLimits`: nothing
while the car is in a corner or past the apex, at most ``max_items`` per burst, and a cue is not repeated
within ``repeat_gap_s``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Final

import polars as pl

from pitwall.analysis.pedals import pedal_time_session
from pitwall.coach.concepts import Concept, fired
from pitwall.coach.metrics import Metrics, row_metrics
from pitwall.coach.render import fill


@dataclass(frozen=True)
class CueLimits:
    """The one source of the cue discipline and of the live windowing.

    ``max_items``: cues spoken per burst. ``repeat_gap_s``: seconds before the same cue may be spoken again
    (data time on the live path, wall time for ``POST /analyze``). ``low_load_g_lat``: |lateral g| below which
    the car is in a low-load zone (live). ``burst_s``: data seconds of telemetry per live burst;
    ``max_window_s``: a burst that ends in a corner keeps growing until the next low-load moment, up to this.
    ``words_per_min`` and ``pause_ms``: speech-duration estimate for ``tts_ms``.
    """

    max_items: int = 3
    repeat_gap_s: float = 30.0
    low_load_g_lat: float = 0.35
    burst_s: float = 3.0
    max_window_s: float = 12.0
    words_per_min: float = 165.0
    pause_ms: int = 300


CUE_LIMITS: Final = CueLimits()


@dataclass(frozen=True)
class BurstSummary:
    """The numbers of the PWA's burst summary the rules read (``None`` = not sent). Units as named; frames are
    counts."""

    avg_speed_kmh: float | None = None
    max_combo_g: float | None = None
    max_lateral_g: float | None = None
    max_long_g: float | None = None
    max_brake_bar: float | None = None
    avg_throttle_pct: float | None = None
    coast_frames: int | None = None
    trail_brake_frames: int | None = None
    frame_count: int | None = None


def _share_pct(frames: int | None, total: int | None) -> float | None:
    return None if frames is None or not total else 100.0 * frames / total


def burst_metrics(burst: BurstSummary) -> Metrics:
    """The metrics a burst summary carries (``coast_pct`` and ``trail_brake_pct`` from the frame counts)."""
    return {
        "coast_pct": _share_pct(burst.coast_frames, burst.frame_count),
        "trail_brake_pct": _share_pct(burst.trail_brake_frames, burst.frame_count),
        "max_brake_bar": burst.max_brake_bar,
        "avg_throttle_pct": burst.avg_throttle_pct,
        "max_combo_g": burst.max_combo_g,
        "max_lateral_g": burst.max_lateral_g,
        "max_long_g": burst.max_long_g,
        "avg_speed_kph": burst.avg_speed_kmh,
    }


def window_metrics(frames: pl.DataFrame) -> Metrics:
    """Burst metrics of a window of telemetry rows (the same pedal states as ``pitwall.analysis.pedals``).

    Requires ``t_s`` (s, ordered), ``speed_kph``, ``throttle_pct`` (%), ``brake_bar``/``brake_pct``,
    ``g_lat``, ``g_long`` (g). Adds ``frame_count``. ``coast_pct`` is null when the throttle is not logged,
    ``trail_brake_pct`` when ``g_lat`` is not.
    """
    pedals = pedal_time_session(frames.lazy()).collect().row(0, named=True)
    stats = frames.select(
        pl.col("brake_bar").max().alias("max_brake_bar"),
        pl.col("throttle_pct").mean().alias("avg_throttle_pct"),
        (pl.col("g_lat") ** 2 + pl.col("g_long") ** 2).sqrt().max().alias("max_combo_g"),
        pl.col("g_lat").abs().max().alias("max_lateral_g"),
        pl.col("g_long").abs().max().alias("max_long_g"),
        pl.col("speed_kph").mean().alias("avg_speed_kph"),
    ).row(0, named=True)
    metrics = row_metrics(stats)
    logged = {name: frames[name].null_count() < frames.height for name in ("throttle_pct", "g_lat")}
    for state, needs in (("coast", "throttle_pct"), ("trail_brake", "g_lat")):
        frac = pedals[f"{state}_frac"]
        metrics[f"{state}_pct"] = None if frac is None or not logged[needs] else 100.0 * frac
    metrics["frame_count"] = float(frames.height)
    return metrics


def tts_ms(text: str, limits: CueLimits = CUE_LIMITS) -> int:
    """Estimated speaking time of ``text`` (ms): words at ``words_per_min`` plus one pause."""
    words = len(text.split())
    return round(60_000.0 * words / limits.words_per_min) + limits.pause_ms


@dataclass(frozen=True)
class Cue:
    """A candidate or spoken cue: ``cue`` is the concept id; ``metrics`` are the numbers that triggered it."""

    cue: str
    text: str
    metrics: dict[str, float | int | None]
    confidence: float
    tts_ms: int
    emotion: str = "encouraging"

    def to_dict(self) -> dict[str, Any]:
        return {
            "cue": self.cue,
            "concept": self.cue,
            "text": self.text,
            "metrics": self.metrics,
            "confidence": self.confidence,
            "tts_ms": self.tts_ms,
            "emotion": self.emotion,
        }


def candidate_cues(
    metrics: Metrics, concepts: Sequence[Concept], *, confidence: float, limits: CueLimits = CUE_LIMITS
) -> list[Cue]:
    """One cue per concept whose rule fires over ``metrics``, in file order (cue text from its template)."""
    out = []
    for concept in fired(tuple(concepts), metrics):
        text = fill(concept.cue, metrics)
        out.append(Cue(concept.id, text, concept.triggering(metrics), confidence, tts_ms(text, limits)))
    return out


@dataclass
class CueGate:
    """The cue discipline with its memory (when each cue was last spoken). Not thread-safe: one per stream."""

    limits: CueLimits = CUE_LIMITS
    last_spoken_s: dict[str, float] = field(default_factory=dict)

    def admit(
        self, cues: Sequence[Cue], *, now_s: float, in_corner: bool = False, past_apex: bool = False
    ) -> tuple[list[Cue], str | None]:
        """The cues to speak now and, when some were held back, why (``in_corner``, ``past_apex``,
        ``repeat_gap``, ``max_items``). Spoken cues are remembered at ``now_s`` (seconds, any monotonic clock)."""
        if in_corner:
            return [], "in_corner" if cues else None
        if past_apex:
            return [], "past_apex" if cues else None
        fresh = [
            c
            for c in cues
            if now_s - self.last_spoken_s.get(c.cue, float("-inf")) >= self.limits.repeat_gap_s
        ]
        spoken = fresh[: self.limits.max_items]
        for cue in spoken:
            self.last_spoken_s[cue.cue] = now_s
        reason = None
        if len(fresh) < len(cues):
            reason = "repeat_gap"
        elif len(spoken) < len(fresh):
            reason = "max_items"
        return spoken, reason
