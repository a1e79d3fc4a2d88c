"""ADR-015 signals: the registry, per-session capabilities, the tall-sink ingest and the resampling synchroniser."""

from __future__ import annotations

import math
from typing import Annotated, Final, Literal

import polars as pl
from litestar import Router, get, post
from litestar.datastructures import State
from litestar.params import Parameter

from pitwall.analysis.resample import AXIS_COLUMN, RESAMPLABLE, pick_samples, resample_samples
from pitwall.api.deps import store_of
from pitwall.api.errors import ApiError
from pitwall.api.schemas import (
    Appended,
    Capabilities,
    Registry,
    ResampledSignal,
    ResampledSignals,
    SignalsIn,
    json_rows,
)
from pitwall.schema import TELEMETRY
from pitwall.store.base import Store

MAX_NAMES: Final = 32
"""Signals per ``/signals`` request."""

MAX_POINTS: Final = 200_000
"""Grid points per signal per ``/signals`` request (e.g. 1 h at 50 Hz is 180,000)."""


@get("/signals/registry", operation_id="signalRegistry", sync_to_thread=True)
def registry(state: State) -> Registry:
    """The signal catalogue: the 54 seeded OBD-II PIDs plus every signal discovered at runtime (name, unit,
    source, description, pid, min_value, max_value)."""
    rows = json_rows(store_of(state).list_registry())
    return Registry(signals=rows, count=len(rows))


def _capabilities(session_id: str, frame: pl.DataFrame) -> Capabilities:
    rows = json_rows(frame)
    return Capabilities(session_id=session_id, capabilities=rows, count=len(rows))


@get("/session/{session_id:str}/capabilities", operation_id="sessionCapabilities", sync_to_thread=True)
def capabilities(state: State, session_id: str) -> Capabilities:
    """Per-signal inventory of a session: ``n_samples``, ``mean_hz``, ``useful`` (enough rate and variance)
    and ``coaches`` (comma-separated coaches the signal enables). 404 unknown session."""
    store = store_of(state)
    store.get_session(session_id)
    return _capabilities(session_id, store.get_capabilities(session_id))


@post(
    "/session/{session_id:str}/capabilities/recompute",
    status_code=200,
    operation_id="recomputeCapabilities",
    sync_to_thread=True,
)
def recompute_capabilities(state: State, session_id: str) -> Capabilities:
    """Rebuild the session's capabilities from its stored data (call after a bulk ingest); returns them."""
    store = store_of(state)
    store.get_session(session_id)
    return _capabilities(session_id, store.recompute_capabilities(session_id))


@post("/session/{session_id:str}/signals", status_code=200, operation_id="appendSignals", sync_to_thread=True)
def append_signals(state: State, session_id: str, data: SignalsIn) -> Appended:
    """ADR-015 tall sink: append ``[signal_name, t_s, value]`` tuples. Names new to the registry are
    registered (source ``api``) and listed in ``registered``. Canonical column names belong in ``/frames``
    (400), as do empty names."""
    store = store_of(state)
    store.get_session(session_id)
    if not data.signals:
        raise ApiError(400, "invalid request", "no signals")
    names = {name for name, _, _ in data.signals}
    bad = sorted(name for name in names if not name.strip() or len(name) > 128 or name in TELEMETRY)
    if bad:
        raise ApiError(400, "invalid signal name", {"names": bad, "hint": "canonical channels go to /frames"})
    known = set(store.list_registry()["signal_name"].to_list())
    rows = pl.DataFrame(
        data.signals, schema={"signal_name": pl.String, "t_s": pl.Float64, "value": pl.Float64}, orient="row"
    )
    appended = store.append_signals(session_id, rows)
    return Appended(session_id=session_id, appended=appended, registered=sorted(names - known))


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


@get("/session/{session_id:str}/signals", operation_id="sessionSignals", sync_to_thread=True)
def session_signals(
    state: State,
    session_id: str,
    names: Annotated[str, Parameter(description="comma-separated signal names (canonical or tall)")],
    axis: Annotated[Literal["time", "distance"], Parameter(description="common axis")] = "time",
    rate_hz: Annotated[
        float | None, Parameter(gt=0, le=1000, description="time axis: points per second (10)")
    ] = None,
    step_m: Annotated[
        float | None, Parameter(gt=0, le=10_000, description="distance axis: metres per point (5)")
    ] = None,
    interp: Annotated[
        Literal["linear", "previous"], Parameter(description="linear or sample-and-hold")
    ] = "linear",
    t_from: Annotated[float | None, Parameter(description="window start, s since session start")] = None,
    t_to: Annotated[float | None, Parameter(description="window end, s since session start")] = None,
) -> ResampledSignals:
    """Resample signals onto one common axis: ``time`` (``t_s``, every ``1/rate_hz`` s over ``t_from``..``t_to``
    or the data's range) or ``distance`` (``distance_m``, every ``step_m`` m over the distance covered between
    ``t_from`` and ``t_to``). Per point, ``source`` says ``measured`` or ``interpolated`` (null: no data; never
    extrapolated). Names without data in this session are listed in ``missing``. 400: bad parameters, unknown
    name, over 200,000 points; 404: unknown session or none of the signals has data."""
    if (axis == "time" and step_m is not None) or (axis == "distance" and rate_hz is not None):
        raise ApiError(400, "invalid request", "rate_hz goes with axis=time, step_m with axis=distance")
    if t_from is not None and t_to is not None and t_to < t_from:
        raise ApiError(400, "invalid request", "t_to is before t_from")
    store = store_of(state)
    store.get_session(session_id)
    wanted = _names(names, store)
    x_name = AXIS_COLUMN[axis]
    wide_cols = sorted({"t_s", x_name, *[n for n in wanted if n in RESAMPLABLE]})
    wide = store.read_telemetry(session_id, columns=wide_cols).lazy()
    tall = store.read_signals(session_id, [n for n in wanted if n not in RESAMPLABLE]).lazy()
    window = (t_from, t_to) if axis == "distance" else (None, None)
    samples = pick_samples(wide, tall, names=wanted, axis=axis, t_from=window[0], t_to=window[1]).collect()
    if samples.is_empty():
        raise ApiError(404, "no data", {"session_id": session_id, "names": wanted, "axis": axis})
    step = 1.0 / (rate_hz or 10.0) if axis == "time" else (step_m or 5.0)
    x_from = t_from if axis == "time" and t_from is not None else float(samples["x"].min())  # type: ignore[arg-type]
    x_to = t_to if axis == "time" and t_to is not None else float(samples["x"].max())  # type: ignore[arg-type]
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
        samples.lazy(), names=wanted, step=step, interp=interp, x_name=x_name, x_from=x_from, x_to=x_to
    ).collect()
    per_name = {str(key[0]): part for key, part in out.partition_by("signal_name", as_dict=True).items()}
    first = per_name[wanted[0]]
    return ResampledSignals(
        session_id=session_id,
        axis=axis,
        x_name=x_name,
        step=step,
        interp=interp,
        n=first.height,
        x=first[x_name].to_list(),
        signals={
            name: ResampledSignal(
                values=per_name[name]["value"].to_list(), source=per_name[name]["source"].to_list()
            )
            for name in wanted
        },
        missing=[name for name in wanted if per_name[name]["value"].null_count() == per_name[name].height],
    )


router = Router(
    "/", route_handlers=[registry, capabilities, recompute_capabilities, append_signals, session_signals]
)
