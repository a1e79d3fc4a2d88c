"""Incident detection: spins, off-track excursions, big lock-ups and stops on track (pure Polars).

Each incident is a run of consecutive samples (time order) meeting its rule:

* ``spin`` — ``|yaw_rate_dps| ≥ spin_dps`` while moving (``speed_kph ≥ min_speed_kph``). Where no gyro was
  logged, ``yaw_rate_dps`` is the GPS course rate (:func:`pitwall.analysis.friction.add_derived_g`);
* ``off_track`` — ``|offset_m| > half_width_m`` (lateral distance from the reference line) while moving,
  for at least ``off_track_min_s``;
* ``lock_up`` — deceleration beyond what tyres can give: ``g_long ≤ −lockup_g``;
* ``stop`` — ``speed_kph < stop_kph`` for at least ``stop_min_s`` on the track surface
  (``|offset_m| ≤ half_width_m``; pit boxes lie off the reference line).

``value`` is the run's peak (deg/s, m, g — the duration in s for stops) and ``threshold`` the rule's limit in the
same unit; ``severity`` is ``low`` below 1.25 × threshold, ``medium`` below 1.6 ×, else ``high`` (stops: 2 × / 5 ×
the minimum duration).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Final

import polars as pl


@dataclass(frozen=True)
class IncidentThresholds:
    """The rules' limits (see the module doc): ``spin_dps`` deg/s; ``half_width_m`` m (the track's half-width:
    beyond it is off track); ``off_track_min_s`` s; ``lockup_g`` g (the default 2 g is beyond a car without
    downforce); ``stop_kph`` km/h for at least ``stop_min_s`` s; ``min_speed_kph`` km/h (below it the car is not
    "moving" for spins and off-track)."""

    spin_dps: float = 90.0
    half_width_m: float = 7.5
    off_track_min_s: float = 0.3
    lockup_g: float = 2.0
    stop_kph: float = 5.0
    stop_min_s: float = 3.0
    min_speed_kph: float = 20.0

    def as_dict(self) -> dict[str, float]:
        return asdict(self)


INCIDENT_THRESHOLDS: Final = IncidentThresholds()
"""The default limits: what ``/incidents``, ``/clips``, the coach and the notebooks flag with."""

INCIDENT_COLUMNS: Final[dict[str, pl.DataType]] = {
    "kind": pl.String(),
    "t_s": pl.Float64(),
    "t_end_s": pl.Float64(),
    "duration_s": pl.Float64(),
    "s_m": pl.Float64(),
    "lap": pl.Int32(),
    "value": pl.Float64(),
    "threshold": pl.Float64(),
    "unit": pl.String(),
    "severity": pl.String(),
}
"""Output columns of :func:`detect_incidents`."""


def _severity(ratio: pl.Expr, medium_at: float, high_at: float) -> pl.Expr:
    return (
        pl.when(ratio >= high_at)
        .then(pl.lit("high"))
        .when(ratio >= medium_at)
        .then(pl.lit("medium"))
        .otherwise(pl.lit("low"))
    )


def _runs(
    lf: pl.LazyFrame,
    *,
    kind: str,
    flag: pl.Expr,
    value: pl.Expr,
    threshold: float,
    unit: str,
    min_duration_s: float,
) -> pl.LazyFrame:
    """One row per run of consecutive flagged samples lasting ≥ ``min_duration_s``; the peak of ``value`` gives
    the row's ``s_m`` and ``lap``."""
    at_peak = pl.col("_v").arg_max()
    runs = (
        lf.with_columns(flag.fill_null(False).alias("_f"), value.alias("_v"))
        .with_columns(pl.col("_f").rle_id().alias("_run"))
        .filter(pl.col("_f"))
        .group_by("_run")
        .agg(
            pl.col("t_s").first(),
            pl.col("t_s").last().alias("t_end_s"),
            pl.col("s_m").get(at_peak),
            pl.col("lap").get(at_peak),
            pl.col("_v").max().alias("value"),
        )
        .with_columns((pl.col("t_end_s") - pl.col("t_s")).alias("duration_s"))
        .filter(pl.col("duration_s") >= min_duration_s)
    )
    if kind == "stop":
        runs = runs.with_columns(pl.col("duration_s").alias("value"))
        severity = _severity(pl.col("value") / threshold, 2.0, 5.0)
    else:
        severity = _severity(pl.col("value") / threshold, 1.25, 1.6)
    return runs.select(
        pl.lit(kind).alias("kind"),
        "t_s",
        "t_end_s",
        "duration_s",
        "s_m",
        "lap",
        "value",
        pl.lit(threshold).alias("threshold"),
        pl.lit(unit).alias("unit"),
        severity.alias("severity"),
    ).cast(INCIDENT_COLUMNS)  # type: ignore[arg-type]


def detect_incidents(
    lf: pl.LazyFrame,
    *,
    spin_dps: float = INCIDENT_THRESHOLDS.spin_dps,
    half_width_m: float = INCIDENT_THRESHOLDS.half_width_m,
    off_track_min_s: float = INCIDENT_THRESHOLDS.off_track_min_s,
    lockup_g: float = INCIDENT_THRESHOLDS.lockup_g,
    stop_kph: float = INCIDENT_THRESHOLDS.stop_kph,
    stop_min_s: float = INCIDENT_THRESHOLDS.stop_min_s,
    min_speed_kph: float = INCIDENT_THRESHOLDS.min_speed_kph,
) -> pl.LazyFrame:
    """Every incident of the module doc, ordered by time (:data:`INCIDENT_COLUMNS`).

    Requires ``t_s`` (s, ordered, one session), ``s_m``, ``offset_m`` (m, null when unknown), ``lap``,
    ``speed_kph``, ``yaw_rate_dps`` (deg/s) and ``g_long`` (g) — yaw and g measured or derived.
    """
    moving = pl.col("speed_kph") >= min_speed_kph
    offset = pl.col("offset_m").abs()
    parts = [
        _runs(
            lf,
            kind="spin",
            flag=moving & (pl.col("yaw_rate_dps").abs() >= spin_dps),
            value=pl.col("yaw_rate_dps").abs(),
            threshold=spin_dps,
            unit="deg/s",
            min_duration_s=0.0,
        ),
        _runs(
            lf,
            kind="off_track",
            flag=moving & (offset > half_width_m),
            value=offset,
            threshold=half_width_m,
            unit="m",
            min_duration_s=off_track_min_s,
        ),
        _runs(
            lf,
            kind="lock_up",
            flag=pl.col("g_long") <= -lockup_g,
            value=-pl.col("g_long"),
            threshold=lockup_g,
            unit="g",
            min_duration_s=0.0,
        ),
        _runs(
            lf,
            kind="stop",
            flag=(pl.col("speed_kph") < stop_kph) & (offset <= half_width_m),
            value=-pl.col("speed_kph"),
            threshold=stop_min_s,
            unit="s",
            min_duration_s=stop_min_s,
        ),
    ]
    return pl.concat(parts).sort("t_s", "kind")
