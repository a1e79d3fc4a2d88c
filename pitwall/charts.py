"""Altair charts for the notebooks and the README: pure functions, Polars DataFrame in, Altair chart out.

Charts draw numbers computed elsewhere (``pitwall.analysis``, ``pitwall.session_view``); they only select,
reshape and label columns. Long traces are thinned *for display only* by :func:`downsample_trace`
(per x-bucket minimum and maximum of every plotted channel, so peaks and troughs survive), which also keeps
every chart under Altair's embedded-data limit. Units follow :mod:`pitwall.schema` (``_s`` seconds, ``_m``
metres, ``_kph`` km/h, ``_pct`` percent, ``_bar`` bar, g for accelerations).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path
from typing import Final

import altair as alt
import polars as pl

from pitwall.analysis.pedals import PEDAL_STATES

MAX_POINTS: Final = 2000
"""Default display budget of a single trace: rows it keeps after thinning."""

GROUP_POINTS: Final = 4000
"""Default display budget of a chart of several traces (laps, signals), over all of them; below Altair's
embedded-data limit of 5,000 rows."""

CHANNEL_TITLES: Final[dict[str, str]] = {
    "speed_kph": "speed (km/h)",
    "throttle_pct": "throttle (%)",
    "brake_bar": "brake (bar)",
    "brake_pct": "brake (%)",
    "g_lat": "lateral g (+ left)",
    "g_long": "longitudinal g (+ forward)",
    "g_combined": "combined g",
    "rpm": "rpm",
    "gear": "gear",
    "steering_deg": "steering (deg, + left)",
    "offset_m": "offset from line (m, + left)",
    "delta_s": "delta-T (s, + slower)",
    "best_time_s": "best pass (s)",
    "t_s": "time (s)",
    "s_m": "track position (m)",
}
"""Axis and legend titles of canonical channels (anything else is titled by its column name)."""

CHANNEL_SCHEMES: Final[dict[str, str]] = {
    "speed_kph": "turbo",
    "throttle_pct": "greens",
    "brake_bar": "reds",
    "brake_pct": "reds",
    "g_lat": "redblue",
    "g_long": "redblue",
    "g_combined": "viridis",
}
"""Vega colour schemes for a track map coloured by a channel (diverging for signed g)."""

PEDAL_COLOURS: Final[dict[str, str]] = {
    "throttle_only": "#2ca02c",
    "brake_only": "#d62728",
    "trail_brake": "#9467bd",
    "coast": "#c7c7c7",
}

_ROW: Final = "__row"
_BUCKET: Final = "__bucket"


def title_of(column: str) -> str:
    """The display title of a column (:data:`CHANNEL_TITLES`, else the column name)."""
    return CHANNEL_TITLES.get(column, column)


def downsample_trace(
    df: pl.DataFrame,
    *,
    x: str,
    y: Sequence[str],
    by: str | None = None,
    max_points: int = MAX_POINTS,
) -> pl.DataFrame:
    """Thin a trace (rows in ``x`` order) for display, keeping its extremes; rows keep their original order.

    The ``x`` range of each group (``by``, or the whole frame) is cut into equal-width buckets; a bucket keeps
    the row of the minimum and of the maximum of every ``y`` column, and each group keeps its first and last
    row. The result has at most ``max_points`` rows (groups share the budget equally; a group already within
    its share is kept whole), and every group's min and max of each ``y`` column and its ``x`` span are
    unchanged. Rows with a null ``x`` are dropped. Raises ``ValueError`` when the budget cannot hold one
    bucket per group.
    """
    if not y:
        raise ValueError("downsample_trace needs at least one y column")
    rows = df.filter(pl.col(x).is_not_null()).with_row_index(_ROW)
    keys = [by] if by else []
    groups = max(1, rows.select(pl.col(by).n_unique()).item() if by else 1)
    share = max_points // groups
    n_buckets = (share - 2) // (2 * len(y))
    if n_buckets < 1:
        raise ValueError(f"max_points={max_points} is too small for {groups} group(s) of {len(y)} channel(s)")
    lo, hi = pl.col(x).min(), pl.col(x).max()
    if keys:
        lo, hi = lo.over(keys), hi.over(keys)
    span = hi - lo
    bucket = (
        pl.when(span > 0)
        .then(((pl.col(x) - lo) / span * n_buckets).floor().clip(0, n_buckets - 1))
        .otherwise(0)
        .cast(pl.Int64)
    )
    size = pl.len().over(keys) if keys else pl.len()
    bucketed = rows.with_columns(bucket.alias(_BUCKET), (size <= share).alias("__whole"))
    picks = [
        pl.col(_ROW).filter(pl.col(c) == pl.col(c).min()).first().alias(f"__min_{i}") for i, c in enumerate(y)
    ] + [
        pl.col(_ROW).filter(pl.col(c) == pl.col(c).max()).first().alias(f"__max_{i}") for i, c in enumerate(y)
    ]
    per_bucket = bucketed.group_by([*keys, _BUCKET]).agg(picks).drop(*keys, _BUCKET)
    first_last = [pl.col(_ROW).first().alias("__first"), pl.col(_ROW).last().alias("__last")]
    ends = rows.group_by(keys).agg(first_last).drop(keys) if keys else rows.select(first_last)
    kept = pl.concat(
        [frame.unpivot().select(pl.col("value").alias(_ROW)) for frame in (per_bucket, ends)]
    ).drop_nulls()
    whole = bucketed.filter(pl.col("__whole")).select(_ROW)
    keep = pl.concat([kept.cast(rows.schema[_ROW]), whole]).unique()
    return rows.join(keep, on=_ROW, how="semi").sort(_ROW).drop(_ROW)


def _symmetric_domain(values: pl.Series, *, step: float = 0.5) -> list[float]:
    """``[-m, m]`` with ``m`` the largest absolute value rounded up to ``step`` (at least ``step``)."""
    peak = values.abs().max()
    m = max(step, math.ceil(float(peak) / step) * step) if isinstance(peak, int | float) else step
    return [-m, m]


def track_map(
    points: pl.DataFrame,
    *,
    channel: str,
    reference: pl.DataFrame | None = None,
    max_points: int = MAX_POINTS,
    size: int = 420,
) -> alt.LayerChart:
    """GPS fixes on a Mercator map, coloured by ``channel``, over the track's reference line.

    ``points``: ``t_s`` (s), ``lat_deg``, ``lon_deg`` (WGS84, east positive) and ``channel`` (``lap`` shown in
    the tooltip when present); thinned by :func:`downsample_trace` over ``t_s`` keeping the channel's extremes.
    ``reference``: ``s_m``, ``lat_deg``, ``lon_deg`` (e.g. ``pitwall.analysis.maps.reference_polyline``).
    """
    tooltip = [c for c in ("lap", "t_s", "s_m", channel) if c in points.columns]
    fixes = downsample_trace(
        points.select("lat_deg", "lon_deg", *tooltip).filter(
            pl.col("lat_deg").is_not_null() & pl.col("lon_deg").is_not_null() & pl.col(channel).is_not_null()
        ),
        x="t_s",
        y=[channel],
        max_points=max_points,
    )
    scheme = CHANNEL_SCHEMES.get(channel, "viridis")
    scale = (
        alt.Scale(scheme={"name": scheme}, domainMid=0.0)
        if scheme == "redblue"
        else alt.Scale(scheme={"name": scheme})
    )
    dots = (
        alt.Chart(fixes)
        .mark_circle(size=12, opacity=0.9)
        .encode(
            longitude="lon_deg:Q",
            latitude="lat_deg:Q",
            color=alt.Color(f"{channel}:Q", scale=scale, title=title_of(channel)),
            tooltip=tooltip,
        )
    )
    layers: list[alt.Chart] = []
    if reference is not None and reference.height:
        line = reference.select("s_m", "lat_deg", "lon_deg")
        layers.append(
            alt.Chart(line)
            .mark_line(color="#bbbbbb", strokeWidth=6, opacity=0.6)
            .encode(longitude="lon_deg:Q", latitude="lat_deg:Q", order="s_m:Q")
        )
    layers.append(dots)
    return alt.LayerChart(layer=layers).project(type="mercator").properties(width=size, height=size)


def friction_circle(points: pl.DataFrame, *, size: int = 360) -> alt.Chart:
    """The g_lat × g_long scatter (g), square and symmetric, measured and GPS-derived points told apart.

    ``points``: ``g_lat``, ``g_long`` (g) and ``g_derived`` (Boolean), e.g. from
    ``pitwall.analysis.friction.pick_friction_points`` (already thinned with its envelope kept); ``lap``,
    ``t_s``, ``g_combined`` are shown in the tooltip when present. The lateral axis is reversed so left turns
    (``g_lat > 0``) plot to the left, as the driver feels them.
    """
    tooltip = [c for c in ("lap", "t_s", "g_lat", "g_long", "g_combined") if c in points.columns]
    data = points.select(*tooltip, "g_derived").with_columns(
        pl.when(pl.col("g_derived"))
        .then(pl.lit("derived from GPS"))
        .otherwise(pl.lit("measured"))
        .alias("source")
    )
    domain = _symmetric_domain(pl.concat([data["g_lat"], data["g_long"]]).drop_nulls())
    return (
        alt.Chart(data.drop("g_derived"))
        .mark_circle(size=10, opacity=0.5)
        .encode(
            x=alt.X(
                "g_lat:Q", scale=alt.Scale(domain=domain, reverse=True), title="lateral g (left ←  → right)"
            ),
            y=alt.Y("g_long:Q", scale=alt.Scale(domain=domain), title="longitudinal g (+ accelerating)"),
            color=alt.Color(
                "source:N",
                scale=alt.Scale(domain=["measured", "derived from GPS"], range=["#1f77b4", "#ff7f0e"]),
            ),
            tooltip=tooltip,
        )
        .properties(width=size, height=size)
    )


def pedal_state_bars(by_lap: pl.DataFrame) -> alt.Chart:
    """Stacked bars of the time share of each pedal state per lap (0..1).

    ``by_lap``: ``lap`` and ``<state>_frac`` / ``<state>_s`` for every state of
    ``pitwall.analysis.pedals.PEDAL_STATES`` (the output of ``pedal_time_by_lap``).
    """
    long = pl.concat(
        [
            by_lap.select(
                pl.col("lap").cast(pl.Int32),
                pl.lit(state).alias("state"),
                pl.lit(order, dtype=pl.Int32).alias("order"),
                pl.col(f"{state}_frac").alias("fraction"),
                pl.col(f"{state}_s").alias("seconds"),
            )
            for order, state in enumerate(PEDAL_STATES)
        ]
    )
    return (
        alt.Chart(long)
        .mark_bar()
        .encode(
            y=alt.Y("lap:O", title="lap"),
            x=alt.X("fraction:Q", stack="zero", title="share of lap time", axis=alt.Axis(format="%")),
            color=alt.Color(
                "state:N",
                scale=alt.Scale(domain=list(PEDAL_STATES), range=[PEDAL_COLOURS[s] for s in PEDAL_STATES]),
                title="pedal state",
            ),
            order=alt.Order("order:Q"),
            tooltip=[
                "lap",
                "state",
                alt.Tooltip("fraction:Q", format=".1%"),
                alt.Tooltip("seconds:Q", format=".2f"),
            ],
        )
        .properties(width=420)
    )


def delta_trace(delta: pl.DataFrame, *, max_points: int = MAX_POINTS, width: int = 760) -> alt.LayerChart:
    """Delta-T along the lap: ``s_m`` (m) and ``delta_s`` (s, positive = slower than the reference), with the
    zero line; e.g. ``pitwall.analysis.delta.delta_t``. Thinned keeping the largest gains and losses."""
    data = downsample_trace(delta.select("s_m", "delta_s"), x="s_m", y=["delta_s"], max_points=max_points)
    line = (
        alt.Chart(data)
        .mark_line(color="#444444")
        .encode(
            x=alt.X("s_m:Q", title=title_of("s_m")),
            y=alt.Y("delta_s:Q", title=title_of("delta_s")),
            tooltip=["s_m", "delta_s"],
        )
    )
    zero = alt.Chart(pl.DataFrame({"delta_s": [0.0]})).mark_rule(color="#999999").encode(y="delta_s:Q")
    return alt.LayerChart(layer=[zero, line]).properties(width=width, height=120)


def trace_panels(
    traces: pl.DataFrame,
    *,
    channels: Sequence[str],
    label: str = "label",
    delta: pl.DataFrame | None = None,
    marks: pl.DataFrame | None = None,
    max_points: int = GROUP_POINTS,
    width: int = 760,
    title: str | None = None,
) -> alt.VConcatChart:
    """Channels of one or more laps on the track-position axis, one panel per channel, sharing ``s_m``.

    ``traces``: ``s_m`` (m), ``label`` (which lap) and the ``channels`` present (e.g. rows of
    ``pitwall.analysis.delta.lap_traces`` with a label added); channels absent or all null are skipped.
    ``delta``: adds a delta-T panel (:func:`delta_trace`). ``marks``: vertical rules on every channel panel at
    ``s_m`` with ``text`` in the tooltip and ``label`` as colour (e.g. braking points, sector ends).
    Thinned per lap by :func:`downsample_trace` keeping each channel's extremes; ``title`` heads the chart.
    """
    shown = [c for c in channels if c in traces.columns and traces[c].null_count() < traces.height]
    if not shown:
        raise ValueError(f"none of the channels {list(channels)} has data")
    data = downsample_trace(
        traces.select("s_m", label, *shown), x="s_m", y=shown, by=label, max_points=max_points
    )
    labels = data[label].unique(maintain_order=True).to_list()
    colour = alt.Color(f"{label}:N", scale=alt.Scale(domain=labels), title="lap")
    panels: list[alt.Chart | alt.LayerChart] = []
    for channel in shown:
        line = (
            alt.Chart(data)
            .mark_line(strokeWidth=1.2)
            .encode(
                x=alt.X("s_m:Q", title=title_of("s_m")),
                y=alt.Y(f"{channel}:Q", title=title_of(channel)),
                color=colour,
                tooltip=[label, "s_m", channel],
            )
            .properties(width=width, height=150)
        )
        if marks is not None and marks.height:
            rules = (
                alt.Chart(marks.select("s_m", "text", label))
                .mark_rule(strokeDash=[4, 3])
                .encode(x="s_m:Q", color=colour, tooltip=[label, "text", "s_m"])
            )
            panels.append(alt.LayerChart(layer=[line, rules]))
        else:
            panels.append(line)
    if delta is not None:
        panels.append(delta_trace(delta, max_points=max_points, width=width))
    chart = alt.vconcat(*panels).resolve_scale(x="shared")
    return chart if title is None else chart.properties(title=title)


def gain_bars(df: pl.DataFrame, *, category: str, gain: str, title: str, width: int = 420) -> alt.Chart:
    """Horizontal bars of a signed time difference per ``category`` (sector, corner), in the frame's order.

    ``gain`` is seconds, positive = the compared lap is slower (red), negative = faster (green).
    """
    data = df.select(
        pl.col(category).cast(pl.String),
        gain,
        pl.when(pl.col(gain) > 0).then(pl.lit("slower")).otherwise(pl.lit("faster")).alias("sign"),
    )
    return (
        alt.Chart(data)
        .mark_bar()
        .encode(
            y=alt.Y(f"{category}:N", sort=None, title=category),
            x=alt.X(f"{gain}:Q", title=title),
            color=alt.Color(
                "sign:N",
                scale=alt.Scale(domain=["faster", "slower"], range=["#2ca02c", "#d62728"]),
                legend=None,
            ),
            tooltip=[category, alt.Tooltip(f"{gain}:Q", format="+.3f")],
        )
        .properties(width=width)
    )


def frame_rate_bars(rates: pl.DataFrame, *, width: int = 420) -> alt.Chart:
    """Frames per second of each CAN identifier; decoded ids and unknown ids in two colours.

    ``rates``: ``id_hex`` (label), ``rate_hz`` (frames/s), ``message`` (DBC message name, null when unknown)
    and ``n_frames``.
    """
    data = rates.select(
        "id_hex",
        "rate_hz",
        "n_frames",
        pl.col("message").fill_null("(unknown id)"),
        pl.when(pl.col("message").is_null())
        .then(pl.lit("unknown"))
        .otherwise(pl.lit("in DBC"))
        .alias("status"),
    )
    return (
        alt.Chart(data)
        .mark_bar()
        .encode(
            y=alt.Y("id_hex:N", sort="-x", title="arbitration id"),
            x=alt.X("rate_hz:Q", title="frames per second (Hz)"),
            color=alt.Color(
                "status:N", scale=alt.Scale(domain=["in DBC", "unknown"], range=["#1f77b4", "#aaaaaa"])
            ),
            tooltip=["id_hex", "message", alt.Tooltip("rate_hz:Q", format=".2f"), "n_frames"],
        )
        .properties(width=width)
    )


def signal_traces(
    signals: pl.DataFrame, *, max_points: int = GROUP_POINTS, width: int = 680
) -> alt.FacetChart:
    """Decoded signals over time, one row per signal with its own y scale.

    ``signals``: long rows ``signal`` (name), ``t_s`` (s), ``value`` (physical units of the DBC). Thinned per
    signal by :func:`downsample_trace` keeping each signal's extremes.
    """
    data = downsample_trace(
        signals.select("signal", "t_s", "value"), x="t_s", y=["value"], by="signal", max_points=max_points
    )
    return (
        alt.Chart(data)
        .mark_line(strokeWidth=1)
        .encode(
            x=alt.X("t_s:Q", title=title_of("t_s")),
            y=alt.Y("value:Q", title=None, scale=alt.Scale(zero=False)),
            tooltip=["signal", "t_s", "value"],
        )
        .properties(width=width, height=90)
        .facet(row=alt.Row("signal:N", title=None, header=alt.Header(labelAngle=0, labelAlign="left")))
        .resolve_scale(y="independent")
    )


def session_trend(sessions: pl.DataFrame, *, width: int = 560) -> alt.Chart:
    """Best and median lap (s) of each session over time.

    ``sessions``: ``started_at`` (datetime), ``session_id``, ``best_lap_s``, ``median_lap_s`` (s; null when the
    session has no valid complete lap).
    """
    long = sessions.select("started_at", "session_id", "best_lap_s", "median_lap_s").unpivot(
        index=["started_at", "session_id"], variable_name="figure", value_name="lap_s"
    )
    return (
        alt.Chart(long.drop_nulls("lap_s"))
        .mark_line(point=True)
        .encode(
            x=alt.X("started_at:T", title="session start"),
            y=alt.Y("lap_s:Q", scale=alt.Scale(zero=False), title="lap time (s)"),
            color=alt.Color("figure:N", title=None),
            tooltip=["session_id", "figure", alt.Tooltip("lap_s:Q", format=".3f")],
        )
        .properties(width=width)
    )


def corner_trend(corners: pl.DataFrame, *, value: str, columns: int = 4, size: int = 150) -> alt.FacetChart:
    """How each corner evolves over sessions: one small panel per corner (in lap order, each with its own y
    scale), ``value`` per session over time; ``grade`` (when present) in the tooltip.

    ``corners``: ``session``, ``started_at`` (datetime), ``corner``, ``corner_idx`` and ``value`` (e.g.
    ``best_time_s`` from ``pitwall.analysis.corners.corner_summary``).
    """
    fields = [
        "session",
        "started_at",
        "corner",
        "corner_idx",
        value,
        *(["grade"] if "grade" in corners.columns else []),
    ]
    return (
        alt.Chart(corners.select(fields))
        .mark_line(point=True)
        .encode(
            x=alt.X("started_at:T", title=None, axis=alt.Axis(format="%Y-%m-%d", labelAngle=-45)),
            y=alt.Y(f"{value}:Q", scale=alt.Scale(zero=False), title=title_of(value)),
            tooltip=[f for f in fields if f not in ("started_at", "corner_idx")],
        )
        .properties(width=size, height=size * 2 // 3)
        .facet(
            facet=alt.Facet("corner:N", sort=alt.EncodingSortField("corner_idx", op="min"), title="corner"),
            columns=columns,
        )
        .resolve_scale(y="independent")
    )


def save_png(chart: alt.TopLevelMixin, path: str | Path, *, scale: float = 2.0) -> Path:
    """Render ``chart`` to a PNG file with vl-convert (no browser; ``pip install 'pitwall[notebooks]'``);
    returns the path."""
    import vl_convert as vlc

    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_bytes(vlc.vegalite_to_png(chart.to_json(), scale=scale))
    return target
