"""Across sessions (pure): a driver's weak corners, cross-session insights, and the pre-session brief.

The edge computes one :func:`pitwall.analysis.corners.corner_summary` per earlier session and stacks them with
a ``session_id`` column (``corner``, ``corner_name``, ``delta_to_reference_s`` are used); everything here
works on that stack.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final

import polars as pl

from pitwall.coach.concepts import Concept
from pitwall.coach.render import fmt
from pitwall.track import Track, WeatherPhase

HISTORY_COLUMNS: Final[dict[str, pl.DataType]] = {
    "session_id": pl.String(),
    "corner": pl.String(),
    "corner_name": pl.String(),
    "delta_to_reference_s": pl.Float64(),
}


@dataclass(frozen=True)
class HistoryLimits:
    """``min_loss_s``: a corner loses time in a session when its mean pass is this much slower than the
    reference (s). ``weak_n``: weak corners named in a brief. ``cold_track_c``/``hot_track_c``: track
    temperatures (°C) below/above which the surface is ``cold``/``hot`` (else ``optimal``)."""

    min_loss_s: float = 0.05
    weak_n: int = 3
    cold_track_c: float = 15.0
    hot_track_c: float = 40.0


HISTORY_LIMITS: Final = HistoryLimits()


def corner_history(stack: pl.LazyFrame, *, limits: HistoryLimits = HISTORY_LIMITS) -> pl.LazyFrame:
    """Per corner over sessions: ``corner``, ``corner_name``, ``n_sessions``, ``n_losing`` (sessions losing
    ≥ ``min_loss_s``), ``mean_loss_s`` (mean ``delta_to_reference_s``, s), ordered by ``mean_loss_s`` desc.
    Requires :data:`HISTORY_COLUMNS`."""
    d = pl.col("delta_to_reference_s")
    return (
        stack.filter(d.is_not_null())
        .group_by("corner")
        .agg(
            pl.col("corner_name").first(),
            pl.col("session_id").n_unique().alias("n_sessions"),
            (d >= limits.min_loss_s).sum().alias("n_losing"),
            d.mean().alias("mean_loss_s"),
        )
        .sort("mean_loss_s", "corner", descending=[True, False])
    )


def _label(corner: str, name: str | None) -> str:
    return f"T{corner} ({name})" if name else f"T{corner}"


def weak_corners(history: pl.DataFrame, *, limits: HistoryLimits = HISTORY_LIMITS) -> list[dict[str, Any]]:
    """The ``weak_n`` corners with the largest mean loss that lost time in at least one session."""
    rows = history.filter(pl.col("n_losing") > 0).head(limits.weak_n)
    return rows.to_dicts()


def insights(
    history: pl.DataFrame,
    concept_sessions: Mapping[str, int],
    concepts: Sequence[Concept],
    *,
    limits: HistoryLimits = HISTORY_LIMITS,
) -> list[dict[str, Any]]:
    """Insights ``{id, title, detail, est_gain_s, …}``: one per corner losing time in some session (largest
    mean loss first; ``est_gain_s`` = mean loss) and one per concept that fired in some session
    (``concept_sessions``: concept id → sessions it fired in; ``est_gain_s`` null, not a time)."""
    out: list[dict[str, Any]] = []
    for row in history.filter(pl.col("n_losing") > 0).iter_rows(named=True):
        label = _label(row["corner"], row["corner_name"])
        out.append(
            {
                "id": f"corner-{row['corner']}",
                "kind": "corner",
                "title": f"{label} costs time in {row['n_losing']} of {row['n_sessions']} sessions",
                "detail": f"Mean pass {fmt('mean_loss_s', row['mean_loss_s'])} s slower than the reference "
                f"over {row['n_sessions']} sessions.",
                "est_gain_s": row["mean_loss_s"],
                "n_sessions": row["n_sessions"],
            }
        )
    by_id = {c.id: c for c in concepts}
    for concept_id, n in sorted(concept_sessions.items(), key=lambda kv: (-kv[1], kv[0])):
        concept = by_id.get(concept_id)
        if concept is None or n <= 0:
            continue
        out.append(
            {
                "id": f"concept-{concept_id}",
                "kind": "concept",
                "title": f"{concept.name}: fired in {n} sessions",
                "detail": concept.description,
                "est_gain_s": None,
                "n_sessions": n,
            }
        )
    return out


def weather_phase(track: Track, hour_local: int) -> WeatherPhase | None:
    """The track's weather phase covering ``hour_local`` (0..23), or ``None`` when the track has none."""
    return next((w for w in track.weather if w.hour_from <= hour_local < w.hour_to), None)


def surface_state(phase: WeatherPhase | None, *, limits: HistoryLimits = HISTORY_LIMITS) -> str | None:
    """``cold`` / ``optimal`` / ``hot`` from the phase's track temperature (``None`` without a phase)."""
    if phase is None:
        return None
    if phase.track_temp_c < limits.cold_track_c:
        return "cold"
    return "hot" if phase.track_temp_c > limits.hot_track_c else "optimal"


def render_brief(
    track: Track,
    *,
    phase: WeatherPhase | None,
    surface: str | None,
    weak: Sequence[Mapping[str, Any]],
    focus: Sequence[str],
    goal: str | None,
    driver: str | None,
) -> str:
    """The pre-session brief as markdown (track, conditions, weak corners with their mean loss, focus, goal)."""
    lines = [f"## Brief: {track.name}" + (f" for {driver}" if driver else ""), ""]
    if phase is not None:
        lines.append(
            f"**Conditions**: {phase.label}, air {fmt('air_temp_c', phase.air_temp_c)} °C, track "
            f"{fmt('track_temp_c', phase.track_temp_c)} °C ({surface}), wind {fmt('wind_kph', phase.wind_kph)} km/h. "
            f"{phase.note}".rstrip()
        )
    else:
        lines.append("**Conditions**: no weather phase in the track file.")
    lines.append("")
    if weak:
        lines.append("**Where you lost time before**")
        lines.append("")
        for row in weak:
            label = _label(str(row["corner"]), row.get("corner_name"))
            lines.append(
                f"- {label}: {fmt('mean_loss_s', row['mean_loss_s'])} s per lap on average, "
                f"in {row['n_losing']} of {row['n_sessions']} sessions"
            )
    else:
        lines.append("No earlier session on this track: drive to learn it, then we compare.")
    lines.append("")
    if focus:
        lines.append("**Focus**: " + "; ".join(focus))
    if goal:
        lines.append(f"**Goal**: {goal}")
    return "\n".join(lines).rstrip() + "\n"
