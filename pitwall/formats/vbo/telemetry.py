"""Canonical telemetry, tall sink, registry — part of :mod:`pitwall.formats.vbo`."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

import polars as pl

from pitwall import schema
from pitwall.analysis.geo import (
    cumulative_distance_m,
)
from pitwall.formats.vbo.recording import SIGNALS_SCHEMA
from pitwall.formats.vbo.table import (
    _CHANNELS,
    _DAY_US,
    _INTEGER_COLUMNS,
    _PREFIX_GAP_US,
    _SATS_MASK,
    _STALE_JUMP_US,
    _STALE_PREFIX_FRACTION,
    _STALE_PREFIX_MIN_ROWS,
    _US,
)


@dataclass
class _Built:
    telemetry: pl.DataFrame
    signals: pl.DataFrame
    registry: pl.DataFrame
    minutes: bool
    dropped_prefix: int
    dropped_duplicate: int


def _build_telemetry(
    frame: pl.DataFrame,
    names: list[str],
    long_names: list[str | None],
    quantities: list[str | None],
    units: list[str],
    created_at: datetime | None,
) -> _Built:
    """Canonical wide columns, the tall sink and its registry from the parsed ``[data]`` frame (with its
    ``__tod`` column, see :meth:`_DataBlock.read`).

    One small aggregate pass finds the facts that shape the result (rows to drop, degrees or minutes,
    midnight rollover); then two queries run together: one ``select`` building every canonical column, cast
    to its :data:`pitwall.schema.TELEMETRY` dtype, and one unpivot of the kept rows' other channels.
    """
    wide: dict[str, pl.Expr] = {}
    quantity_column: dict[str, str] = {}
    tall: list[int] = []
    for i, (name, quantity) in enumerate(zip(names, quantities, strict=True)):
        if quantity is None or quantity in quantity_column:
            tall.append(i)
        elif quantity in ("time", "lat", "lon"):
            quantity_column[quantity] = name
        else:
            conversion = _CHANNELS.quantities[quantity]
            factor = conversion.factor(units[i])
            if factor is None:
                tall.append(i)
                continue
            quantity_column[quantity] = name
            wide[conversion.column] = _canonical_expr(name, conversion.column, factor)
    lat_name, lon_name = quantity_column.get("lat"), quantity_column.get("lon")
    position = (lat_name, lon_name) if lat_name is not None and lon_name is not None else None
    zero_position = (pl.col(position[0]) == 0) & (pl.col(position[1]) == 0) if position else pl.lit(False)

    # Rows before GPS lock (a leading run) and duplicate timestamps after it are removed (no copy when there
    # is nothing to remove, the usual case).
    tod = pl.col("__tod")
    step = tod.shift(-1) - tod
    step = pl.when(step < -_DAY_US // 2).then(step + _DAY_US).otherwise(step)
    stray = ((step < 0) | (step > _PREFIX_GAP_US)).fill_null(False)
    before_lock = (tod == 0) | zero_position | stray  # a null neither counts nor ends the leading run

    def kept_facts(n_prefix: int) -> dict[str, pl.Expr]:
        kept_step = tod.slice(n_prefix).diff()
        return {"duplicates": (kept_step == 0).sum(), "rollover": (kept_step < -_DAY_US // 2).any()}

    coordinates = [pl.col(c).abs().fill_nan(None).max() for c in position or ()]
    facts = frame.select(  # one pass, assuming the usual case: the first row is already locked
        first_row_locked=before_lock.first().not_(),
        largest=pl.max_horizontal(coordinates) if coordinates else pl.lit(None, pl.Float64),
        **kept_facts(0),
    ).row(0, named=True)
    n_prefix = 0
    if not facts["first_row_locked"]:
        n_prefix = int(frame.select(before_lock.cast(pl.Int8).cum_min().sum()).item())
    # A stale clock before lock (the last session's time, then a jump to the real time): everything up to the
    # last jump among the first rows is pre-lock too, whatever positions those rows carry.
    row = pl.int_range(pl.len())
    head = max(_STALE_PREFIX_MIN_ROWS, int(frame.height * _STALE_PREFIX_FRACTION))
    stale_jump = (step.abs() > _STALE_JUMP_US).fill_null(False)
    last_jump = frame.select(row.filter(stale_jump & (row < head)).max()).item()
    if last_jump is not None and last_jump + 1 > n_prefix:
        n_prefix = int(last_jump) + 1
    if n_prefix:
        facts |= frame.select(**kept_facts(n_prefix)).row(0, named=True)
    n_duplicate = int(facts["duplicates"])
    kept = frame.lazy().slice(n_prefix) if n_prefix else frame.lazy()
    if n_duplicate:  # of consecutive rows with the same time, the first
        kept = kept.filter((tod.diff() != 0).fill_null(True))
    if facts["rollover"]:  # a step back of more than 12 h: midnight, unroll the time of day
        rollovers = (tod.diff() < -_DAY_US // 2).fill_null(False).cast(pl.Int64).cum_sum()
        kept = kept.with_columns(tod + rollovers * _DAY_US)

    minutes = facts["largest"] is not None and facts["largest"] > 180  # a degree never exceeds 180
    wide["frame_idx"] = pl.int_range(pl.len(), dtype=pl.Int64)
    # × the reciprocal, explicitly: Polars' ``/ scalar`` is that on full-size frames but exact division on
    # some tiny ones (it depends on the engine), and t_s must not change in the last bit with the plan
    wide["t_s"] = (tod - tod.first()) * (1 / _US)
    if created_at is not None:
        wide["utc"] = _utc_expr(created_at)
    if position is not None:
        scale, lon_scale = (1 / 60, -1 / 60) if minutes else (1.0, 1.0)
        wide["lat_deg"] = pl.when(~zero_position).then(pl.col(position[0]) * scale)
        wide["lon_deg"] = pl.when(~zero_position).then(pl.col(position[1]) * lon_scale)
        wide["distance_m"] = pl.map_batches(
            [wide["lat_deg"], wide["lon_deg"]], _cumulative_distance, return_dtype=pl.Float64
        )
    telemetry_plan = kept.select(
        (wide[name] if name in wide else pl.lit(None)).cast(dtype).alias(name)
        for name, dtype in schema.TELEMETRY.items()
    )
    tall_names = [names[i] for i in tall]
    signals_plan = (
        kept.select(pl.col(tall_names), __t_s=wide["t_s"])  # a channel may be called "t_s"
        .unpivot(tall_names, index="__t_s", variable_name="signal_name", value_name="value")
        .drop_nulls("value")
        .select("signal_name", t_s="__t_s", value="value")
        if tall_names
        else pl.LazyFrame(schema=SIGNALS_SCHEMA)
    )
    telemetry, signals = pl.collect_all([telemetry_plan, signals_plan], engine="in-memory")
    registry = pl.DataFrame(
        {
            "signal_name": tall_names,
            "unit": [units[i] for i in tall],
            "source": ["vbo"] * len(tall),
            "description": [long_names[i] or "" for i in tall],
        },
        schema=dict.fromkeys(("signal_name", "unit", "source", "description"), pl.String()),
    )
    return _Built(
        telemetry,
        signals,
        schema.conform(registry, schema.SIGNAL_REGISTRY),
        minutes,
        n_prefix,
        n_duplicate,
    )


def _canonical_expr(name: str, target: str, factor: float) -> pl.Expr:
    expr = pl.col(name) if factor == 1.0 else pl.col(name) * factor
    if target == "heading_deg":
        return expr % 360.0
    if target == "sats":
        return pl.col(name).cast(pl.Int64, strict=False) & _SATS_MASK
    if target in _INTEGER_COLUMNS:
        return expr.round().cast(_INTEGER_COLUMNS[target], strict=False)
    return expr


def _utc_expr(created_at: datetime) -> pl.Expr:
    """UTC timestamp of each row from its unrolled time of day (``__tod``, µs) and the creation date.

    Loggers stamp ``File created on`` in local time, so the UTC day of the first sample is the creation
    date, the day before or the day after: whichever puts the first sample nearest the creation time.
    """
    midnight = datetime(created_at.year, created_at.month, created_at.day, tzinfo=UTC)
    midnight_us = int(midnight.timestamp()) * _US
    created_us = midnight_us + (created_at.hour * 3600 + created_at.minute * 60 + created_at.second) * _US
    day_shift = ((created_us - midnight_us - pl.col("__tod").first()) / _DAY_US).round().cast(pl.Int64)
    epoch_us = pl.col("__tod") + midnight_us + day_shift * _DAY_US
    return epoch_us.cast(pl.Datetime("us")).dt.replace_time_zone("UTC")


def _cumulative_distance(position: Sequence[pl.Series]) -> pl.Series:
    """Cumulative great-circle distance (m) along (``lat_deg``, ``lon_deg``), see
    :func:`pitwall.analysis.geo.cumulative_distance_m`."""
    return pl.Series("distance_m", cumulative_distance_m(position[0].to_numpy(), position[1].to_numpy()))
