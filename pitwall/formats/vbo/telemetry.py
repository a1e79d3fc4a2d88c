"""Canonical telemetry, tall sink, registry — part of :mod:`pitwall.formats.vbo`."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime

import numpy as np
import numpy.typing as npt
import polars as pl

from pitwall import schema
from pitwall.analysis.geo import cumulative_distance_m
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
    signals: schema.SignalChannels
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
    """Canonical wide columns, the tall sink's channels and its registry from the parsed ``[data]`` frame (with its
    ``__tod`` column, see :meth:`_DataBlock.read`).

    The facts that shape the result (rows to drop, degrees or minutes, midnight rollover, stale clock) are
    read off the time of day and the coordinates in numpy (Polars only for a leading run before lock). Then
    ``t_s`` (s) and the positions (degrees) are computed once; the cumulative distance (m, numpy) runs on this
    thread while a worker collects one ``select`` of the other canonical columns, each cast to its
    :data:`pitwall.schema.TELEMETRY` dtype. The kept rows' other channels are the tall sink, as they are
    (:class:`~pitwall.schema.SignalChannels`: no tall copy).
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
    # is nothing to remove, the usual case). The facts, in numpy on the time of day (never null: the read
    # rejects an invalid one), assuming the usual case (the first row is already locked); the leading run is
    # measured only when the first row is not certainly locked.
    tod = pl.col("__tod")
    tod_us = frame.get_column("__tod").to_numpy()
    n_prefix = 0
    if not _first_row_locked(frame, tod_us, position):
        n_prefix = _leading_run(frame, tod_us, zero_position)
    # A stale clock before lock (the last session's time, then a jump to the real time): everything up to the
    # last jump among the first rows is pre-lock too, whatever positions those rows carry.
    head = max(_STALE_PREFIX_MIN_ROWS, int(frame.height * _STALE_PREFIX_FRACTION))
    jumps = np.flatnonzero(np.abs(_unwrapped_steps(tod_us[: head + 1])) > _STALE_JUMP_US)
    if jumps.size and jumps[-1] + 1 > n_prefix:
        n_prefix = int(jumps[-1]) + 1
    kept_steps = np.diff(tod_us[n_prefix:])
    n_duplicate = int(np.count_nonzero(kept_steps == 0))
    rollover = bool((kept_steps < -_DAY_US // 2).any())
    kept = frame.lazy().slice(n_prefix) if n_prefix else frame.lazy()
    if n_duplicate:  # of consecutive rows with the same time, the first
        kept = kept.filter((tod.diff() != 0).fill_null(True))
    if rollover:  # a step back of more than 12 h: midnight, unroll the time of day
        rollovers = (tod.diff() < -_DAY_US // 2).fill_null(False).cast(pl.Int64).cum_sum()
        kept = kept.with_columns(tod + rollovers * _DAY_US)

    largest = _largest_magnitude(frame, position or ())
    minutes = largest is not None and largest > 180  # a degree never exceeds 180
    rows = kept.collect(engine="in-memory") if n_prefix or n_duplicate or rollover else frame
    wide["frame_idx"] = pl.int_range(pl.len(), dtype=pl.Int64)
    if created_at is not None:
        wide["utc"] = _utc_expr(created_at)
    # × the reciprocal, explicitly: Polars' ``/ scalar`` is that on full-size frames but exact division on
    # some tiny ones (it depends on the engine), and t_s must not change in the last bit with the plan
    shared = {"t_s": (tod - tod.first()) * (1 / _US)}
    if position is not None:
        scale, lon_scale = (1 / 60, -1 / 60) if minutes else (1.0, 1.0)
        shared["lat_deg"] = pl.when(~zero_position).then(pl.col(position[0]) * scale)
        shared["lon_deg"] = pl.when(~zero_position).then(pl.col(position[1]) * lon_scale)
    # Columns used twice are computed first: t_s (also the tall sink's) and the positions (also the
    # distance's). The distance runs in numpy on this thread while Polars builds the other canonical columns
    # on its own threads (numpy and Polars both release the GIL).
    placed = {
        column.name: column
        for column in rows.select(expr.cast(pl.Float64).alias(name) for name, expr in shared.items())
    }
    with_distance = position is not None and rows.height > 0  # (no fixes: a null column like no position)
    tall_names = [names[i] for i in tall]
    telemetry_plan = rows.lazy().select(
        (wide[name] if name in wide else pl.lit(None)).cast(dtype).alias(name)
        for name, dtype in schema.TELEMETRY.items()
        if name not in placed and (name != "distance_m" or not with_distance)
    )
    with ThreadPoolExecutor(max_workers=1) as worker:
        query = worker.submit(telemetry_plan.collect, engine="in-memory")
        if with_distance:
            distance = cumulative_distance_m(placed["lat_deg"].to_numpy(), placed["lon_deg"].to_numpy())
            placed["distance_m"] = pl.Series("distance_m", distance, dtype=pl.Float64)
        telemetry = query.result()
    for index, name in enumerate(schema.TELEMETRY):
        if name in placed:
            telemetry.insert_column(index, placed[name])
    described = {
        "signal_name": tall_names,
        "unit": [units[i] for i in tall],
        "source": ["vbo"] * len(tall),
        "description": [long_names[i] or "" for i in tall],
    }
    registry = pl.DataFrame(
        {name: described.get(name, [None] * len(tall)) for name in schema.SIGNAL_REGISTRY},
        schema=schema.SIGNAL_REGISTRY,
    )
    return _Built(
        telemetry,
        schema.SignalChannels(placed["t_s"], rows.select(tall_names)),
        registry,
        minutes,
        n_prefix,
        n_duplicate,
    )


def _unwrapped_steps(tod_us: npt.NDArray[np.int64]) -> npt.NDArray[np.int64]:
    """Each row's step to the next (µs of the time of day); a step back of more than 12 h is midnight, so a
    day is added to it."""
    steps = np.diff(tod_us)
    steps[steps < -_DAY_US // 2] += _DAY_US
    return steps


def _unlocked_clock(tod_us: npt.NDArray[np.int64]) -> npt.NDArray[np.bool_]:
    """Per row, what its clock says of GPS lock: no time of day (0), or a step to the next row (midnight
    unwrapped) that goes back or is longer than :data:`_PREFIX_GAP_US` (an isolated row before the session);
    the last row has no step."""
    steps = _unwrapped_steps(tod_us)
    return (tod_us == 0) | np.append((steps < 0) | (steps > _PREFIX_GAP_US), False)


def _first_row_locked(
    frame: pl.DataFrame, tod_us: npt.NDArray[np.int64], position: tuple[str, str] | None
) -> bool:
    """Is the first row of the ``[data]`` frame certainly after GPS lock: its clock fine
    (:func:`_unlocked_clock`) and a position that is not 0,0 (a null coordinate leaves that open)?"""
    if _unlocked_clock(tod_us[:2])[0]:
        return False
    if position is None:
        return True
    return any(value is not None and value != 0 for value in (frame.get_column(c)[0] for c in position))


def _leading_run(frame: pl.DataFrame, tod_us: npt.NDArray[np.int64], zero_position: pl.Expr) -> int:
    """Rows before GPS lock at the start of the ``[data]`` frame: the leading run of rows whose clock says so
    (:func:`_unlocked_clock`) or whose position is 0,0 (``zero_position``); a row with a null coordinate (and
    the other 0 or null) neither counts nor ends the run."""
    before_lock = pl.lit(pl.Series(_unlocked_clock(tod_us))) | zero_position
    return int(frame.select(before_lock.cast(pl.Int8).cum_min().sum()).item())


def _largest_magnitude(frame: pl.DataFrame, columns: tuple[str, ...]) -> float | None:
    """The largest absolute value in the Float64 ``columns`` of ``frame``, NaN and null ignored (``None`` when
    there is none)."""
    largest = (float(np.fmax.reduce(np.abs(frame.get_column(c).to_numpy()))) for c in columns if frame.height)
    return max((value for value in largest if not np.isnan(value)), default=None)


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
