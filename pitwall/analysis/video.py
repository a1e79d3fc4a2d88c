"""Telemetry ↔ video: sync checks and clip cut lists (pure Polars).

A *video timeline* is a frame of ``t_s`` (session seconds), ``video_file`` (name) and ``video_t_ms`` (ms into
that file). It comes either from the telemetry itself (VBO ``avifileindex``/``avitime`` →
``video_file_idx``/``video_t_ms``, see :func:`video_timeline`) or from the ``video_frames`` table.

Sync is judged at ±``tolerance_ms`` (default 50 ms):

* telemetry-embedded timeline — within one file, ``1000·t_s − video_t_ms`` must be constant; a sample's error is
  its deviation from the file's median offset;
* ``video_frames`` table — each frame is matched to the nearest telemetry sample; the error is the time between
  them, and frames with no sample within the tolerance stay unmatched.
"""

from __future__ import annotations

from typing import Final

import polars as pl

PAIR_COLUMNS: Final[dict[str, pl.DataType]] = {
    "video_file": pl.String(),
    "video_t_ms": pl.Int64(),
    "t_s": pl.Float64(),
    "frame_idx": pl.Int64(),
    "error_ms": pl.Float64(),
}
"""Telemetry ↔ video pairs: ``frame_idx``/``t_s`` of the telemetry sample (null when unmatched), ``error_ms``."""

CLIP_COLUMNS: Final[dict[str, pl.DataType]] = {
    "clip_id": pl.Int32(),
    "kind": pl.String(),
    "lap": pl.Int32(),
    "video_file": pl.String(),
    "start_ms": pl.Int64(),
    "end_ms": pl.Int64(),
    "duration_ms": pl.Int64(),
    "t_start_s": pl.Float64(),
    "t_end_s": pl.Float64(),
}
"""Output columns of :func:`video_clips`."""


def video_file_expr(*, base_name: str | None = None, extension: str | None = None) -> pl.Expr:
    """The file name of ``video_file_idx``: ``<base_name><idx as 4 digits>.<extension>`` (VBOX naming, e.g.
    ``Run04_0001.mp4``); just the 4 digits (and extension) when no base name is known."""
    digits = pl.col("video_file_idx").cast(pl.String).str.zfill(4)
    name = pl.concat_str(pl.lit(base_name or ""), digits)
    return (pl.concat_str(name, pl.lit(f".{extension}")) if extension else name).alias("video_file")


def video_timeline(
    telemetry: pl.LazyFrame, *, base_name: str | None = None, extension: str | None = None
) -> pl.LazyFrame:
    """The telemetry-embedded timeline: ``frame_idx``, ``t_s``, ``video_file``, ``video_t_ms`` for samples that
    carry video columns. Requires ``frame_idx``, ``t_s``, ``video_file_idx``, ``video_t_ms`` (nullable)."""
    return telemetry.filter(
        pl.col("video_file_idx").is_not_null() & pl.col("video_t_ms").is_not_null()
    ).select(
        "frame_idx",
        "t_s",
        video_file_expr(base_name=base_name, extension=extension),
        pl.col("video_t_ms").cast(pl.Int64),
    )


def pairs_from_timeline(timeline: pl.LazyFrame) -> pl.LazyFrame:
    """Sync pairs (:data:`PAIR_COLUMNS`) of an embedded timeline: error = deviation of ``1000·t_s −
    video_t_ms`` from its median within the file (ms)."""
    offset = 1000.0 * pl.col("t_s") - pl.col("video_t_ms")
    return timeline.select(
        "video_file",
        "video_t_ms",
        "t_s",
        "frame_idx",
        (offset - offset.median().over("video_file")).alias("error_ms"),
    ).cast(PAIR_COLUMNS)  # type: ignore[arg-type]


def pairs_from_frames(
    telemetry: pl.LazyFrame, frames: pl.LazyFrame, *, tolerance_ms: float = 50.0
) -> pl.LazyFrame:
    """Sync pairs (:data:`PAIR_COLUMNS`) of ``video_frames`` rows (``t_s``, ``video_file``, ``video_t_ms``): each
    frame matched to the nearest telemetry sample (``frame_idx``, ``t_s``) within ``tolerance_ms``."""
    samples = telemetry.select("frame_idx", pl.col("t_s").alias("sample_t_s")).sort("sample_t_s")
    matched = (
        frames.select("video_file", "video_t_ms", pl.col("t_s").alias("frame_t_s"))
        .sort("frame_t_s")
        .join_asof(
            samples,
            left_on="frame_t_s",
            right_on="sample_t_s",
            strategy="nearest",
            tolerance=tolerance_ms / 1000.0,
        )
    )
    return matched.select(
        "video_file",
        "video_t_ms",
        pl.col("sample_t_s").alias("t_s"),
        "frame_idx",
        (1000.0 * (pl.col("frame_t_s") - pl.col("sample_t_s"))).alias("error_ms"),
    ).cast(PAIR_COLUMNS)  # type: ignore[arg-type]


def sync_summary(pairs: pl.LazyFrame, *, tolerance_ms: float = 50.0) -> pl.LazyFrame:
    """Per video file: ``video_file``, ``n_pairs``, ``n_matched`` (pairs with a telemetry sample and
    ``|error_ms| ≤ tolerance_ms``), ``matched_frac`` (0..1), ``max_abs_error_ms``, ``t_start_s``, ``t_end_s``
    (s), ``video_start_ms``, ``video_end_ms`` (ms), ``in_sync`` (every pair matched). Requires :data:`PAIR_COLUMNS`."""
    ok = pl.col("error_ms").abs() <= tolerance_ms
    return (
        pairs.group_by("video_file")
        .agg(
            pl.len().cast(pl.Int64).alias("n_pairs"),
            ok.sum().cast(pl.Int64).alias("n_matched"),
            pl.col("error_ms").abs().max().alias("max_abs_error_ms"),
            pl.col("t_s").min().alias("t_start_s"),
            pl.col("t_s").max().alias("t_end_s"),
            pl.col("video_t_ms").min().alias("video_start_ms"),
            pl.col("video_t_ms").max().alias("video_end_ms"),
        )
        .with_columns(
            (pl.col("n_matched") / pl.col("n_pairs")).alias("matched_frac"),
            (pl.col("n_matched") == pl.col("n_pairs")).alias("in_sync"),
        )
        .select(
            "video_file",
            "n_pairs",
            "n_matched",
            "matched_frac",
            "max_abs_error_ms",
            "t_start_s",
            "t_end_s",
            "video_start_ms",
            "video_end_ms",
            "in_sync",
        )
        .sort("t_start_s")
    )


def clip_windows(
    laps: pl.LazyFrame, incidents: pl.LazyFrame, *, pre_s: float = 3.0, post_s: float = 3.0
) -> pl.LazyFrame:
    """What to cut: one window per lap (``lap``, ``t_start_s``, ``t_end_s``; kind ``lap``) and one per incident
    (``kind``, ``lap``, ``t_s``, ``t_end_s``; kind ``incident:<kind>``), incidents padded by ``pre_s`` /
    ``post_s`` seconds. Output: ``clip_id`` (from 1, in time order), ``kind``, ``lap``, ``t_start_s``, ``t_end_s``."""
    lap_windows = laps.select(
        pl.lit("lap").alias("kind"), pl.col("lap").cast(pl.Int32), pl.col("t_start_s"), pl.col("t_end_s")
    )
    incident_windows = incidents.select(
        pl.concat_str(pl.lit("incident:"), pl.col("kind")).alias("kind"),
        pl.col("lap").cast(pl.Int32),
        (pl.col("t_s") - pre_s).alias("t_start_s"),
        (pl.col("t_end_s") + post_s).alias("t_end_s"),
    )
    return (
        pl.concat([lap_windows, incident_windows])
        .sort("t_start_s", "kind")
        .with_columns(pl.int_range(1, pl.len() + 1, dtype=pl.Int32).alias("clip_id"))
        .select("clip_id", "kind", "lap", "t_start_s", "t_end_s")
    )


def video_clips(timeline: pl.LazyFrame, windows: pl.LazyFrame) -> pl.LazyFrame:
    """The cut list (:data:`CLIP_COLUMNS`): for each window, one clip per video file its time span touches,
    from the first to the last timeline point inside the window (``start_ms``, ``end_ms`` into that file).
    Windows with no video get no clip. Requires a timeline (``t_s``, ``video_file``, ``video_t_ms``) and
    :func:`clip_windows` output."""
    inside = timeline.select("t_s", "video_file", "video_t_ms").join_where(
        windows, pl.col("t_s") >= pl.col("t_start_s"), pl.col("t_s") <= pl.col("t_end_s")
    )
    return (
        inside.group_by("clip_id", "video_file")
        .agg(
            pl.col("kind").first(),
            pl.col("lap").first(),
            pl.col("video_t_ms").min().alias("start_ms"),
            pl.col("video_t_ms").max().alias("end_ms"),
            pl.col("t_s").min().alias("t_start_s"),
            pl.col("t_s").max().alias("t_end_s"),
        )
        .with_columns((pl.col("end_ms") - pl.col("start_ms")).alias("duration_ms"))
        .select(list(CLIP_COLUMNS))
        .cast(CLIP_COLUMNS)  # type: ignore[arg-type]
        .sort("clip_id", "t_start_s")
    )
