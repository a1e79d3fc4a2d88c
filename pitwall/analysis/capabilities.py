"""Which signals a session has, how good they are, and which coaches they make possible (pure).

A signal is *useful* when it is sampled at :data:`MIN_USEFUL_HZ` or faster and actually varies. A coach is
*enabled* when every one of its requirement groups (:data:`COACH_REQUIREMENTS`) has at least one useful
signal; each useful signal then lists, in ``coaches``, the enabled coaches it takes part in (comma-separated,
alphabetical; ``""`` for none). Mapping (groups are AND-ed, names inside a group OR-ed):

====================  =====================================================
coach                 needs
====================  =====================================================
laps                  speed_kph
corners               speed_kph, lat_deg, lon_deg
map                   lat_deg, lon_deg
pedal_behavior        throttle_pct, brake_bar | brake_pct
hustle_map            throttle_pct
braking               brake_bar | brake_pct
trail_brake           brake_bar | brake_pct, steering_deg | g_lat
friction_circle       g_lat, g_long
steering              steering_deg
shift_points          rpm
video_sync            video_t_ms
====================  =====================================================
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from typing import Final

import polars as pl

from pitwall import schema


def not_logged_expr(names: Sequence[str], present: Collection[str]) -> pl.Expr:
    """Scalar list of the ``names`` with no value in the frame: absent from its columns (``present``) or all
    null — the channels a route reports as "not logged" (never as 0). Alias ``not_logged``."""
    return (
        pl.concat_list(
            [
                (
                    pl.when(pl.col(name).is_null().all()).then(pl.lit(name))
                    if name in present
                    else pl.lit(name)
                ).cast(pl.String)
                for name in names
            ]
        )
        .list.drop_nulls()
        .alias("not_logged")
    )


MIN_USEFUL_HZ: Final = 1.0
"""Slowest mean sample rate, Hz, at which a signal can drive analysis."""

BOOKKEEPING: Final = ("session_id", "frame_idx", "t_s", "utc")
"""Wide columns that index samples rather than measure anything; never listed as signals."""

COACH_REQUIREMENTS: Final[dict[str, tuple[tuple[str, ...], ...]]] = {
    "laps": (("speed_kph",),),
    "corners": (("speed_kph",), ("lat_deg",), ("lon_deg",)),
    "map": (("lat_deg",), ("lon_deg",)),
    "pedal_behavior": (("throttle_pct",), ("brake_bar", "brake_pct")),
    "hustle_map": (("throttle_pct",),),
    "braking": (("brake_bar", "brake_pct"),),
    "trail_brake": (("brake_bar", "brake_pct"), ("steering_deg", "g_lat")),
    "friction_circle": (("g_lat",), ("g_long",)),
    "steering": (("steering_deg",),),
    "shift_points": (("rpm",),),
    "video_sync": (("video_t_ms",),),
}
"""Per coach, the signal groups it needs: every group must contain at least one useful signal."""


def _requirements() -> pl.LazyFrame:
    """:data:`COACH_REQUIREMENTS` as rows (``coach``, ``group`` index, ``signal_name``)."""
    rows = [
        (coach, group, name)
        for coach, groups in COACH_REQUIREMENTS.items()
        for group, names in enumerate(groups)
        for name in names
    ]
    return pl.LazyFrame(
        rows, schema={"coach": pl.String(), "group": pl.Int64(), "signal_name": pl.String()}, orient="row"
    )


_STATS: Final[dict[str, pl.DataType]] = {
    "signal_name": pl.String(),
    "n_samples": pl.Int64(),
    "t_min": pl.Float64(),
    "t_max": pl.Float64(),
    "v_min": pl.Float64(),
    "v_max": pl.Float64(),
}
"""Columns of :func:`_sample_stats`."""


def _sampled(value: pl.Expr) -> list[pl.Expr]:
    """Aggregations of one signal's numeric ``value`` against ``t_s`` (s), a sample being a non-null value at
    a non-null time: ``n_samples``; ``t_min``, ``t_max``, the first and last sample time (s); ``v_min``,
    ``v_max``, the smallest and largest sampled value (Float64: cast after the aggregation, which gives the same
    number as casting first — the cast keeps the order — without a Float64 copy of an integer column)."""
    t_s = pl.col("t_s").cast(pl.Float64)
    sampled = value.is_not_null() & t_s.is_not_null()
    return [
        sampled.sum().cast(pl.Int64).alias("n_samples"),
        t_s.filter(sampled).min().alias("t_min"),
        t_s.filter(sampled).max().alias("t_max"),
        value.filter(sampled).min().cast(pl.Float64).alias("v_min"),
        value.filter(sampled).max().cast(pl.Float64).alias("v_max"),
    ]


def _sample_stats(telemetry: pl.DataFrame, signals: schema.TallSink) -> pl.LazyFrame:
    """:data:`_STATS` per signal with at least one sample. Wide canonical columns are aggregated column by
    column (no tall copy of the wide table: its unpivot was the largest allocation of an import), the tall
    ``signals`` name by name on each name's rows (:func:`pitwall.schema.signal_runs`: slices of the rows as
    they come from a reader, not a group-by over all of them with a session id on every row, which took
    ~15 MB at once for an hour's 576,000 rows)."""
    names = [name for name in telemetry.columns if name in schema.TELEMETRY and name not in BOOKKEEPING]
    parts = [pl.LazyFrame(schema=_STATS)]
    if names:
        wide = telemetry.lazy().select(pl.struct(_sampled(pl.col(name))).alias(name) for name in names)
        parts.append(wide.unpivot(on=names, variable_name="signal_name", value_name="s").unnest("s"))
    parts.extend(
        rows.lazy().select(pl.lit(name, pl.String()).alias("signal_name"), *_sampled(pl.col("value")))
        for name, rows in schema.signal_runs(signals)
    )
    return pl.concat(parts).filter(pl.col("n_samples") > 0)


def capabilities_frame(session_id: str, telemetry: pl.DataFrame, signals: schema.TallSink) -> pl.LazyFrame:
    """One session's signals: sample count, mean rate, useful flag and enabled coaches (lazy).

    ``telemetry``: wide frames with ``t_s`` (s) and any canonical columns (:data:`pitwall.schema.TELEMETRY`);
    other columns (``session_id`` among them) are ignored. ``signals``: tall rows ``signal_name``, ``t_s`` (s),
    ``value``, or channels that stand for them (:class:`pitwall.schema.SignalChannels`). Null values are not
    samples, so an all-null column is no signal.

    Returns :data:`pitwall.schema.CAPABILITIES` columns (``session_id`` set to ``session_id``) sorted by
    signal: ``n_samples`` non-null samples; ``mean_hz`` = (n − 1) / (last t_s − first t_s), 0 when fewer than
    two samples or no time span; ``useful`` = mean_hz ≥ :data:`MIN_USEFUL_HZ` and values that vary (the largest
    above the smallest: exact, where a computed variance of a constant channel can come out as 1e-33 instead
    of 0); ``coaches`` as in the module docs.
    """
    span = pl.col("t_max") - pl.col("t_min")
    stats = (
        _sample_stats(telemetry, signals)
        .with_columns(
            mean_hz=pl.when((pl.col("n_samples") >= 2) & (span > 0))
            .then((pl.col("n_samples") - 1) / span)
            .otherwise(0.0)
        )
        .with_columns(
            useful=((pl.col("mean_hz") >= MIN_USEFUL_HZ) & (pl.col("v_max") > pl.col("v_min"))).fill_null(
                value=False
            )
        )
        .cache()
    )
    requirements = _requirements()
    useful = stats.filter(pl.col("useful")).select("signal_name").join(requirements, on="signal_name")
    needed = requirements.group_by("coach").agg(needed=pl.col("group").n_unique())
    enabled = (
        useful.group_by("coach")
        .agg(met=pl.col("group").n_unique())
        .join(needed, on="coach")
        .filter(pl.col("met") == pl.col("needed"))
        .select("coach")
    )
    coaches = (
        useful.join(enabled, on="coach", how="semi")
        .group_by("signal_name")
        .agg(coaches=pl.col("coach").unique().sort().str.join(","))
    )
    return (
        stats.join(coaches, on="signal_name", how="left")
        .with_columns(pl.col("coaches").fill_null(""), session_id=pl.lit(session_id))
        .select([pl.col(name).cast(dtype) for name, dtype in schema.CAPABILITIES.items()])
        .sort("signal_name")
    )
