"""Which signals a session has, how good they are, and which coaches they make possible (pure, lazy).

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

_KEYS = ["session_id", "signal_name"]


def _requirements() -> pl.LazyFrame:
    rows = [
        (coach, group, name)
        for coach, groups in COACH_REQUIREMENTS.items()
        for group, names in enumerate(groups)
        for name in names
    ]
    return pl.LazyFrame(
        rows, schema={"coach": pl.String(), "group": pl.Int64(), "signal_name": pl.String()}, orient="row"
    )


def _tall_samples(telemetry: pl.LazyFrame, signals: pl.LazyFrame) -> pl.LazyFrame:
    """Wide canonical columns unpivoted and stacked on the tall signals: session_id, signal_name, t_s, value."""
    names = [
        name
        for name in telemetry.collect_schema().names()
        if name in schema.TELEMETRY and name not in BOOKKEEPING
    ]
    wide = telemetry.select(
        "session_id", pl.col("t_s").cast(pl.Float64), *[pl.col(name).cast(pl.Float64) for name in names]
    ).unpivot(on=names, index=["session_id", "t_s"], variable_name="signal_name", value_name="value")
    columns = ["session_id", "signal_name", "t_s", "value"]
    return pl.concat(
        [
            wide.select(columns).cast({"value": pl.Float64}),
            signals.select(columns).cast({"t_s": pl.Float64, "value": pl.Float64}),
        ]
    ).drop_nulls(["t_s", "value"])


def capabilities_frame(telemetry: pl.LazyFrame, signals: pl.LazyFrame) -> pl.LazyFrame:
    """Per (session, signal): sample count, mean rate, useful flag and enabled coaches.

    ``telemetry``: wide frames with ``session_id``, ``t_s`` (s) and any canonical columns
    (:data:`pitwall.schema.TELEMETRY`); other columns are ignored. ``signals``: tall rows ``session_id``,
    ``signal_name``, ``t_s`` (s), ``value``. Null values are not samples, so an all-null column is no signal.

    Returns :data:`pitwall.schema.CAPABILITIES` columns sorted by session and signal: ``n_samples`` non-null
    samples; ``mean_hz`` = (n − 1) / (last t_s − first t_s), 0 when fewer than two samples or no time span;
    ``useful`` = mean_hz ≥ :data:`MIN_USEFUL_HZ` and non-zero variance; ``coaches`` as in the module docs.
    """
    span = pl.col("t_max") - pl.col("t_min")
    stats = (
        _tall_samples(telemetry, signals)
        .group_by(_KEYS)
        .agg(
            n_samples=pl.len().cast(pl.Int64),
            t_min=pl.col("t_s").min(),
            t_max=pl.col("t_s").max(),
            variance=pl.col("value").var(),
        )
        .with_columns(
            mean_hz=pl.when((pl.col("n_samples") >= 2) & (span > 0))
            .then((pl.col("n_samples") - 1) / span)
            .otherwise(0.0)
        )
        .with_columns(
            useful=((pl.col("mean_hz") >= MIN_USEFUL_HZ) & (pl.col("variance") > 0)).fill_null(value=False)
        )
    )
    requirements = _requirements()
    useful = stats.filter(pl.col("useful")).select(_KEYS).join(requirements, on="signal_name")
    groups_needed = requirements.group_by("coach").agg(needed=pl.col("group").n_unique())
    enabled = (
        useful.group_by("session_id", "coach")
        .agg(met=pl.col("group").n_unique())
        .join(groups_needed, on="coach")
        .filter(pl.col("met") == pl.col("needed"))
        .select("session_id", "coach")
    )
    coaches = (
        useful.join(enabled, on=["session_id", "coach"], how="semi")
        .group_by(_KEYS)
        .agg(coaches=pl.col("coach").unique().sort().str.join(","))
    )
    return (
        stats.join(coaches, on=_KEYS, how="left")
        .with_columns(pl.col("coaches").fill_null(""))
        .select([pl.col(name).cast(dtype) for name, dtype in schema.CAPABILITIES.items()])
        .sort(_KEYS)
    )
