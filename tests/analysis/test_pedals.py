from __future__ import annotations

import polars as pl
import pytest
from polars.testing import assert_frame_equal

from pitwall.analysis.pedals import add_pedal_state, add_sample_dt, pedal_time_by_lap, pedal_time_session


def frame(**columns: list[object]) -> pl.LazyFrame:
    schema = {
        "t_s": pl.Float64,
        "lap": pl.Int32,
        "throttle_pct": pl.Float64,
        "brake_bar": pl.Float64,
        "brake_pct": pl.Float64,
        "g_lat": pl.Float64,
    }
    n = len(columns["t_s"])
    data = {name: columns.get(name, [None] * n) for name in schema}
    return pl.LazyFrame(data, schema=schema)


def test_sample_dt_is_time_to_next_sample_and_gaps_count_zero() -> None:
    lf = frame(t_s=[0.0, 0.1, 0.3, 5.0, 5.1])
    out = add_sample_dt(lf, max_gap_s=0.5).collect()["dt_s"].to_list()
    assert out == pytest.approx([0.1, 0.2, 0.0, 0.1, 0.1])


def test_states_follow_priority_and_bar_channel() -> None:
    lf = frame(
        t_s=[0.0, 0.1, 0.2, 0.3, 0.4],
        throttle_pct=[100.0, 4.9, 50.0, 0.0, 0.0],
        brake_bar=[0.0, 0.0, 30.0, 30.0, 1.9],
        brake_pct=[90.0, 90.0, 90.0, 90.0, 90.0],  # ignored: brake_bar is present
        g_lat=[0.0, 0.0, -0.5, 0.1, 0.0],
    )
    states = add_pedal_state(lf).collect()["pedal_state"].to_list()
    assert states == ["throttle_only", "coast", "trail_brake", "brake_only", "coast"]


def test_brake_pct_used_when_no_bar_and_thresholds_apply() -> None:
    lf = frame(
        t_s=[0.0, 0.1, 0.2], throttle_pct=[10.0, 10.0, 0.0], brake_pct=[0.0, 6.0, 4.0], g_lat=[0.0, 0.0, 0.0]
    )
    assert add_pedal_state(lf).collect()["pedal_state"].to_list() == ["throttle_only", "brake_only", "coast"]
    tuned = add_pedal_state(lf, throttle_th=20.0, brake_th=3.0).collect()["pedal_state"].to_list()
    assert tuned == ["coast", "brake_only", "brake_only"]


def test_time_fractions_per_lap_and_session() -> None:
    lf = frame(
        t_s=[0.0, 0.1, 0.2, 0.3, 0.4, 2.0, 2.1],
        lap=[1, 1, 1, 2, 2, 2, None],
        throttle_pct=[100.0, 50.0, 0.0, 0.0, 0.0, 3.0, 100.0],
        brake_pct=[0.0, 0.0, 10.0, 10.0, 0.0, 0.0, 0.0],
        g_lat=[0.0, 0.0, 0.5, 0.0, 0.0, 0.0, 0.0],
    )
    by_lap = pedal_time_by_lap(lf).collect()
    expected = pl.DataFrame(
        {
            "lap": [1, 2],
            "total_s": [0.3, 0.2],
            "throttle_only_s": [0.2, 0.0],
            "throttle_only_frac": [2 / 3, 0.0],
            "brake_only_s": [0.0, 0.1],
            "brake_only_frac": [0.0, 0.5],
            "trail_brake_s": [0.1, 0.0],
            "trail_brake_frac": [1 / 3, 0.0],
            "coast_s": [0.0, 0.1],
            "coast_frac": [0.0, 0.5],
        },
        schema_overrides={"lap": pl.Int32},
    )
    assert_frame_equal(by_lap, expected, abs_tol=1e-9)
    session = pedal_time_session(lf).collect()
    assert session["brake_channel"].to_list() == ["brake_pct"]
    assert abs(session["total_s"][0] - 0.6) < 1e-9  # the 1.6 s gap at t=0.4 counts 0 s
    assert abs(session["throttle_only_s"][0] - 0.3) < 1e-9
    fractions = sum(session[f"{s}_frac"][0] for s in ("throttle_only", "brake_only", "trail_brake", "coast"))
    assert abs(fractions - 1.0) < 1e-12


def test_no_brake_channel_is_not_logged_not_zero() -> None:
    lf = frame(t_s=[0.0, 0.1], lap=[1, 1], throttle_pct=[0.0, 100.0], g_lat=[0.0, 0.0])
    session = pedal_time_session(lf).collect().row(0, named=True)
    assert session["brake_channel"] is None
    assert session["not_logged"] == ["brake_bar", "brake_pct"]
    for state in ("brake_only", "trail_brake", "coast"):
        assert session[f"{state}_s"] is None and session[f"{state}_frac"] is None
    assert session["throttle_only_frac"] == pytest.approx(0.5)


def test_no_throttle_channel_is_not_coasting() -> None:
    lf = frame(t_s=[0.0, 0.1, 0.2], lap=[1, 1, 1], brake_bar=[0.0, 30.0, 0.0], g_lat=[0.0, 0.0, 0.0])
    session = pedal_time_session(lf).collect().row(0, named=True)
    assert session["not_logged"] == ["throttle_pct", "brake_pct"]
    assert session["coast_frac"] is None and session["throttle_only_frac"] is None
    assert session["brake_only_frac"] == pytest.approx(1 / 3)
