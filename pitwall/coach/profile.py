"""A driver's profile and evolution, event-sourced from stored sessions, laps and coaching notes (pure).

Inputs are frames an edge reads from the store: ``sessions`` (the ``sessions`` table rows of one driver:
``session_id``, ``started_at``, ``track``, ``track_id``, ``car``, ``duration_s``, ``distance_m``), ``laps``
(:data:`pitwall.schema.LAPS` rows of those sessions) and ``notes`` (``session_id``, ``created_at``, ``text``,
``source``). Nothing is stored about a driver: the profile is recomputed from these events every time.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Final

import polars as pl

MIN_EVOLUTION_SESSIONS: Final = 5
"""Sessions at a track needed for an evolution (fewer: HTTP 204, as the contract says)."""

EVENT_ORDER: Final = {"session": 0, "personal_best": 1, "note": 2}
"""Order of events at the same instant: a session, then the record it set, then notes."""

VALID_FLYING: Final = pl.col("valid") & (pl.col("kind") == "flying") & pl.col("duration_s").is_not_null()


def session_bests(sessions: pl.DataFrame, laps: pl.DataFrame) -> pl.DataFrame:
    """Per session, oldest first: ``session_id``, ``started_at``, ``track_id``, ``track``, ``car``,
    ``laps`` (valid flying laps), ``best_lap_s``, ``mean_lap_s`` (s; null without a valid flying lap)."""
    per = (
        laps.filter(VALID_FLYING)
        .group_by("session_id")
        .agg(
            pl.len().cast(pl.Int64).alias("laps"),
            pl.min("duration_s").alias("best_lap_s"),
            pl.mean("duration_s").alias("mean_lap_s"),
        )
    )
    return (
        sessions.select("session_id", "started_at", "track_id", "track", "car")
        .join(per, on="session_id", how="left")
        .with_columns(pl.col("laps").fill_null(0))
        .sort("started_at", "session_id")
    )


def _events(bests: pl.DataFrame, notes: pl.DataFrame) -> list[dict[str, Any]]:
    """The driver's timeline: each session, each new personal best at a track, each coaching note."""
    events: list[dict[str, Any]] = []
    record: dict[str, float] = {}
    for row in bests.iter_rows(named=True):
        events.append(
            {
                "at": row["started_at"],
                "kind": "session",
                "session_id": row["session_id"],
                "track_id": row["track_id"],
                "laps": row["laps"],
                "best_lap_s": row["best_lap_s"],
            }
        )
        best = row["best_lap_s"]
        if best is not None and best < record.get(row["track_id"], float("inf")):
            previous = record.get(row["track_id"])
            record[row["track_id"]] = best
            events.append(
                {
                    "at": row["started_at"],
                    "kind": "personal_best",
                    "session_id": row["session_id"],
                    "track_id": row["track_id"],
                    "best_lap_s": best,
                    "improvement_s": None if previous is None else previous - best,
                }
            )
    for row in notes.iter_rows(named=True):
        events.append(
            {
                "at": row["created_at"],
                "kind": "note",
                "session_id": row["session_id"],
                "source": row["source"],
                "text": row["text"],
            }
        )
    return sorted(events, key=lambda e: (e["at"], EVENT_ORDER[e["kind"]]))


def driver_profile(
    driver_id: str, sessions: pl.DataFrame, laps: pl.DataFrame, notes: pl.DataFrame, *, recent: int = 20
) -> dict[str, Any]:
    """The profile: totals (sessions, valid laps, driving time s, distance m), per track (sessions, best and
    last best lap s), first and last session, and the ``recent`` newest timeline events."""
    bests = session_bests(sessions, laps)
    tracks = (
        bests.group_by("track_id", "track")
        .agg(
            pl.len().alias("sessions"),
            pl.sum("laps").alias("laps"),
            pl.min("best_lap_s").alias("best_lap_s"),
            pl.col("best_lap_s").drop_nulls().last().alias("last_best_lap_s"),
            pl.max("started_at").alias("last_session_at"),
        )
        .sort("last_session_at", descending=True)
    )
    events = _events(bests, notes)
    return {
        "driver_id": driver_id,
        "sessions": bests.height,
        "laps": int(bests["laps"].sum()),
        "driving_time_s": float(sessions["duration_s"].sum()),
        "distance_m": float(sessions["distance_m"].sum()),
        "first_session_at": bests["started_at"].min(),
        "last_session_at": bests["started_at"].max(),
        "cars": sorted({c for c in bests["car"].to_list() if c}),
        "tracks": tracks.to_dicts(),
        "notes": notes.height,
        "events": events[-recent:][::-1],
    }


@dataclass(frozen=True)
class CornerGain:
    """The corner whose mean time against the reference improved most from the first to the last session."""

    corner: str
    corner_name: str | None
    first_delta_s: float
    last_delta_s: float
    gain_s: float


def biggest_corner_gain(stack: pl.DataFrame, session_order: Sequence[str]) -> CornerGain | None:
    """From stacked corner summaries (``session_id``, ``corner``, ``corner_name``, ``delta_to_reference_s``):
    per corner, the first and last of ``session_order`` where it was measured; the largest drop in
    ``delta_to_reference_s`` (s). ``None`` when no corner improved."""
    rank = {sid: k for k, sid in enumerate(session_order)}
    measured = (
        stack.filter(pl.col("delta_to_reference_s").is_not_null())
        .with_columns(pl.col("session_id").replace_strict(rank, default=None).alias("order"))
        .drop_nulls("order")
        .sort("order")
    )
    gains = (
        measured.group_by("corner")
        .agg(
            pl.col("corner_name").first(),
            pl.col("delta_to_reference_s").first().alias("first_delta_s"),
            pl.col("delta_to_reference_s").last().alias("last_delta_s"),
            pl.len().alias("n"),
        )
        .filter(pl.col("n") >= 2)
        .with_columns((pl.col("first_delta_s") - pl.col("last_delta_s")).alias("gain_s"))
        .filter(pl.col("gain_s") > 0)
        .sort("gain_s", "corner", descending=[True, False])
    )
    if gains.height == 0:
        return None
    row = gains.row(0, named=True)
    return CornerGain(
        row["corner"], row["corner_name"], row["first_delta_s"], row["last_delta_s"], row["gain_s"]
    )


def evolution(bests: pl.DataFrame) -> dict[str, Any]:
    """Time series (oldest first) of :func:`session_bests` rows at one track and the summary deltas: first,
    last and best-ever best lap, ``delta_s`` = last − first (negative = faster), ``improvement_pct``."""
    timed = bests.filter(pl.col("best_lap_s").is_not_null())
    first = timed["best_lap_s"][0] if timed.height else None
    last = timed["best_lap_s"][-1] if timed.height else None
    summary = {
        "sessions": bests.height,
        "timed_sessions": timed.height,
        "first_best_lap_s": first,
        "last_best_lap_s": last,
        "best_ever_lap_s": timed["best_lap_s"].min() if timed.height else None,
        "delta_s": None if first is None or last is None else last - first,
        "improvement_pct": None if first is None or last is None else (first - last) / first * 100,
    }
    return {"series": bests.to_dicts(), "summary": summary}
