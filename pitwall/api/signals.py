"""ADR-015 signals: the registry, per-session capabilities, the tall-sink ingest and the resampling synchroniser."""

from __future__ import annotations

import math
from typing import Annotated, Any, Final, Literal

import polars as pl
from litestar import Router, get, post
from litestar.datastructures import State
from litestar.params import Parameter

from pitwall.analysis.capabilities import COACH_REQUIREMENTS, MIN_USEFUL_HZ
from pitwall.analysis.resample import AXIS_COLUMN, RESAMPLABLE, pick_samples, resample_samples
from pitwall.api.deps import live_of, store_of
from pitwall.api.errors import ApiError
from pitwall.api.schemas import (
    Appended,
    Capabilities,
    Registry,
    ResampledSignal,
    ResampledSignals,
    SignalsIn,
    float_rows_json,
    json_array,
    json_rows,
)
from pitwall.api.sessions import session_for_write
from pitwall.schema import TELEMETRY, TELEMETRY_SIGNALS, channel_kind
from pitwall.store.base import Store
from pitwall.validate import RANGES

T_MIN, T_MAX = RANGES["t_s"]
"""Bounds of ``t_from``/``t_to`` (s): the plausible session times of :mod:`pitwall.validate`."""

MAX_NAMES: Final = 32
"""Signals per ``/signals`` request."""

MAX_POINTS: Final = 200_000
"""Grid points per signal per ``/signals`` request (e.g. 1 h at 50 Hz is 180,000)."""


REGISTRY_ALIASES: Final = {
    "name": "signal_name",
    "units": "unit",
    "group": "source",
    "semantics": "description",
    "obd2_pid": "pid",
}
"""The original bridge's registry key → ours (the value is repeated under the original's name)."""

INTERP_NAMES: Final[dict[str, Literal["linear", "previous"]]] = {
    "linear": "linear",
    "previous": "previous",
    "lerp": "linear",
    "hold": "previous",
}
"""``interp`` values accepted → ours (``lerp``/``hold`` are the original bridge's names)."""

TIME_AXES: Final = frozenset({"time", "gps", "t", "lap_distance"})
"""``axis`` values on the time grid (``gps``/``t``: the original's names; ``lap_distance`` adds distance)."""


def _can_state(state: State) -> dict[str, Any]:
    """The original's ``can_state`` block from the live reader's figures (nulls when no reader runs)."""
    live = live_of(state)
    stats: dict[str, Any] = live.stats() if live is not None else {}
    connected = stats.get("connected")
    return {
        "link_state": None if connected is None else ("up" if connected else "down"),
        "can_state": stats.get("state"),
        "bitrate": stats.get("bitrate"),
        "rx_packets": stats.get("frames_total"),
        "interface": stats.get("interface"),
        "channel": stats.get("channel"),
        "fps": stats.get("fps"),
        "errors": stats.get("last_error"),
    }


@get("/signals/registry", operation_id="signal_registry", sync_to_thread=True)
def registry(
    state: State,
    include_can_state: Annotated[
        bool, Parameter(description="add the live CAN reader's can_state block")
    ] = False,
) -> Registry:
    """The signal catalogue: the 54 seeded OBD-II PIDs plus every signal discovered at runtime (name, unit,
    source, description, pid, min_value, max_value), each also under the original's key names (name, units,
    group, semantics, obd2_pid, min_useful_hz in Hz); ``can_state`` with ``include_can_state=true``."""
    rows = [
        {
            **row,
            **{alias: row.get(ours) for alias, ours in REGISTRY_ALIASES.items()},
            "min_useful_hz": MIN_USEFUL_HZ,
        }
        for row in json_rows(store_of(state).list_registry())
    ]
    return Registry(signals=rows, count=len(rows), can_state=_can_state(state) if include_can_state else None)


def _capabilities(store: Store, session_id: str, frame: pl.DataFrame) -> Capabilities:
    rows = json_rows(frame)
    available = sorted({c for row in rows for c in str(row.get("coaches") or "").split(",") if c})
    span = store.read_telemetry(session_id, columns=["t_s"]).select(
        (pl.col("t_s").max() - pl.col("t_s").min()).alias("d")
    )
    return Capabilities(
        session_id=session_id,
        capabilities=rows,
        count=len(rows),
        signals=[
            {
                "name": r["signal_name"],
                "n_samples": r["n_samples"],
                "mean_hz": r["mean_hz"],
                "useful": r["useful"],
            }
            for r in rows
        ],
        duration_s=span["d"][0],
        coaches_available=available,
        coaches_disabled=sorted(set(COACH_REQUIREMENTS) - set(available)),
    )


@get("/session/{session_id:str}/capabilities", operation_id="session_capabilities", sync_to_thread=True)
def capabilities(state: State, session_id: str) -> Capabilities:
    """Per-signal inventory of a session: ``n_samples``, ``mean_hz``, ``useful`` (enough rate and variance)
    and ``coaches`` (comma-separated coaches the signal enables); the original's ``signals``, ``duration_s``
    and ``coaches_available``/``coaches_disabled`` beside them. 404 unknown session."""
    store = store_of(state)
    store.get_session(session_id)
    return _capabilities(store, session_id, store.get_capabilities(session_id))


@post(
    "/session/{session_id:str}/capabilities/recompute",
    status_code=200,
    operation_id="recompute_capabilities",
    sync_to_thread=True,
)
def recompute_capabilities(state: State, session_id: str) -> Capabilities:
    """Rebuild the session's capabilities from its stored data (call after a bulk ingest); returns them."""
    store = store_of(state)
    store.get_session(session_id)
    return _capabilities(store, session_id, store.recompute_capabilities(session_id))


@post(
    "/session/{session_id:str}/signals", status_code=200, operation_id="append_signals", sync_to_thread=True
)
def append_signals(state: State, session_id: str, data: SignalsIn) -> Appended:
    """ADR-015 tall sink: append ``[signal_name, t_s, value]`` tuples. Names new to the registry are
    registered (source ``api``) and listed in ``registered``. Canonical column names belong in ``/frames``
    (400), as do empty names. A session id that does not exist yet is created as ``/frames`` creates it
    (``created``: true, ``meta.implicit``); a refused request leaves no session behind."""
    store_of(state)  # 503 without a database, before any validation
    if not data.signals:
        raise ApiError(400, "invalid request", "no signals")
    names = {name for name, _, _ in data.signals}
    bad = sorted(name for name in names if not name.strip() or len(name) > 128 or name in TELEMETRY)
    if bad:
        raise ApiError(400, "invalid signal name", {"names": bad, "hint": "canonical channels go to /frames"})
    rows = pl.DataFrame(
        data.signals, schema={"signal_name": pl.String, "t_s": pl.Float64, "value": pl.Float64}, orient="row"
    )
    store, _, created = session_for_write(state, session_id, None, None)
    known = set(store.list_registry()["signal_name"].to_list())
    try:
        appended = store.append_signals(session_id, rows)
    except Exception:
        if created:  # nothing half-written: the session this request created goes again
            store.delete_session(session_id)
        raise
    return Appended(
        session_id=session_id, appended=appended, registered=sorted(names - known), created=created
    )


def _names(raw: str, store: Store) -> list[str]:
    names = list(dict.fromkeys(name.strip() for name in raw.split(",") if name.strip()))
    if not names:
        raise ApiError(400, "invalid request", "names: give at least one signal name")
    if len(names) > MAX_NAMES:
        raise ApiError(400, "invalid request", f"names: at most {MAX_NAMES} signals")
    tall = [name for name in names if name not in RESAMPLABLE]
    known = set(store.list_registry()["signal_name"].to_list()) if tall else set()
    unknown = [name for name in tall if name not in known]
    if unknown:
        raise ApiError(
            400,
            "unknown signal",
            {"names": unknown, "hint": "canonical numeric columns or names of /signals/registry"},
        )
    return names


@get("/session/{session_id:str}/signals", operation_id="session_signals", sync_to_thread=True)
def session_signals(
    state: State,
    session_id: str,
    names: Annotated[str, Parameter(description="comma-separated signal names (canonical or tall)")],
    axis: Annotated[
        str,
        Parameter(
            max_length=100,
            description="common axis: time | distance; the original's gps | t (time), lap_distance (time, rows "
            "carry distance_m) or a signal name (time grid at that signal's median sample step and range)",
        ),
    ] = "time",
    rate_hz: Annotated[
        float | None, Parameter(ge=0.001, le=1000, description="time axis: points per second (10)")
    ] = None,
    step_m: Annotated[
        float | None, Parameter(ge=0.01, le=10_000, description="distance axis: metres per point (5)")
    ] = None,
    interp: Annotated[
        Literal["linear", "previous", "lerp", "hold"],
        Parameter(description="linear (lerp) or sample-and-hold (previous, hold)"),
    ] = "linear",
    t_from: Annotated[
        float | None, Parameter(ge=T_MIN, le=T_MAX, description="window start, s since session start")
    ] = None,
    t_to: Annotated[
        float | None, Parameter(ge=T_MIN, le=T_MAX, description="window end, s since session start")
    ] = None,
) -> ResampledSignals:
    """Resample signals onto one common axis: ``time`` (``t_s``, every ``1/rate_hz`` s over ``t_from``..``t_to``
    or the data's range) or ``distance`` (``distance_m``, every ``step_m`` m over the distance covered between
    ``t_from`` and ``t_to``). Per point, ``source`` says ``measured`` or ``interpolated`` (null: no data; never
    extrapolated). Names without data in this session are listed in ``missing``. The original bridge's
    parameters are accepted (``interp=hold|lerp``, ``axis=gps|t|lap_distance|<signal>``) and its keys added
    (``rows``, ``names``, ``count``, ``rate_hz``, ``t_from``, ``t_to``, ``interp_original``). 400: bad
    parameters, unknown name, over 200,000 points; 404: unknown session or none of the signals has data."""
    interp_ours = INTERP_NAMES[interp]
    requested_axis = axis
    store = store_of(state)
    store.get_session(session_id)
    if axis not in TIME_AXES and axis != "distance":
        (axis_signal,) = _names(axis, store)
        t_from, t_to, rate_hz = _signal_axis(store, session_id, axis_signal, t_from, t_to, rate_hz)
    grid: Literal["time", "distance"] = "distance" if axis == "distance" else "time"
    if (grid == "time" and step_m is not None) or (grid == "distance" and rate_hz is not None):
        raise ApiError(400, "invalid request", "rate_hz goes with axis=time, step_m with axis=distance")
    if t_from is not None and t_to is not None and t_to < t_from:
        raise ApiError(400, "invalid request", "t_to is before t_from")
    wanted = _names(names, store)
    with_distance = requested_axis == "lap_distance" and "distance_m" not in wanted
    x_name = AXIS_COLUMN[grid]
    sampled = [*wanted, "distance_m"] if with_distance else wanted
    wide_cols = sorted({"t_s", x_name, *[n for n in sampled if n in RESAMPLABLE]})
    wide = store.read_telemetry(session_id, columns=wide_cols).lazy()
    tall_names = [n for n in wanted if n not in RESAMPLABLE]
    tall = (
        store.read_signals(session_id, tall_names) if tall_names else pl.DataFrame(schema=TELEMETRY_SIGNALS)
    )
    window = (t_from, t_to) if grid == "distance" else (None, None)
    samples = pick_samples(
        wide, tall.lazy(), names=sampled, axis=grid, t_from=window[0], t_to=window[1]
    ).collect()
    if samples.is_empty():
        raise ApiError(404, "no data", {"session_id": session_id, "names": wanted, "axis": grid})
    step = 1.0 / (rate_hz or 10.0) if grid == "time" else (step_m or 5.0)
    x_from = t_from if grid == "time" and t_from is not None else float(samples["x"].min())  # type: ignore[arg-type]
    x_to = t_to if grid == "time" and t_to is not None else float(samples["x"].max())  # type: ignore[arg-type]
    points = math.floor((x_to - x_from) / step + 1e-9) + 1
    if points < 1:
        raise ApiError(404, "no data", f"no samples between t_from={t_from} and t_to={t_to}")
    if points > MAX_POINTS:
        raise ApiError(
            400,
            "too many points",
            f"{points} points per signal (max {MAX_POINTS}): lower the rate or narrow t_from/t_to",
        )
    out = resample_samples(
        samples.lazy(), names=sampled, step=step, interp=interp_ours, x_name=x_name, x_from=x_from, x_to=x_to
    ).collect()
    n = out.height // len(sampled)  # one block of the same n grid points per name, in the order of sampled
    per_name = {name: out.slice(k * n, n) for k, name in enumerate(sampled)}
    x = per_name[wanted[0]][x_name]
    rows = pl.DataFrame(
        {"t" if grid == "time" else x_name: x, **{name: per_name[name]["value"] for name in sampled}}
    )
    return ResampledSignals(
        session_id=session_id,
        axis=grid,
        x_name=x_name,
        step=step,
        interp=interp_ours,
        n=n,
        x=json_array(x),
        signals={
            name: ResampledSignal(
                values=json_array(per_name[name]["value"]),
                source=json_array(per_name[name]["source"]),
                kind=channel_kind(name),
            )
            for name in wanted
        },
        missing=[name for name in wanted if per_name[name]["value"].null_count() == n],
        interp_original="lerp" if interp_ours == "linear" else "hold",
        rate_hz=1.0 / step if grid == "time" else None,
        t_from=x_from if grid == "time" else t_from,
        t_to=x_to if grid == "time" else t_to,
        names=wanted,
        rows=float_rows_json(rows),
        count=n,
    )


def _signal_axis(
    store: Store, session_id: str, name: str, t_from: float | None, t_to: float | None, rate_hz: float | None
) -> tuple[float | None, float | None, float | None]:
    """The window and rate of a per-signal axis: the signal's sample range (within ``t_from``..``t_to``) and
    its median sample rate, unless given. 404 when the signal has no samples in this session."""
    if name in RESAMPLABLE:
        times = store.read_telemetry(session_id, columns=["t_s", name]).drop_nulls(name)["t_s"]
    else:
        times = store.read_signals(session_id, [name])["t_s"]
    times = times.cast(pl.Float64).sort()
    if t_from is not None:
        times = times.filter(times >= t_from)
    if t_to is not None:
        times = times.filter(times <= t_to)
    if times.len() == 0:
        raise ApiError(404, "no data", {"session_id": session_id, "axis": name})
    step = times.diff().drop_nulls().filter(times.diff().drop_nulls() > 0).median()
    rate = rate_hz if rate_hz is not None else (1.0 / float(step) if step else None)  # type: ignore[arg-type]
    return float(times[0]), float(times[-1]), rate


router = Router(
    "/",
    route_handlers=[registry, capabilities, recompute_capabilities, append_signals, session_signals],
    tags=["signals"],
)
