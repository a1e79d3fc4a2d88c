"""Pedal behaviour: time-weighted samples and the four pedal states (pure Polars).

Every sample stands for the time until the next one (``dt_s``, see :func:`add_sample_dt`), so fractions are
fractions of *time*, not of rows, and stay right when the logging rate varies.

The four states, decided per sample in this order (the first that applies wins):

* ``trail_brake`` — brake on while the car turns (``|g_lat| ≥ turn_g``): braking carried into the corner;
* ``brake_only`` — brake on, car (nearly) straight; a brake pressed together with the throttle counts as brake;
* ``throttle_only`` — throttle on, brake off;
* ``coast`` — neither pedal on.

"Brake on" uses ``brake_bar`` when the session has it (default threshold 2 bar), else ``brake_pct``
(default 5 %); routes report the channel used.

"Not logged" is not zero: a state whose decision needs a channel the data does not carry (no value at all in
the frame or group) has null seconds and fraction, never 0 % or 100 %. ``brake_only`` and ``trail_brake`` need a
brake channel, ``coast`` needs throttle and brake, ``throttle_only`` needs throttle (without a brake channel, a
brake pressed together with the throttle cannot be seen, so it counts as throttle).
"""

from __future__ import annotations

from typing import Final, Literal

import polars as pl

from pitwall.analysis.capabilities import not_logged_expr

PEDAL_STATES: Final = ("throttle_only", "brake_only", "trail_brake", "coast")
"""The four pedal states, in display order."""

PEDAL_CHANNELS: Final = ("throttle_pct", "brake_bar", "brake_pct", "g_lat")
"""The channels the pedal states read."""

BrakeChannel = Literal["brake_bar", "brake_pct"]

DEFAULT_BRAKE_BAR: Final = 2.0
"""Brake-on threshold on ``brake_bar``, bar."""
DEFAULT_BRAKE_PCT: Final = 5.0
"""Brake-on threshold on ``brake_pct``, percent."""
DEFAULT_BRAKE_TH: Final[dict[str, float]] = {"brake_bar": DEFAULT_BRAKE_BAR, "brake_pct": DEFAULT_BRAKE_PCT}
"""The brake-on threshold of each brake channel, in its unit (:data:`BRAKE_UNITS`)."""
BRAKE_UNITS: Final[dict[str, str]] = {"brake_bar": "bar", "brake_pct": "%"}
"""The unit of each brake channel."""
DEFAULT_THROTTLE_PCT: Final = 5.0
"""Throttle-on threshold, percent."""
DEFAULT_TURN_G: Final = 0.3
"""Trail braking: braking while ``|g_lat|`` is at least this, g."""


def add_sample_dt(lf: pl.LazyFrame, *, max_gap_s: float = 0.5) -> pl.LazyFrame:
    """Add ``dt_s``: the seconds each sample stands for (time to the next sample; the last row repeats the
    previous interval). Intervals longer than ``max_gap_s`` (logging drop-outs, or rows of non-adjacent laps
    put side by side) count as 0 s: time without data is not attributed to anything.

    Requires ``t_s`` (seconds), rows ordered by ``t_s``.
    """
    forward = pl.col("t_s").shift(-1) - pl.col("t_s")
    dt = forward.fill_null(pl.col("t_s") - pl.col("t_s").shift(1)).fill_null(0.0)
    return lf.with_columns(pl.when(dt > max_gap_s).then(0.0).otherwise(dt).alias("dt_s"))


def brake_on_expr(*, brake_th: float | None = None, decel_g: float | None = None) -> pl.Expr:
    """Boolean: the brake is applied on this sample.

    ``brake_bar ≥ brake_th`` (default 2 bar) when the frame has any ``brake_bar`` value, else
    ``brake_pct ≥ brake_th`` (default 5 %). With ``decel_g`` set and neither channel present, a deceleration
    ``g_long ≤ -decel_g`` counts as braking (a *derived* brake signal for brake-point detection only).
    Requires ``brake_bar`` and ``brake_pct`` (nullable), and ``g_long`` when ``decel_g`` is given.
    """
    bar_th = DEFAULT_BRAKE_BAR if brake_th is None else brake_th
    pct_th = DEFAULT_BRAKE_PCT if brake_th is None else brake_th
    by_pct = pl.col("brake_pct").fill_null(0.0) >= pct_th
    if decel_g is not None:
        by_pct = (
            pl.when(pl.col("brake_pct").is_not_null().any())
            .then(by_pct)
            .otherwise(pl.col("g_long").fill_null(0.0) <= -decel_g)
        )
    return (
        pl.when(pl.col("brake_bar").is_not_null().any())
        .then(pl.col("brake_bar").fill_null(0.0) >= bar_th)
        .otherwise(by_pct)
    )


def brake_channel_expr() -> pl.Expr:
    """The brake channel :func:`brake_on_expr` reads (``"brake_bar"``, ``"brake_pct"`` or null), as a scalar."""
    return (
        pl.when(pl.col("brake_bar").is_not_null().any())
        .then(pl.lit("brake_bar"))
        .when(pl.col("brake_pct").is_not_null().any())
        .then(pl.lit("brake_pct"))
        .otherwise(pl.lit(None, dtype=pl.String))
        .alias("brake_channel")
    )


def brake_logged_expr() -> pl.Expr:
    """Scalar boolean: the frame (or group) has any ``brake_bar`` or ``brake_pct`` value."""
    return pl.col("brake_bar").is_not_null().any() | pl.col("brake_pct").is_not_null().any()


def throttle_logged_expr() -> pl.Expr:
    """Scalar boolean: the frame (or group) has any ``throttle_pct`` value."""
    return pl.col("throttle_pct").is_not_null().any()


def logged_frac_expr(part: pl.Expr, whole: pl.Expr, logged: pl.Expr) -> pl.Expr:
    """``part / whole`` where ``logged`` holds and ``whole > 0``, else null (not logged is not zero)."""
    return pl.when(logged & (whole > 0)).then(part / whole).otherwise(None)


STATE_NEEDS: Final[dict[str, tuple[str, ...]]] = {
    "throttle_only": ("throttle",),
    "brake_only": ("brake",),
    "trail_brake": ("brake",),
    "coast": ("throttle", "brake"),
}
"""The pedal channels each state's decision needs (see the module doc)."""


def throttle_on_expr(*, throttle_th: float = DEFAULT_THROTTLE_PCT) -> pl.Expr:
    """Boolean: ``throttle_pct ≥ throttle_th`` (percent). Requires ``throttle_pct`` (null counts as off)."""
    return pl.col("throttle_pct").fill_null(0.0) >= throttle_th


def add_pedal_state(
    lf: pl.LazyFrame,
    *,
    throttle_th: float = DEFAULT_THROTTLE_PCT,
    brake_th: float | None = None,
    turn_g: float = DEFAULT_TURN_G,
) -> pl.LazyFrame:
    """Add ``pedal_state`` (one of :data:`PEDAL_STATES`, see the module doc).

    Requires ``throttle_pct`` (%), ``brake_bar`` (bar) / ``brake_pct`` (%), ``g_lat`` (g; measured or derived).
    """
    brake = brake_on_expr(brake_th=brake_th)
    turning = pl.col("g_lat").abs().fill_null(0.0) >= turn_g
    state = (
        pl.when(brake & turning)
        .then(pl.lit("trail_brake"))
        .when(brake)
        .then(pl.lit("brake_only"))
        .when(throttle_on_expr(throttle_th=throttle_th))
        .then(pl.lit("throttle_only"))
        .otherwise(pl.lit("coast"))
    )
    return lf.with_columns(state.alias("pedal_state"))


def _state_totals() -> list[pl.Expr]:
    total = pl.col("dt_s").sum()
    logged = {"throttle": throttle_logged_expr(), "brake": brake_logged_expr()}
    exprs: list[pl.Expr] = [total.alias("total_s")]
    for state in PEDAL_STATES:
        known = pl.all_horizontal(*(logged[need] for need in STATE_NEEDS[state]))
        seconds = pl.col("dt_s").filter(pl.col("pedal_state") == state).sum()
        exprs.append(pl.when(known).then(seconds).otherwise(None).alias(f"{state}_s"))
        exprs.append(logged_frac_expr(seconds, total, known).alias(f"{state}_frac"))
    return exprs


def pedal_time_by_lap(
    lf: pl.LazyFrame,
    *,
    throttle_th: float = DEFAULT_THROTTLE_PCT,
    brake_th: float | None = None,
    turn_g: float = DEFAULT_TURN_G,
) -> pl.LazyFrame:
    """Seconds and time fractions of each pedal state per lap.

    Requires ``t_s`` (s, ordered), ``lap`` and the columns of :func:`add_pedal_state`. Output, one row per lap
    (rows with a null ``lap`` are dropped), sorted by lap: ``lap``, ``total_s``, and for each state
    ``<state>_s`` (seconds) and ``<state>_frac`` (0..1 of ``total_s``), both null when the lap lacks a channel
    the state needs (:data:`STATE_NEEDS`).
    """
    states = add_pedal_state(
        add_sample_dt(lf), throttle_th=throttle_th, brake_th=brake_th, turn_g=turn_g
    ).filter(pl.col("lap").is_not_null())
    return states.group_by("lap").agg(_state_totals()).sort("lap")


def pedal_time_session(
    lf: pl.LazyFrame,
    *,
    throttle_th: float = DEFAULT_THROTTLE_PCT,
    brake_th: float | None = None,
    turn_g: float = DEFAULT_TURN_G,
) -> pl.LazyFrame:
    """The same totals as :func:`pedal_time_by_lap` over every row of ``lf`` (one row, no ``lap`` column),
    plus ``brake_channel`` (the channel used, null when none) and ``not_logged`` (which of ``throttle_pct``,
    ``brake_bar``, ``brake_pct`` and ``g_lat`` have no value)."""
    states = add_pedal_state(add_sample_dt(lf), throttle_th=throttle_th, brake_th=brake_th, turn_g=turn_g)
    present = lf.collect_schema().names()
    return states.select([*_state_totals(), brake_channel_expr(), not_logged_expr(PEDAL_CHANNELS, present)])
