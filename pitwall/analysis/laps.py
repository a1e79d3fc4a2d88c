"""Lap slicing: the logger's own lap marks, GPS start/finish crossings, distance slicing, moving stints (pure).

:func:`slice_laps` turns telemetry into the lap table (``schema.LAPS`` columns); :func:`add_lap_column` tags
telemetry rows with their ``lap``. The file's own timing comes first: when the recording carries the logger's
lap boundaries (``lap_marks_s``: RaceChrono ``lap_number``, RaceCapture ``LapCount``), laps are cut exactly
there (method ``logger``). Otherwise, strategies tried in this order by ``strategy="auto"``:

1. ``gps`` — start/finish crossings. The first VBO ``[laptiming]`` start gate that the path crosses is used,
   otherwise the track's ``start_finish`` gate. Each crossing time is interpolated between the two fixes either
   side of the line, ``t = t1 + f·(t2 − t1)`` with ``f`` the fraction of the path segment before the line.
   Crossings against the gate's direction (travel more than 90° off ``gate.heading_deg``; for gates without a
   heading, against the majority direction) are ignored, and so is a crossing less than ``min_lap_s`` after the
   previous one. Default ``min_lap_s`` = ``0.5 × track.length_m / 70 m/s``: half the lap time at a 252 km/h
   average, faster than any real lap, slower than GPS jitter around the line.
2. ``distance`` — a distance channel that wraps to zero each lap (a drop of more than :data:`WRAP_MIN_DROP_M`,
   as loggers and the original clients' ``distance`` send it): a lap ends where the channel went through zero,
   ``t`` interpolated on the unwrapped distance. This needs no GPS at all. Otherwise, when the car is on the track (at least half of the fixes within 50 m of the reference line) and
   passes within 50 m of the start/finish line, but no crossing is detected (e.g. a GPS gap at the line): laps
   are cut every ``track.length_m`` of travelled (cumulative) distance, anchored at the fix nearest to the line.
3. ``stint`` — moving stints (speed ≥ 10 km/h, stops shorter than 10 s bridged, stints ≥ 30 s): no lap timing
   is possible, so every stint is ``kind="incomplete"``, invalid.

A crossing more than 8 m from the timing line's centre at under 100 km/h is a *pit-lane pass* (timing lines
are ~30 m wide and often span the pit lane; logger lap counters ignore these passes too).

GPS is *useless* when fewer than two fixes exist or they all lie within :data:`GPS_MIN_SPREAD_M` of each other
(a frozen or constant fix): then only the distance wraps and the stints are tried, and
:func:`add_lap_distance` gives the track position ``s_m`` from the lap distance instead of the projection.

Lap numbers start at 1 with the out-lap, like logger lap counters. Kinds and validity:
``out`` (session start → first crossing, or a pit-lane pass → the next crossing), ``flying`` (between two
track crossings / boundaries), ``in`` (a lap ending with a pit-lane pass, or last crossing → end when the car
has stopped, speed < 10 km/h at the end) or ``incomplete`` (recording ends while moving, and stints). Driving
after a final pit-lane pass shorter than half a lap is pit/paddock time and no lap. Only ``flying`` laps can be
valid; a flying lap whose distance deviates more than 10 % from the track length is invalid with the reason, and
so is one shorter than the track length allows at the session's top speed (a clock fault can never make a
record).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from functools import partial
from typing import Final, Literal

import numpy as np
import numpy.typing as npt
import polars as pl
from scipy.spatial import cKDTree

from pitwall import schema
from pitwall.analysis.geo import path_steps_m, segment_crossings, to_local_xy
from pitwall.track import Gate, Track

LapStrategy = Literal["auto", "gps", "distance", "stint"]
FloatArray = npt.NDArray[np.float64]

MAX_AVG_SPEED_MPS: Final = 70.0
"""Average lap speed no car exceeds (m/s); sets the default minimum lap time with :data:`MIN_LAP_FRACTION`."""
MIN_LAP_FRACTION: Final = 0.5
DISTANCE_TOLERANCE: Final = 0.10
"""A flying lap whose distance is more than this fraction off the track length is invalid."""
STOPPED_KPH: Final = 10.0
"""Below this speed the car counts as stopped (in-lap end) and not moving (stints)."""
ON_TRACK_M: Final = 50.0
"""Fixes within this distance of the reference line (or start/finish line) count as on track (near the line)."""
ON_TRACK_FRACTION: Final = 0.5
PIT_LANE_OFFSET_M: Final = 8.0
"""A crossing this far from the timing line's centre (and slower than :data:`PIT_LANE_MAX_KPH`) is in the pit lane."""
PIT_LANE_MAX_KPH: Final = 100.0
PIT_STAY_FRACTION: Final = 0.5
"""After a final pit-lane pass, less than this fraction of a lap of driving is pit/paddock time, not a lap."""
GPS_MIN_SPREAD_M: Final = 30.0
"""Fixes that all lie within this extent (metres, east and north) are a frozen/constant fix: GPS is useless."""
WRAP_MIN_DROP_M: Final = 100.0
"""A distance channel falling by more than this (metres) between two samples has wrapped to zero (new lap)."""
STINT_JOIN_S: Final = 10.0
MIN_STINT_S: Final = 30.0

LAP_COLUMNS: Final = ("t_s", "lat_deg", "lon_deg", "heading_deg", "speed_kph", "distance_m")
"""The telemetry columns lap slicing reads (besides ``session_id``, carried over): a caller may read only these."""


def default_min_lap_s(track: Track) -> float:
    """The default minimum lap time in seconds: ``0.5 × track.length_m / 70 m/s``."""
    return MIN_LAP_FRACTION * track.length_m / MAX_AVG_SPEED_MPS


def _gate_xy(gate: Gate, lat0: float, lon0: float) -> tuple[float, float, float, float]:
    (ax, bx), (ay, by) = to_local_xy(
        [gate.lat1_deg, gate.lat2_deg], [gate.lon1_deg, gate.lon2_deg], lat0, lon0
    )
    return float(ax), float(ay), float(bx), float(by)


def _gate_centre(gate: Gate) -> tuple[float, float]:
    return (gate.lat1_deg + gate.lat2_deg) / 2.0, (gate.lon1_deg + gate.lon2_deg) / 2.0


def _angle_diff_deg(a: FloatArray, b: float) -> FloatArray:
    return np.abs((a - b + 180.0) % 360.0 - 180.0)


def lap_crossings(
    t: FloatArray, lat: FloatArray, lon: FloatArray, heading: FloatArray | None, gate: Gate
) -> FloatArray:
    """Times (s) at which the path crosses ``gate`` in its direction of travel, ascending.

    ``t`` seconds, ``lat``/``lon`` WGS84 degrees, ``heading`` degrees clockwise from north (``None`` or NaN:
    the bearing of the path segment is used). Times are interpolated between the fixes either side of the line.
    The minimum-lap-time filter is separate (:func:`drop_close_crossings`).
    """
    lat0, lon0 = _gate_centre(gate)
    x, y = to_local_xy(lat, lon, lat0, lon0)
    i, f, side = segment_crossings(x, y, *_gate_xy(gate, lat0, lon0))
    times = t[i] + f * (t[i + 1] - t[i])
    if i.size == 0:
        return times
    if gate.heading_deg is not None:
        travel = np.degrees(np.arctan2(x[i + 1] - x[i], y[i + 1] - y[i])) % 360.0
        if heading is not None:
            measured = heading[i]
            travel = np.where(np.isfinite(measured), measured, travel)
        keep = _angle_diff_deg(travel, gate.heading_deg) < 90.0
    else:
        majority = np.sign(side.sum()) or side[0]
        keep = side == majority
    return np.asarray(times[keep], dtype=np.float64)


def drop_close_crossings(times: FloatArray, min_gap_s: float) -> FloatArray:
    """Keep a crossing only when it comes at least ``min_gap_s`` seconds after the previous kept one."""
    kept: list[float] = []
    for value in times:
        if not kept or value - kept[-1] >= min_gap_s:
            kept.append(float(value))
    return np.asarray(kept, dtype=np.float64)


def gps_usable(lat_deg: FloatArray, lon_deg: FloatArray) -> bool:
    """Whether GPS fixes (degrees, NaN when absent) can place the car: at least two fixes spread over more
    than :data:`GPS_MIN_SPREAD_M` metres east or north (a frozen or constant fix cannot)."""
    ok = np.isfinite(lat_deg) & np.isfinite(lon_deg)
    if ok.sum() < 2:
        return False
    x, y = to_local_xy(lat_deg[ok], lon_deg[ok], float(lat_deg[ok][0]), float(lon_deg[ok][0]))
    return bool(max(np.ptp(x), np.ptp(y)) > GPS_MIN_SPREAD_M)


def unwrap_distance(
    t_s: FloatArray, distance_m: FloatArray, speed_kph: FloatArray
) -> tuple[FloatArray, FloatArray]:
    """``(cumulative_m, wrap_at_m)`` of a distance channel (metres, time-ordered, no NaN).

    Where the channel falls by more than :data:`WRAP_MIN_DROP_M` it wrapped to zero (a new lap): the travel
    across that sample step is ``speed × dt`` (mean of both speeds, km/h → m/s) and ``wrap_at_m`` holds the
    cumulative distance where the channel passed zero (one entry per wrap, ascending). Smaller decreases
    (noise) are held flat, so ``cumulative_m`` never decreases.
    """
    starts = np.concatenate([[0], np.nonzero(np.diff(distance_m) < -WRAP_MIN_DROP_M)[0] + 1])
    ends = np.concatenate([starts[1:], [distance_m.size]])
    cumulative = np.empty_like(distance_m)
    wraps: list[float] = []
    offset = 0.0
    for a, b in zip(starts.tolist(), ends.tolist(), strict=True):
        if a:
            step = max((speed_kph[a] + speed_kph[a - 1]) / 2.0 / 3.6 * (t_s[a] - t_s[a - 1]), 0.0)
            offset = cumulative[a - 1] + step - distance_m[a]
            wraps.append(offset)
        cumulative[a:b] = np.maximum.accumulate(distance_m[a:b] + offset)
    return cumulative, np.asarray(wraps, dtype=np.float64)


def add_lap_distance(lf: pl.LazyFrame, laps: pl.DataFrame, length_m: float) -> pl.LazyFrame:
    """Replace ``s_m`` (metres along the lap, ``[0, length_m)``) with the distance travelled since the lap's
    start boundary, and ``offset_m`` with null: the track position when GPS is useless (:func:`gps_usable`).

    Requires ``t_s`` (s) and ``distance_m`` (metres, cumulative or wrapping each lap; ``speed_kph`` used for
    the wrap step when present) in ``lf``; ``laps`` is the lap table of :func:`slice_laps`, whose
    ``method="distance"`` lap starts (after lap 1) are the boundaries. Before the first boundary (the out-lap)
    the position counts back from it modulo ``length_m``; after a boundary it is clipped to the track
    length; a lap closed by two boundaries is scaled onto ``length_m`` (its distance channel measures the car's
    line, not the reference line's), so sector and corner positions line up. Without boundaries, or without
    distance, ``s_m`` is null. Output is ordered by ``t_s``.
    """

    boundaries = laps.filter((pl.col("method") == "distance") & (pl.col("lap") > 1)).sort("t_start_s")
    bounds = boundaries["t_start_s"].to_numpy().astype(np.float64)

    def position(df: pl.DataFrame) -> pl.DataFrame:
        df = df.sort("t_s")
        t = df["t_s"].cast(pl.Float64).to_numpy()
        raw = df["distance_m"].cast(pl.Float64).fill_null(strategy="forward")
        known = raw.is_not_null().to_numpy()
        raw_np = raw.fill_null(0.0).to_numpy().astype(np.float64)
        speed = (
            df["speed_kph"].cast(pl.Float64).fill_null(0.0).to_numpy()
            if "speed_kph" in df.columns
            else np.zeros(t.size)
        )
        cumulative, _ = unwrap_distance(t, raw_np, speed)
        if bounds.size == 0 or t.size == 0:
            s = np.full(t.size, np.nan)
        else:
            at = np.interp(bounds, t, cumulative)
            k = np.searchsorted(bounds, t, side="right") - 1
            since = cumulative - at[np.maximum(k, 0)]
            # A lap closed by two boundaries is stretched onto the track length (the distance channel
            # measures the car's own line and calibration, not the reference line's).
            closed = (k >= 0) & (k + 1 < bounds.size)
            lap_m = (
                np.diff(at)[np.clip(k, 0, max(bounds.size - 2, 0))] if bounds.size > 1 else np.ones(t.size)
            )
            since = np.where(closed & (lap_m > 0), since * length_m / np.where(lap_m > 0, lap_m, 1.0), since)
            s = np.where(k >= 0, np.clip(since, 0.0, np.nextafter(length_m, 0.0)), np.mod(since, length_m))
        s = np.where(known, s, np.nan)
        return df.with_columns(
            pl.Series("s_m", s, dtype=pl.Float64).fill_nan(None),
            pl.lit(None, dtype=pl.Float64).alias("offset_m"),
        )

    out_schema = pl.Schema({**lf.collect_schema(), "s_m": pl.Float64(), "offset_m": pl.Float64()})
    return lf.sort("t_s").map_batches(position, schema=out_schema)


def _strictly_increasing(t: pl.Series) -> bool:
    """Whether the (null-free) times ``t`` rise at every step."""
    return t.len() < 2 or bool((t.diff().slice(1) > 0).all())


@dataclass(frozen=True)
class _Fixes:
    """Materialised, time-ordered samples (the numpy side of :func:`slice_laps`); ``lat``/``lon`` are NaN
    where the fix is absent, ``gps_ok`` says whether GPS can place the car (:func:`gps_usable`) and
    ``wrap_t`` holds the times at which a wrapping distance channel passed zero."""

    t: FloatArray
    lat: FloatArray
    lon: FloatArray
    heading: FloatArray | None
    speed_kph: FloatArray
    distance_m: FloatArray
    gps_ok: bool
    wrap_t: FloatArray

    @classmethod
    def of(cls, df: pl.DataFrame) -> _Fixes:
        df = df.filter(pl.col("t_s").is_not_null())
        if not _strictly_increasing(df["t_s"]):  # the usual case needs neither sort nor de-duplication
            df = df.sort("t_s").unique("t_s", keep="first", maintain_order=True)
        t = df["t_s"].to_numpy().astype(np.float64, copy=False)
        lat = df["lat_deg"].cast(pl.Float64).fill_null(np.nan).to_numpy().astype(np.float64, copy=False)
        lon = df["lon_deg"].cast(pl.Float64).fill_null(np.nan).to_numpy().astype(np.float64, copy=False)
        gps_ok = gps_usable(lat, lon)
        if gps_ok:  # keep the fixes only; samples without one cannot be timed against a line
            keep = np.isfinite(lat) & np.isfinite(lon)
            if not keep.all():
                df, t, lat, lon = df.filter(pl.Series(keep)), t[keep], lat[keep], lon[keep]
        has_distance = "distance_m" in df.columns and df["distance_m"].null_count() < df.height
        has_speed = "speed_kph" in df.columns and df["speed_kph"].null_count() < df.height
        if gps_ok and not (has_distance and has_speed) and t.size > 1:  # the GPS steps are needed
            step = path_steps_m(lat, lon)
        else:
            step = np.zeros(max(t.size - 1, 0))
        raw = (  # the distance channel, held over its gaps
            df["distance_m"]
            .fill_null(strategy="forward")
            .fill_null(0.0)
            .to_numpy()
            .astype(np.float64, copy=False)
            if has_distance
            else np.zeros(0)
        )
        if has_speed:
            speed = df["speed_kph"].fill_null(0.0).to_numpy().astype(np.float64, copy=False)
        elif has_distance:
            dt, dd = np.diff(t), np.maximum(np.diff(raw), 0.0)
            speed = np.concatenate([[0.0], np.where(dt > 0, dd / np.where(dt > 0, dt, 1.0) * 3.6, 0.0)])
        else:
            dt = np.diff(t)
            speed = np.concatenate([[0.0], np.where(dt > 0, step / np.where(dt > 0, dt, 1.0) * 3.6, 0.0)])
        wrap_t = np.zeros(0)
        if has_distance:
            distance, wrap_at = unwrap_distance(t, raw, speed)
            wrap_t = np.asarray(np.interp(wrap_at, distance, t), dtype=np.float64)
        else:
            distance = np.concatenate([[0.0], np.cumsum(step)])
        heading = (
            df["heading_deg"].to_numpy().astype(np.float64, copy=False)
            if "heading_deg" in df.columns
            else None
        )
        return cls(
            t=t,
            lat=lat,
            lon=lon,
            heading=heading,
            speed_kph=speed,
            distance_m=distance,
            gps_ok=gps_ok,
            wrap_t=wrap_t,
        )


def _fastest_possible_s(length_m: float, speed_kph: FloatArray) -> float:
    """The shortest time (s) a lap of ``length_m`` can take at the session's top speed (``0`` without speed):
    no lap, however timed, can be faster — a shorter one comes from a clock fault."""
    top = float(np.max(speed_kph)) if speed_kph.size else 0.0
    return length_m / (top / 3.6) if top > 0 else 0.0


def _lap_rows(
    fx: _Fixes, bounds: FloatArray, pit: npt.NDArray[np.bool_], method: str, length_m: float
) -> list[dict[str, object]]:
    """Lap rows from boundary times (``pit`` flags the pit-lane crossings among them)."""
    edges = [float(fx.t[0]), *bounds.tolist(), float(fx.t[-1])]
    n = len(edges) - 2  # number of boundaries
    rows: list[dict[str, object]] = []
    for k in range(n + 1):
        start, end = edges[k], edges[k + 1]
        if end <= start:
            continue
        distance = float(np.interp(end, fx.t, fx.distance_m) - np.interp(start, fx.t, fx.distance_m))
        reason: str | None
        if k == 0:
            kind, reason = "out", "out-lap"
        elif k < n and pit[k]:
            kind, reason = "in", "in-lap: ends in the pit lane"
        elif pit[k - 1]:
            if k == n and distance < PIT_STAY_FRACTION * length_m:
                continue  # parked in the pit lane / paddock after the pit-lane pass: not a lap
            kind, reason = "out", "out-lap"
        elif k < n:
            kind, reason = "flying", None
            off = abs(distance - length_m) / length_m
            fastest_s = _fastest_possible_s(length_m, fx.speed_kph)
            if off > DISTANCE_TOLERANCE:
                reason = f"distance {distance:.0f} m is {off:.0%} off the track length {length_m:.0f} m"
            elif end - start < fastest_s:
                reason = (
                    f"{end - start:.3f} s is faster than the {length_m:.0f} m lap allows at the session's top speed "
                    f"({fastest_s:.3f} s at {float(np.max(fx.speed_kph)):.0f} km/h): a clock fault, not a lap"
                )
        elif fx.speed_kph[-1] < STOPPED_KPH:
            kind, reason = "in", "in-lap"
        else:
            kind, reason = "incomplete", "incomplete lap"
        rows.append(
            {
                "t_start_s": start,
                "t_end_s": end,
                "duration_s": end - start,
                "distance_m": distance,
                "method": method,
                "kind": kind,
                "valid": reason is None,
                "reason": reason,
            }
        )
    return rows


def pit_lane_crossings(
    fx_t: FloatArray, lat: FloatArray, lon: FloatArray, speed_kph: FloatArray, gate: Gate, times: FloatArray
) -> npt.NDArray[np.bool_]:
    """Which crossing ``times`` of ``gate`` are pit-lane passes: more than :data:`PIT_LANE_OFFSET_M` from the
    gate's centre along the line and slower than :data:`PIT_LANE_MAX_KPH` (speed and position interpolated
    at the crossing time)."""
    lat0, lon0 = _gate_centre(gate)
    x, y = to_local_xy(np.interp(times, fx_t, lat), np.interp(times, fx_t, lon), lat0, lon0)
    return np.asarray(
        (np.hypot(x, y) > PIT_LANE_OFFSET_M) & (np.interp(times, fx_t, speed_kph) < PIT_LANE_MAX_KPH)
    )


def _gps_bounds(
    fx: _Fixes, track: Track, gates: Sequence[Gate], min_lap_s: float
) -> tuple[FloatArray, npt.NDArray[np.bool_]]:
    candidates = [g for g in gates if g.kind == "start_finish"] + [track.start_finish]
    for gate in candidates:
        times = drop_close_crossings(lap_crossings(fx.t, fx.lat, fx.lon, fx.heading, gate), min_lap_s)
        if times.size:
            return times, pit_lane_crossings(fx.t, fx.lat, fx.lon, fx.speed_kph, gate, times)
    return np.zeros(0), np.zeros(0, dtype=bool)


def _distance_bounds(fx: _Fixes, track: Track) -> FloatArray:
    ref = track.reference_line
    lat0, lon0 = _gate_centre(track.start_finish)
    rx, ry = to_local_xy(ref.lat_deg, ref.lon_deg, lat0, lon0)
    x, y = to_local_xy(fx.lat, fx.lon, lat0, lon0)
    if (
        len(ref) == 0
        or np.mean(cKDTree(np.column_stack([rx, ry])).query(np.column_stack([x, y]))[0] <= ON_TRACK_M)
        < ON_TRACK_FRACTION
    ):
        return np.zeros(0)
    to_line = np.hypot(x, y)
    nearest = int(np.argmin(to_line))
    if to_line[nearest] > ON_TRACK_M:
        return np.zeros(0)
    anchor = fx.distance_m[nearest]
    k = np.arange(
        np.ceil((fx.distance_m[0] - anchor) / track.length_m),
        np.floor((fx.distance_m[-1] - anchor) / track.length_m) + 1,
    )
    marks = anchor + k * track.length_m
    marks = marks[(marks > fx.distance_m[0]) & (marks < fx.distance_m[-1])]
    return np.asarray(np.interp(marks, fx.distance_m, fx.t), dtype=np.float64)


def _stint_rows(fx: _Fixes) -> list[dict[str, object]]:
    moving = fx.speed_kph >= STOPPED_KPH
    edges = np.diff(np.concatenate([[0], moving.astype(np.int8), [0]]))
    starts, ends = np.nonzero(edges == 1)[0], np.nonzero(edges == -1)[0] - 1
    stints: list[list[float]] = []
    for a, b in zip(fx.t[starts], fx.t[ends], strict=True):
        if stints and a - stints[-1][1] < STINT_JOIN_S:
            stints[-1][1] = float(b)
        else:
            stints.append([float(a), float(b)])
    rows: list[dict[str, object]] = []
    for start, end in stints:
        if end - start < MIN_STINT_S:
            continue
        rows.append(
            {
                "t_start_s": start,
                "t_end_s": end,
                "duration_s": end - start,
                "distance_m": float(
                    np.interp(end, fx.t, fx.distance_m) - np.interp(start, fx.t, fx.distance_m)
                ),
                "method": "stint",
                "kind": "incomplete",
                "valid": False,
                "reason": "moving stint: no lap timing",
            }
        )
    return rows


def _slice_frame(
    df: pl.DataFrame,
    *,
    track: Track,
    gates: Sequence[Gate],
    strategy: LapStrategy,
    min_lap_s: float,
    lap_marks_s: Sequence[float],
    repaired_t_s: Sequence[float],
) -> pl.DataFrame:
    session_id = None
    if "session_id" in df.columns:
        present = df["session_id"].drop_nulls()
        session_id = present[0] if present.len() else None
    fx = _Fixes.of(df)
    rows: list[dict[str, object]] = []
    if fx.t.size >= 2:
        none = (np.zeros(0), np.zeros(0, dtype=bool))
        use_gps = strategy in ("auto", "gps") and fx.gps_ok
        crossings, pit = _gps_bounds(fx, track, gates, min_lap_s) if use_gps else none
        use_distance = strategy in ("auto", "distance")
        marks = np.asarray([m for m in lap_marks_s if fx.t[0] < m < fx.t[-1]], dtype=np.float64)
        if strategy == "auto" and marks.size:
            rows = _lap_rows(fx, marks, np.zeros(marks.size, dtype=bool), "logger", track.length_m)
        elif crossings.size:
            rows = _lap_rows(fx, crossings, pit, "gps", track.length_m)
        elif use_distance and fx.wrap_t.size:
            no_pit = np.zeros(fx.wrap_t.size, dtype=bool)
            rows = _lap_rows(fx, fx.wrap_t, no_pit, "distance", track.length_m)
        elif use_distance and fx.gps_ok and (bounds := _distance_bounds(fx, track)).size:
            rows = _lap_rows(fx, bounds, np.zeros(bounds.size, dtype=bool), "distance", track.length_m)
        elif strategy in ("auto", "stint"):
            rows = _stint_rows(fx)
    computed = ("session_id", "lap", "clock_repairs")
    laps = pl.DataFrame(rows, schema={k: v for k, v in schema.LAPS.items() if k not in computed})
    return schema.conform(
        laps.with_columns(
            pl.lit(session_id, dtype=pl.String).alias("session_id"),
            pl.int_range(1, pl.len() + 1, dtype=pl.Int32).alias("lap"),
            _repairs_within(laps, repaired_t_s).alias("clock_repairs"),
        ),
        schema.LAPS,
    )


def _repairs_within(laps: pl.DataFrame, repaired_t_s: Sequence[float]) -> pl.Series:
    """How many of the repaired clock times (s) fall inside each lap (``t_start_s < t ≤ t_end_s``)."""
    t = np.sort(np.asarray(repaired_t_s, dtype=np.float64))
    start = np.searchsorted(t, laps["t_start_s"].to_numpy(), side="right")
    end = np.searchsorted(t, laps["t_end_s"].to_numpy(), side="right")
    return pl.Series(end - start, dtype=pl.Int32)


def slice_laps(
    lf: pl.LazyFrame,
    track: Track,
    *,
    gates: Sequence[Gate] = (),
    strategy: LapStrategy = "auto",
    min_lap_s: float | None = None,
    lap_marks_s: Sequence[float] = (),
    repaired_t_s: Sequence[float] = (),
) -> pl.LazyFrame:
    """The lap table of a session (``schema.LAPS`` columns, one row per lap, ``lap`` from 1).

    ``lap_marks_s`` (s, ``t_s``): the logger's own lap boundaries; with ``strategy="auto"`` they come first.
    ``repaired_t_s`` (s, ``t_s``): the times whose clock step was repaired on import
    (:mod:`pitwall.analysis.clock`); each lap's ``clock_repairs`` counts those inside it.

    Requires ``t_s`` (s) and ``lat_deg``/``lon_deg`` (degrees) or ``distance_m`` (metres, cumulative or
    wrapping to zero each lap); uses ``heading_deg`` (degrees) and ``speed_kph`` when present, ``session_id``
    is carried over (absent position columns count as no fix). ``gates`` are VBO
    ``[laptiming]`` gates tried before ``track.start_finish``; ``min_lap_s`` defaults to
    :func:`default_min_lap_s`. See the module docstring for the strategies and lap kinds. The crossing maths
    runs on the materialised columns inside one ``map_batches`` node (no collect in the pipeline).
    """
    available = lf.collect_schema().names()
    has_gps = "lat_deg" in available and "lon_deg" in available
    if "t_s" not in available or not (has_gps or "distance_m" in available):
        raise ValueError("slice_laps needs column t_s and lat_deg, lon_deg or distance_m")
    columns = [c for c in (*LAP_COLUMNS, "session_id") if c in available]
    if not has_gps:
        lf = lf.with_columns(
            pl.lit(None, dtype=pl.Float64).alias("lat_deg"), pl.lit(None, dtype=pl.Float64).alias("lon_deg")
        )
        columns = [*columns, "lat_deg", "lon_deg"]
    fn = partial(
        _slice_frame,
        track=track,
        gates=tuple(gates),
        strategy=strategy,
        min_lap_s=default_min_lap_s(track) if min_lap_s is None else min_lap_s,
        lap_marks_s=tuple(lap_marks_s),
        repaired_t_s=tuple(repaired_t_s),
    )
    return lf.select(columns).map_batches(fn, schema=pl.Schema(schema.LAPS))


def add_lap_column(lf: pl.LazyFrame, laps_lf: pl.LazyFrame) -> pl.LazyFrame:
    """Tag each telemetry row with the ``lap`` (Int32) whose ``[t_start_s, t_end_s]`` contains its ``t_s``.

    Requires ``t_s`` in ``lf`` (any existing ``lap`` column is replaced) and ``lap``, ``t_start_s``,
    ``t_end_s`` in ``laps_lf``. A sample exactly on a boundary belongs to the lap that starts there; samples
    outside every lap get null. Output is ordered by ``t_s``.
    """
    laps = laps_lf.select(
        pl.col("lap").cast(pl.Int32).alias("__lap"),
        pl.col("t_start_s").cast(pl.Float64).alias("__t0"),
        pl.col("t_end_s").cast(pl.Float64).alias("__t1"),
    ).sort("__t0")
    return (
        lf.drop("lap", strict=False)
        .sort("t_s")
        .join_asof(laps, left_on="t_s", right_on="__t0", strategy="backward")
        .with_columns(pl.when(pl.col("t_s") <= pl.col("__t1")).then(pl.col("__lap")).alias("lap"))
        .drop("__lap", "__t0", "__t1")
    )
