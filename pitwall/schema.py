"""Canonical channel names, units and dtypes shared by every reader, store and pipeline.

Every column name carries its unit as a suffix (``_s``, ``_m``, ``_deg``, ``_kph``, ``_bar``, ``_pct``…).
Readers convert their source units into these on the way in; nothing downstream converts again.

Sign conventions (ISO 8855 vehicle axes: x forward, y left, z up):

* ``g_lat`` — lateral acceleration in g, **positive to the left** (a left-hand corner gives ``g_lat > 0``).
  This equals Racelogic's convention, so VBO lateral channels are taken as they are; sources that
  use "positive right" are negated on the way in.
* ``g_long`` — longitudinal acceleration in g, positive when accelerating forward, negative under braking.
* ``steering_deg`` — steering-wheel angle in degrees, positive to the left.
* ``lon_deg`` — WGS84 longitude, **east positive** (VBO files store west positive; readers negate).
* ``heading_deg`` — course over ground in degrees clockwise from true north, in [0, 360).
* Signed track curvature (``kappa_1pm``) is positive for left-hand (counter-clockwise) bends, so that
  ``g_lat ≈ v² κ / 9.80665``.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Final, Literal

import polars as pl
import pyarrow as pa

G0: Final = 9.80665
"""Standard gravity, m/s² per g."""

# ---------------------------------------------------------------------------------------------------
# Wide telemetry: one row per sample.
# ---------------------------------------------------------------------------------------------------

TELEMETRY: Final[dict[str, pl.DataType]] = {
    "session_id": pl.String(),
    "frame_idx": pl.Int64(),  # 0-based sample index within the session
    "t_s": pl.Float64(),  # seconds since session start
    "utc": pl.Datetime("us", "UTC"),  # absolute time of the sample
    "lat_deg": pl.Float64(),  # WGS84 latitude, north positive
    "lon_deg": pl.Float64(),  # WGS84 longitude, east positive
    "alt_m": pl.Float64(),  # altitude above mean sea level, metres
    "speed_kph": pl.Float64(),
    "heading_deg": pl.Float64(),
    "sats": pl.Int32(),  # satellites in use
    "g_lat": pl.Float64(),  # g, positive left
    "g_long": pl.Float64(),  # g, positive forward
    "g_vert": pl.Float64(),  # g, positive up
    "yaw_rate_dps": pl.Float64(),  # deg/s, positive counter-clockwise seen from above
    "throttle_pct": pl.Float64(),  # 0..100
    "brake_bar": pl.Float64(),  # brake line pressure
    "brake_pct": pl.Float64(),  # 0..100 where only a pedal position or switch is known
    "steering_deg": pl.Float64(),  # positive left
    "rpm": pl.Float64(),
    "gear": pl.Int32(),  # 0 = neutral / unknown
    "distance_m": pl.Float64(),  # cumulative GPS distance since session start
    "s_m": pl.Float64(),  # position along the track reference line (null when off track / unknown)
    "offset_m": pl.Float64(),  # signed distance from the reference line, positive left (null when unknown)
    "lap": pl.Int32(),  # lap number from lap slicing (null before analysis)
    "video_file_idx": pl.Int32(),  # index of the video file this sample belongs to (VBO avifileindex)
    "video_t_ms": pl.Int64(),  # time within that video file, milliseconds (VBO avitime)
}
"""Canonical wide telemetry columns in storage order."""

COMPUTED_TELEMETRY: Final = ("frame_idx", "distance_m", "s_m", "offset_m", "lap")
"""Canonical columns worked out from the samples (index, GPS distance, track position, lap) rather than logged."""

TELEMETRY_REQUIRED: Final = ("session_id", "frame_idx", "t_s")
"""Columns that are never null in stored telemetry."""

ChannelKind = Literal["continuous", "discrete", "counter"]
"""How a channel may be carried between samples: ``continuous`` quantities (speed, pressure, angle) are
interpolated linearly; ``discrete`` states (gear, flags, switches, satellite count) and ``counter`` values (lap
numbers, frame indices) are held from the previous sample and never interpolated (gear 3 → 4 is never 3.5)."""

CHANNEL_KINDS: Final[dict[str, ChannelKind]] = {
    "frame_idx": "counter",
    "sats": "discrete",
    "gear": "discrete",
    "lap": "counter",
    "video_file_idx": "discrete",
}
"""Kinds of the canonical channels that are not ``continuous`` (every other numeric column is)."""

DISCRETE_NAME_TOKENS: Final = frozenset(
    {"gear", "flag", "flags", "switch", "state", "status", "mode", "sats", "alarm", "active", "counter"}
)
"""Name tokens (lower case, split on ``_``, ``-``, space and camelCase) that mark a logger channel outside the
canonical columns as discrete, e.g. ``GearPos``, ``brake_switch``, ``dsc_active``."""

COUNTER_NAME_TOKENS: Final = frozenset({"number", "count", "num", "no", "index"})
"""With a ``lap`` token, these make a channel a lap counter (``Lap_Number``, ``LapCount``); ``lap_distance``
or ``LapTime`` stay continuous."""


def channel_kind(name: str) -> ChannelKind:
    """The kind of channel ``name``: canonical columns from :data:`CHANNEL_KINDS`; any other (tall) channel is a
    ``counter`` when its name tokens hold ``lap`` and one of :data:`COUNTER_NAME_TOKENS`, ``discrete`` when one
    is in :data:`DISCRETE_NAME_TOKENS`, else ``continuous``."""
    if name in TELEMETRY:
        return CHANNEL_KINDS.get(name, "continuous")
    tokens = {token.lower() for token in re.split(r"[\s_\-.]+|(?<=[a-z0-9])(?=[A-Z])", name) if token}
    if "lap" in tokens and tokens & COUNTER_NAME_TOKENS:
        return "counter"
    return "discrete" if tokens & DISCRETE_NAME_TOKENS else "continuous"


# ---------------------------------------------------------------------------------------------------
# Tall sink (ADR-015): any channel without a canonical column.
# ---------------------------------------------------------------------------------------------------

TELEMETRY_SIGNALS: Final[dict[str, pl.DataType]] = {
    "session_id": pl.String(),
    "signal_name": pl.String(),
    "t_s": pl.Float64(),
    "value": pl.Float64(),
}

SIGNALS_SCHEMA: Final[dict[str, pl.DataType]] = {
    name: dtype for name, dtype in TELEMETRY_SIGNALS.items() if name != "session_id"
}
"""Columns of a recording's tall rows (:class:`SignalChannels`'s :meth:`~SignalChannels.rows`): the tall sink
without ``session_id``."""

SIGNAL_REGISTRY: Final[dict[str, pl.DataType]] = {
    "signal_name": pl.String(),
    "unit": pl.String(),  # "" when dimensionless / unknown
    "source": pl.String(),  # obd2 | vbo | can | api | canonical
    "description": pl.String(),
    "pid": pl.String(),  # OBD-II PID as "0x0C" for seeded entries, else null
    "min_value": pl.Float64(),
    "max_value": pl.Float64(),
}

CAPABILITIES: Final[dict[str, pl.DataType]] = {
    "session_id": pl.String(),
    "signal_name": pl.String(),
    "n_samples": pl.Int64(),
    "mean_hz": pl.Float64(),
    "useful": pl.Boolean(),  # enough rate and variance to drive analysis
    "coaches": pl.String(),  # comma-separated coach names this signal enables ("" for none)
}

VIDEO_FRAMES: Final[dict[str, pl.DataType]] = {
    "session_id": pl.String(),
    "t_s": pl.Float64(),  # session time of the video frame
    "video_file": pl.String(),
    "video_t_ms": pl.Int64(),
    "frame_no": pl.Int64(),
}

LAPS: Final[dict[str, pl.DataType]] = {
    "session_id": pl.String(),
    "lap": pl.Int32(),
    "t_start_s": pl.Float64(),
    "t_end_s": pl.Float64(),
    "duration_s": pl.Float64(),
    "distance_m": pl.Float64(),
    "method": pl.String(),  # logger | gps | distance | stint | manual
    "kind": pl.String(),  # out | flying | in | incomplete
    "valid": pl.Boolean(),
    "reason": pl.String(),  # why a lap is excluded; null when valid
    "clock_repairs": pl.Int32(),  # clock faults repaired inside the lap (0: sound clock; null: not checked)
}

EXPORT_TABLES: Final = ("telemetry", "telemetry_signals", "signal_registry", "capabilities")
"""Tables served by ``GET /session/<sid>/export.parquet``."""


def arrow_schema(columns: dict[str, pl.DataType]) -> pa.Schema:
    """The Arrow schema of a canonical column mapping (used for byte-identical exports)."""
    return pl.DataFrame(schema=columns).to_arrow().schema


def conform(df: pl.DataFrame, columns: dict[str, pl.DataType]) -> pl.DataFrame:
    """Return ``df`` with exactly ``columns``: missing ones added as nulls, extra ones dropped, dtypes cast."""
    return df.select(
        [
            (pl.col(name) if name in df.columns else pl.lit(None)).cast(dtype).alias(name)
            for name, dtype in columns.items()
        ]
    )


@dataclass(frozen=True)
class SignalChannels:
    """Tall-sink channels logged on the same rows, kept wide: ``t_s`` (s, never null) and ``values``, one Float64
    column per channel, named by its signal, aligned with ``t_s`` (null: no sample on that row).

    They stand for their tall rows (:meth:`rows`): each channel's samples with their ``t_s``, channel by channel
    in column order, in row order. A reader keeps them so because the rows' names alone took ~9 MB for an hour
    of 8 channels at 20 Hz (576,000 rows), and the tall copy ~18 MB of an import's peak."""

    t_s: pl.Series
    values: pl.DataFrame

    def names(self) -> list[str]:
        """The channels with at least one sample, in column order (the names of the tall rows, in order)."""
        return [name for name, column in self.values.to_dict().items() if column.null_count() < column.len()]

    def samples(self) -> Iterator[tuple[str, pl.DataFrame]]:
        """Each channel with a sample as ``(name, rows)``, rows being its tall rows' ``t_s`` (s) and ``value``,
        in column order; only a channel with gaps is copied (its samples picked out)."""
        for name in self.names():
            rows = pl.DataFrame([self.t_s.alias("t_s"), self.values.get_column(name).alias("value")])
            yield name, rows.drop_nulls("value") if rows["value"].null_count() else rows

    def rows(self) -> pl.DataFrame:
        """The tall rows (:data:`SIGNALS_SCHEMA`), in one chunk."""
        names = self.values.columns
        if not names:
            return pl.DataFrame(schema=SIGNALS_SCHEMA)
        return (
            self.values.with_columns(self.t_s.alias("__t_s"))  # a channel may be called "t_s"
            .unpivot(names, index="__t_s", variable_name="signal_name", value_name="value")
            .drop_nulls("value")
            .select("signal_name", t_s="__t_s", value="value")
        )


TallSink = pl.DataFrame | SignalChannels
"""A recording's tall sink: tall rows (``signal_name``, ``t_s`` s, ``value``), or channels that stand for them."""


def tall_rows(sink: TallSink) -> pl.DataFrame:
    """The tall rows of ``sink`` (built from channels; tall rows as they are)."""
    return sink.rows() if isinstance(sink, SignalChannels) else sink


def signal_runs(signals: TallSink) -> list[tuple[str, pl.DataFrame]]:
    """Tall rows (``signal_name``, ``t_s``, …) as ``(name, rows)`` slices in (``signal_name``, ``t_s``) order —
    the order a stable sort by both gives. Without a copy when the rows come the way the readers write them,
    one time-ordered run per name (from channels: one per channel, time-ordered and uniquely named, its
    samples); otherwise from one sorted copy."""
    if isinstance(signals, SignalChannels):
        if signals.t_s.null_count() == 0 and signals.t_s.is_sorted():  # (a frame's column names are unique)
            return sorted(signals.samples(), key=lambda named: named[0])
        signals = signals.rows()
    runs = signals.select(pl.col("signal_name").rle()).unnest("signal_name")
    names, lengths = runs["value"].to_list(), runs["len"].to_list()
    if len(set(names)) == len(names) and None not in names:
        starts = itertools.accumulate(lengths, initial=0)
        parts = [
            (name, signals.slice(start, n)) for name, start, n in zip(names, starts, lengths, strict=False)
        ]
        if all(part["t_s"].null_count() == 0 and part["t_s"].is_sorted() for _, part in parts):
            return sorted(parts, key=lambda named: named[0])
    ordered = signals.sort(["signal_name", "t_s"], maintain_order=True)
    return [
        (str(part["signal_name"][0]), part)
        for part in ordered.partition_by("signal_name", maintain_order=True)
    ]
