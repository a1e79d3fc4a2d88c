"""Per-corner passes, their metrics, corner summaries with A–F grades, and speed bands (pure Polars).

A *pass* is one lap's trip through one corner's window ``[s_entry_m − approach_m, s_exit_m + exit_m]`` on the
track coordinate. Windows may reach across the start/finish line: rows are placed on a pass coordinate
``u_m`` (``s_m`` continued past the line, see :func:`slice_track_windows`), and a pass is counted in the lap
whose samples cover the window's part in ``[0, length_m)`` — for a corner, the lap in which it is driven.

Pass metrics (one row per lap × corner; speeds km/h, positions metres of ``s_m``, times seconds):

* ``entry_speed_kph`` / ``exit_speed_kph`` — speed at ``s_entry_m`` / ``s_exit_m``, interpolated between the
  two samples either side; ``t_entry_s``, ``t_exit_s`` likewise; ``corner_time_s = t_exit_s − t_entry_s``;
* ``min_speed_kph`` and where it happens (``min_speed_s_m``) between entry and exit;
* ``brake_point_s_m`` — first brake *onset* (off → on) between ``brake_from_m`` (the later of
  ``s_entry_m − approach_m`` and the previous corner's apex) and the apex; null when the driver did not brake;
* ``brake_release_s_m`` — end of braking: the last on → off transition after the brake point, before the exit;
* ``max_decel_g`` — largest deceleration (g, positive) from ``brake_from_m`` to the apex;
* ``throttle_pickup_s_m`` — first sample after the end of braking (after the entry when there was no braking)
  with ``throttle_pct ≥ pickup_th``;
* ``exit_accel_g`` — mean ``g_long`` (g) from the minimum-speed point to the end of the window.

A pass is kept only when samples exist on both sides of the entry and of the exit (complete coverage).

Grades (:func:`grade_expr`) compare a corner's mean pass time with a reference time: the physics-model lap's
(``data/reference/<track>_model.json``, produced by ``pipelines/build_reference.py`` from the simulator's physics
profile — a model, not a lap anyone drove) or a real reference lap when one is given, else the session's best
pass of that corner — then the grade measures consistency. A lap is never graded against itself: a corner with
a single pass and no reference has no grade ("no reference").
"""

from __future__ import annotations

from typing import Final

import polars as pl

from pitwall.analysis.boxstats import tukey_box
from pitwall.analysis.pedals import brake_on_expr
from pitwall.track import Track

MIN_PASSES_FOR_SESSION_BEST: Final = 2
"""Passes a corner needs before its session-best pass can be a reference: with one pass, the "reference" would
be the pass itself."""

GRADE_BANDS: Final = (("A", 2.0), ("B", 5.0), ("C", 10.0), ("D", 20.0))
"""(grade, upper bound of "percent slower than the reference"); anything slower is ``F``."""

GRADE_POINTS: Final = {"A": 4.0, "B": 3.0, "C": 2.0, "D": 1.0, "F": 0.0}
"""Grade-point value of each letter (used to average grades)."""

PASS_COLUMNS: Final[dict[str, pl.DataType]] = {
    "lap": pl.Int32(),
    "corner": pl.String(),
    "corner_idx": pl.Int32(),
    "t_entry_s": pl.Float64(),
    "t_exit_s": pl.Float64(),
    "corner_time_s": pl.Float64(),
    "entry_speed_kph": pl.Float64(),
    "min_speed_kph": pl.Float64(),
    "min_speed_s_m": pl.Float64(),
    "min_speed_t_s": pl.Float64(),
    "exit_speed_kph": pl.Float64(),
    "brake_point_s_m": pl.Float64(),
    "brake_release_s_m": pl.Float64(),
    "max_decel_g": pl.Float64(),
    "throttle_pickup_s_m": pl.Float64(),
    "exit_accel_g": pl.Float64(),
}
"""Output columns of :func:`corner_passes`."""


def corner_windows(track: Track, *, approach_m: float = 200.0, exit_m: float = 50.0) -> pl.DataFrame:
    """The track's corners as a small table of pass windows (metres of ``s_m``, continued past the line).

    Columns: ``corner`` (turn label), ``corner_name``, ``direction``, ``corner_idx`` (order along the lap),
    ``s_entry_m``, ``s_apex_m``, ``s_exit_m`` (apex/exit continued by ``length_m`` when a corner spans the line),
    ``brake_from_m``, ``win_start_m``, ``win_end_m``.
    """
    length = track.length_m
    rows: list[dict[str, object]] = []
    corners = sorted(track.corners, key=lambda c: c.s_entry_m)
    for idx, c in enumerate(corners):
        apex = c.s_apex_m + (length if c.s_apex_m < c.s_entry_m else 0.0)
        exit_ = c.s_exit_m + (length if c.s_exit_m < c.s_entry_m else 0.0)
        prev = corners[idx - 1]
        prev_apex = prev.s_apex_m + (length if prev.s_apex_m < prev.s_entry_m else 0.0)
        if idx == 0:
            prev_apex -= length
        rows.append(
            {
                "corner": c.number,
                "corner_name": c.name,
                "direction": c.direction,
                "corner_idx": idx,
                "s_entry_m": c.s_entry_m,
                "s_apex_m": apex,
                "s_exit_m": exit_,
                "brake_from_m": max(c.s_entry_m - approach_m, prev_apex),
                "win_start_m": c.s_entry_m - approach_m,
                "win_end_m": exit_ + exit_m,
            }
        )
    schema = {
        "corner": pl.String,
        "corner_name": pl.String,
        "direction": pl.String,
        "corner_idx": pl.Int32,
        "s_entry_m": pl.Float64,
        "s_apex_m": pl.Float64,
        "s_exit_m": pl.Float64,
        "brake_from_m": pl.Float64,
        "win_start_m": pl.Float64,
        "win_end_m": pl.Float64,
    }
    return pl.DataFrame(rows, schema=schema)


def add_lap_position(lf: pl.LazyFrame, *, length_m: float) -> pl.LazyFrame:
    """Add ``s_lap_m``: ``s_m`` made continuous within each lap.

    Projection jitter at the start line can give the first samples of a lap ``s_m`` ≈ ``length_m`` (and the
    last ones ``s_m`` ≈ 0); those become ``s_m − length_m`` (resp. ``+ length_m``). A sample is "early" /
    "late" in its lap by its time fraction of the lap's span. Requires ``t_s``, ``s_m`` (m), ``lap``.
    """
    t0 = pl.col("t_s").min().over("lap")
    span = pl.col("t_s").max().over("lap") - t0
    frac = (pl.col("t_s") - t0) / span
    s = pl.col("s_m")
    s_lap = (
        pl.when((s > 0.75 * length_m) & (frac < 0.25))
        .then(s - length_m)
        .when((s < 0.25 * length_m) & (frac > 0.75))
        .then(s + length_m)
        .otherwise(s)
    )
    return lf.with_columns(s_lap.alias("s_lap_m"))


def slice_track_windows(lf: pl.LazyFrame, windows: pl.DataFrame, *, length_m: float) -> pl.LazyFrame:
    """Rows of ``lf`` inside each window of ``windows`` (``win_start_m``, ``win_end_m`` on the pass coordinate).

    Adds ``u_m`` (pass coordinate: ``s_lap_m``, or ``s_lap_m ∓ length_m`` for the parts of windows beyond the
    line) and ``pass_lap`` (the lap the pass is counted in: the lap of the samples at ``0 ≤ u_m < length_m``),
    plus every column of ``windows``. A row may fall in several overlapping windows. Row order is not
    defined (aggregate with order-free expressions). Requires ``t_s``, ``s_m``, ``lap`` (see
    :func:`add_lap_position`).
    """
    rows = add_lap_position(
        lf.filter(pl.col("s_m").is_not_null() & pl.col("lap").is_not_null()), length_m=length_m
    )
    lap = pl.col("lap").cast(pl.Int32)
    parts = [rows.with_columns(pl.col("s_lap_m").alias("u_m"), lap.alias("pass_lap"))]
    lo = float(windows["win_start_m"].min()) if windows.height else 0.0  # type: ignore[arg-type]
    hi = float(windows["win_end_m"].max()) if windows.height else 0.0  # type: ignore[arg-type]
    if lo < 0:
        parts.append(
            rows.filter(pl.col("s_lap_m") >= length_m + lo).with_columns(
                (pl.col("s_lap_m") - length_m).alias("u_m"), (lap + 1).alias("pass_lap")
            )
        )
    if hi > length_m:
        parts.append(
            rows.filter(pl.col("s_lap_m") <= hi - length_m).with_columns(
                (pl.col("s_lap_m") + length_m).alias("u_m"), (lap - 1).alias("pass_lap")
            )
        )
    return pl.concat(parts).join_where(
        windows.lazy(), pl.col("u_m") >= pl.col("win_start_m"), pl.col("u_m") <= pl.col("win_end_m")
    )


def corner_passes(
    lf: pl.LazyFrame,
    track: Track,
    *,
    approach_m: float = 200.0,
    exit_m: float = 50.0,
    brake_th: float | None = None,
    decel_g: float = 0.3,
    pickup_th: float = 20.0,
) -> pl.LazyFrame:
    """One row per (lap, corner) pass with the metrics of the module doc (:data:`PASS_COLUMNS`).

    Requires ``t_s`` (s, ordered), ``s_m`` (m), ``lap``, ``speed_kph``, ``throttle_pct`` (%), ``g_long`` (g;
    measured or derived) and ``brake_bar``/``brake_pct``; without any brake channel, a deceleration beyond
    ``decel_g`` marks braking (see :func:`pitwall.analysis.pedals.brake_on_expr`). ``brake_th`` in bar (or %
    for ``brake_pct``), ``pickup_th`` in %. Output sorted by lap, corner order; positions are ``s_m`` values
    in [0, length).
    """
    length = track.length_m
    windows = corner_windows(track, approach_m=approach_m, exit_m=exit_m)
    brake = pl.col("_brake")
    flagged = (
        lf.with_columns(brake_on_expr(brake_th=brake_th, decel_g=decel_g).alias("_brake"))
        .with_columns(
            (brake & ~brake.shift(1).fill_null(False)).alias("_onset"),
            (brake & ~brake.shift(-1).fill_null(False)).alias("_release"),
        )
        .select("t_s", "s_m", "lap", "speed_kph", "throttle_pct", "g_long", "_onset", "_release")
    )
    keys = ["pass_lap", "corner"]
    u, t = pl.col("u_m"), pl.col("t_s")
    entry, apex, exit_ = pl.col("s_entry_m"), pl.col("s_apex_m"), pl.col("s_exit_m")
    in_corner = (u >= entry) & (u <= exit_)
    approach = (u >= pl.col("brake_from_m")) & (u <= apex)
    # Row-wise masks first (vectorised), so the per-pass aggregations are plain min/max/arg-min.
    rows = slice_track_windows(flagged, windows, length_m=length).with_columns(
        pl.when(in_corner).then(pl.col("speed_kph")).alias("_v_in"),
        pl.when(approach & pl.col("_onset")).then(u).alias("_u_onset"),
        pl.when(pl.col("_release") & (u <= exit_)).then(u).alias("_u_release"),
        pl.when(approach).then(pl.col("g_long")).alias("_g_approach"),
        pl.when(u < entry).then(u).alias("_u_before_entry"),
        pl.when(u >= entry).then(u).alias("_u_after_entry"),
        pl.when(u < exit_).then(u).alias("_u_before_exit"),
        pl.when(u >= exit_).then(u).alias("_u_after_exit"),
    )

    def at(column: str, before: str, after: str, position: pl.Expr) -> pl.Expr:
        """``column`` interpolated at ``position`` between the nearest samples before and after it."""
        u_a, u_b = pl.col(before).max(), pl.col(after).min()
        y_a, y_b = pl.col(column).get(pl.col(before).arg_max()), pl.col(column).get(pl.col(after).arg_min())
        return pl.when(u_b > u_a).then(y_a + (position - u_a) / (u_b - u_a) * (y_b - y_a)).otherwise(y_b)

    at_min = pl.col("_v_in").arg_min()
    first = (
        rows.group_by(keys)
        .agg(
            pl.col("corner_idx", "s_entry_m", "s_exit_m").first(),
            ((u.min() <= entry.first()) & (u.max() >= exit_.first())).alias("_covered"),
            at("t_s", "_u_before_entry", "_u_after_entry", entry.first()).alias("t_entry_s"),
            at("t_s", "_u_before_exit", "_u_after_exit", exit_.first()).alias("t_exit_s"),
            at("speed_kph", "_u_before_entry", "_u_after_entry", entry.first()).alias("entry_speed_kph"),
            at("speed_kph", "_u_before_exit", "_u_after_exit", exit_.first()).alias("exit_speed_kph"),
            pl.col("_v_in").min().alias("min_speed_kph"),
            u.get(at_min).alias("min_speed_u"),
            t.get(at_min).alias("min_speed_t_s"),
            pl.col("_u_onset").min().alias("brake_u"),
            pl.col("_u_release").max().alias("_last_release_u"),
            (-pl.col("_g_approach").min()).clip(lower_bound=0.0).alias("max_decel_g"),
        )
        .filter(pl.col("_covered"))
    )
    # The end of braking only counts after this corner's brake onset.
    first = first.with_columns(
        pl.when(pl.col("_last_release_u") >= pl.col("brake_u"))
        .then(pl.col("_last_release_u"))
        .alias("release_u")
    )
    after_braking = pl.coalesce("release_u", "s_entry_m")
    second = (
        rows.select(*keys, "u_m", "throttle_pct", "g_long")
        .join(first.select(*keys, "release_u", "s_entry_m", "min_speed_u"), on=keys, how="inner")
        .group_by(keys)
        .agg(
            pl.when((pl.col("throttle_pct") >= pickup_th) & (u >= after_braking))
            .then(u)
            .min()
            .alias("pickup_u"),
            pl.when(u >= pl.col("min_speed_u")).then(pl.col("g_long")).mean().alias("exit_accel_g"),
        )
    )
    return (
        first.join(second, on=keys, how="left")
        .select(
            pl.col("pass_lap").alias("lap"),
            "corner",
            "corner_idx",
            "t_entry_s",
            "t_exit_s",
            (pl.col("t_exit_s") - pl.col("t_entry_s")).alias("corner_time_s"),
            "entry_speed_kph",
            "min_speed_kph",
            (pl.col("min_speed_u") % length).alias("min_speed_s_m"),
            "min_speed_t_s",
            "exit_speed_kph",
            (pl.col("brake_u") % length).alias("brake_point_s_m"),
            (pl.col("release_u") % length).alias("brake_release_s_m"),
            "max_decel_g",
            (pl.col("pickup_u") % length).alias("throttle_pickup_s_m"),
            "exit_accel_g",
        )
        .cast(PASS_COLUMNS)  # type: ignore[arg-type]
        .sort("lap", "corner_idx")
    )


REFERENCE_COLUMNS: Final[dict[str, pl.DataType]] = {
    "corner": pl.String(),
    "ref_time_s": pl.Float64(),
    "ref_entry_speed_kph": pl.Float64(),
    "ref_min_speed_kph": pl.Float64(),
    "ref_exit_speed_kph": pl.Float64(),
    "ref_brake_point_s_m": pl.Float64(),
}
"""A per-corner reference (a model lap or a real reference lap): what :func:`corner_summary` compares passes with."""


def reference_from_passes(passes: pl.LazyFrame) -> pl.LazyFrame:
    """A per-corner reference (:data:`REFERENCE_COLUMNS`) from the fastest pass of each corner in ``passes``
    (e.g. the single lap of a physics profile). Requires :data:`PASS_COLUMNS`."""
    best = passes.sort("corner_time_s").group_by("corner", maintain_order=True).first()
    return best.select(
        "corner",
        pl.col("corner_time_s").alias("ref_time_s"),
        pl.col("entry_speed_kph").alias("ref_entry_speed_kph"),
        pl.col("min_speed_kph").alias("ref_min_speed_kph"),
        pl.col("exit_speed_kph").alias("ref_exit_speed_kph"),
        pl.col("brake_point_s_m").alias("ref_brake_point_s_m"),
    ).cast(REFERENCE_COLUMNS)  # type: ignore[arg-type]


def grade_expr(pct_slower: pl.Expr) -> pl.Expr:
    """A–F letter from "percent slower than the reference" (:data:`GRADE_BANDS`; null stays null)."""
    grade: pl.Expr = pl.lit("F")
    for letter, upper in reversed(GRADE_BANDS):
        grade = pl.when(pct_slower < upper).then(pl.lit(letter)).otherwise(grade)
    return pl.when(pct_slower.is_null()).then(pl.lit(None, dtype=pl.String)).otherwise(grade)


def corner_summary(
    passes: pl.LazyFrame,
    track: Track,
    *,
    reference: pl.LazyFrame | None = None,
    reference_label: str = "reference_lap",
) -> pl.LazyFrame:
    """Per corner: best pass, means over all passes, reference, delta and A–F grade.

    ``passes`` has :data:`PASS_COLUMNS` (from :func:`corner_passes`). ``reference`` has
    :data:`REFERENCE_COLUMNS` (a physics-model lap, or a real lap chosen as the reference) and is reported as
    ``reference_source`` = ``reference_label``; corners it lacks — or all corners, when it is ``None`` — are
    compared with the session's best pass (``reference_source`` "session_best") when they have at least two
    passes. A corner with a single pass and no reference has nothing to be graded against but itself:
    ``reference_source`` "none", and reference, deltas and grade are null ("no reference", never an "A").

    Output per corner, in lap order: ``corner``, ``corner_name``, ``direction``, ``corner_idx``, ``n_passes``,
    ``best_lap``, ``best_time_s``, ``best_entry_speed_kph``, ``best_min_speed_kph``, ``best_exit_speed_kph``,
    ``best_brake_point_s_m``, ``mean_time_s``, ``std_time_s``, ``mean_entry_speed_kph``,
    ``mean_min_speed_kph``, ``mean_exit_speed_kph``, ``mean_brake_point_s_m``, ``ref_time_s``,
    ``ref_min_speed_kph``, ``reference_source``, ``delta_to_reference_s`` (mean − reference),
    ``best_delta_to_reference_s`` (best − reference), ``pct_slower`` (100 × mean delta / reference, %),
    ``grade``.
    """

    def best(column: str) -> pl.Expr:
        return pl.col(column).sort_by("corner_time_s").first()

    summary = passes.group_by("corner").agg(
        pl.col("corner_idx").first(),
        pl.len().cast(pl.Int32).alias("n_passes"),
        best("lap").alias("best_lap"),
        pl.col("corner_time_s").min().alias("best_time_s"),
        best("entry_speed_kph").alias("best_entry_speed_kph"),
        best("min_speed_kph").alias("best_min_speed_kph"),
        best("exit_speed_kph").alias("best_exit_speed_kph"),
        best("brake_point_s_m").alias("best_brake_point_s_m"),
        pl.col("corner_time_s").mean().alias("mean_time_s"),
        pl.col("corner_time_s").std().alias("std_time_s"),
        pl.col("entry_speed_kph").mean().alias("mean_entry_speed_kph"),
        pl.col("min_speed_kph").mean().alias("mean_min_speed_kph"),
        pl.col("exit_speed_kph").mean().alias("mean_exit_speed_kph"),
        pl.col("brake_point_s_m").mean().alias("mean_brake_point_s_m"),
    )
    if reference is None:
        reference = pl.LazyFrame(schema=REFERENCE_COLUMNS)
    given = reference.select("corner", "ref_time_s", "ref_min_speed_kph")
    names = corner_windows(track).lazy().select("corner", "corner_name", "direction")
    has_reference = pl.col("ref_time_s").is_not_null()
    own_best = pl.col("n_passes") >= MIN_PASSES_FOR_SESSION_BEST
    delta = pl.col("mean_time_s") - pl.col("ref_time_s")
    return (
        summary.join(names, on="corner", how="left")
        .join(given, on="corner", how="left")
        .with_columns(
            pl.when(has_reference)
            .then(pl.lit(reference_label))
            .when(own_best)
            .then(pl.lit("session_best"))
            .otherwise(pl.lit("none"))
            .alias("reference_source"),
            pl.when(has_reference | ~own_best)
            .then(pl.col("ref_time_s"))
            .otherwise(pl.col("best_time_s"))
            .alias("ref_time_s"),
            pl.when(has_reference | ~own_best)
            .then(pl.col("ref_min_speed_kph"))
            .otherwise(pl.col("best_min_speed_kph"))
            .alias("ref_min_speed_kph"),
        )
        .with_columns(
            delta.alias("delta_to_reference_s"),
            (pl.col("best_time_s") - pl.col("ref_time_s")).alias("best_delta_to_reference_s"),
            (100.0 * delta / pl.col("ref_time_s")).alias("pct_slower"),
        )
        .with_columns(grade_expr(pl.col("pct_slower")).alias("grade"))
        .select(
            "corner",
            "corner_name",
            "direction",
            "corner_idx",
            "n_passes",
            "best_lap",
            "best_time_s",
            "best_entry_speed_kph",
            "best_min_speed_kph",
            "best_exit_speed_kph",
            "best_brake_point_s_m",
            "mean_time_s",
            "std_time_s",
            "mean_entry_speed_kph",
            "mean_min_speed_kph",
            "mean_exit_speed_kph",
            "mean_brake_point_s_m",
            "ref_time_s",
            "ref_min_speed_kph",
            "reference_source",
            "delta_to_reference_s",
            "best_delta_to_reference_s",
            "pct_slower",
            "grade",
        )
        .sort("corner_idx")
    )


def classify_corners(
    summary: pl.LazyFrame, *, low_max_kph: float = 80.0, med_max_kph: float = 130.0
) -> pl.LazyFrame:
    """Speed band per corner from its mean minimum speed: ``low`` (≤ ``low_max_kph``), ``medium``
    (≤ ``med_max_kph``), ``high`` (above). Requires ``corner``, ``corner_idx``, ``mean_min_speed_kph`` (from
    :func:`corner_summary`). Output: ``corner``, ``corner_idx``, ``mean_min_speed_kph``, ``band``.
    """
    v = pl.col("mean_min_speed_kph")
    band = (
        pl.when(v <= low_max_kph)
        .then(pl.lit("low"))
        .when(v <= med_max_kph)
        .then(pl.lit("medium"))
        .otherwise(pl.lit("high"))
    )
    return summary.select("corner", "corner_idx", "mean_min_speed_kph", band.alias("band")).sort("corner_idx")


def add_corner_column(lf: pl.LazyFrame, track: Track) -> pl.LazyFrame:
    """Add ``corner`` (turn label, null outside corners): the corner whose ``[s_entry_m, s_exit_m]`` contains
    the sample's ``s_m`` (corners spanning the start line included). Requires ``s_m`` (m)."""
    spans = [(c.number, c.s_entry_m, c.s_exit_m) for c in sorted(track.corners, key=lambda c: c.s_entry_m)]
    s = pl.col("s_m")
    label: pl.Expr = pl.lit(None, dtype=pl.String)
    for number, lo, hi in reversed(spans):
        inside = (s >= lo) & (s <= hi) if hi >= lo else (s >= lo) | (s <= hi)
        label = pl.when(inside).then(pl.lit(number)).otherwise(label)
    return lf.with_columns(label.alias("corner"))


def throttle_corner_box(lf: pl.LazyFrame, track: Track) -> pl.LazyFrame:
    """Tukey box of ``throttle_pct`` (%) over the samples inside each corner (``s_entry_m``..``s_exit_m``).

    Output per corner with samples, in lap order: ``corner``, ``corner_idx`` and
    :data:`pitwall.analysis.boxstats.BOX_COLUMNS` (quartiles etc. in %). Requires ``s_m``, ``throttle_pct``.
    """
    order = corner_windows(track).lazy().select("corner", "corner_idx")
    tagged = add_corner_column(lf, track).filter(
        pl.col("corner").is_not_null() & pl.col("throttle_pct").is_not_null()
    )
    box = tukey_box(tagged, "throttle_pct", by=["corner"])
    return order.join(box, on="corner", how="inner").sort("corner_idx")
