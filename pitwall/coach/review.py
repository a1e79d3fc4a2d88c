"""A whole session's coaching review from its view alone — what the coach routes, the notebooks and the parquet
lake's ``analyze`` all run."""

from __future__ import annotations

import json
from collections.abc import Sequence

import polars as pl

from pitwall.coach.concepts import Concept
from pitwall.coach.findings import Finding
from pitwall.coach.rules import SessionReview, review_session
from pitwall.formats.reference import load_model_reference
from pitwall.session_view import SessionView

FINDINGS_SCHEMA: dict[str, pl.DataType] = {
    "idx": pl.Int32(),
    "kind": pl.String(),
    "concept": pl.String(),
    "corner": pl.String(),
    "corner_name": pl.String(),
    "sector": pl.Int32(),
    "lap": pl.Int32(),
    "s_m": pl.Float64(),
    "gain_s": pl.Float64(),
    "confidence": pl.Float64(),
    "metrics_json": pl.String(),
}
"""One row per finding (:func:`findings_frame`); ``metrics_json`` holds the finding's unit-suffixed numbers."""


def review_view(view: SessionView, concepts: Sequence[Concept]) -> tuple[pl.DataFrame, SessionReview]:
    """The corner summary (against the track's model lap when it has one, as ``/corners?reference=auto``) and
    the coaching review of a session's complete laps, from the view's derived tables (computed once per view:
    the server's coach routes and the notebooks share them). Requires a complete lap (``NoCompleteLap``)."""
    summary = view.corner_summary(load_model_reference(view.track.id))
    review = review_session(
        driving=view.driving,
        passes=view.passes,
        summary=summary,
        splits=view.sectors,
        laps=view.laps,
        track=view.track,
        concepts=concepts,
        telemetry=view.telemetry,
    )
    return summary, review


def findings_frame(findings: Sequence[Finding]) -> pl.DataFrame:
    """Findings as a table (:data:`FINDINGS_SCHEMA`, ``idx`` = their order in the review)."""
    rows = [
        {
            **{k: v for k, v in f.to_dict().items() if k != "metrics"},
            "idx": k,
            "metrics_json": json.dumps(dict(f.metrics), sort_keys=True),
        }
        for k, f in enumerate(findings)
    ]
    return pl.DataFrame(rows, schema=FINDINGS_SCHEMA) if rows else pl.DataFrame(schema=FINDINGS_SCHEMA)
