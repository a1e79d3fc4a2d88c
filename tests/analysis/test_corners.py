from __future__ import annotations

import numpy as np
import polars as pl
import pytest

from pitwall.analysis.corners import (
    PASS_COLUMNS,
    add_corner_column,
    add_lap_position,
    classify_corners,
    corner_passes,
    corner_summary,
    corner_windows,
    grade_expr,
    reference_from_passes,
    slice_track_windows,
    throttle_corner_box,
)
from pitwall.track import Corner
from tests.analysis import circle_track

CORNERS = (Corner("1", "left", 305.0, 350.0, 395.0, name="First"), Corner("2", "left", 900.0, 920.0, 30.0))
TRACK = circle_track(corners=CORNERS)
L = TRACK.length_m  # 942.48 m


def speed_mps(s: np.ndarray, dip_mps: float) -> np.ndarray:
    """20 m/s with a V-shaped dip of ``dip_mps`` centred on s = 350 m (corner 1)."""
    return 20.0 - dip_mps * np.clip(1.0 - np.abs(s - 350.0) / 50.0, 0.0, None)


def drive(dips: list[float]) -> pl.DataFrame:
    """Laps of samples every 10 m of s (0..940); lap k has corner-1 dip ``dips[k-1]``; braking 250..320 m."""
    grid = np.arange(0.0, 941.0, 10.0)
    t0, parts = 0.0, []
    for lap, dip in enumerate(dips, start=1):
        v = speed_mps(grid, dip)
        ds = np.diff(np.r_[grid, L])  # the last step wraps to the next lap's s = 0
        t = t0 + np.r_[0.0, np.cumsum(ds / v)[:-1]]
        t0 = t[-1] + ds[-1] / v[-1]
        braking = (grid >= 250) & (grid <= 320)
        parts.append(
            pl.DataFrame(
                {
                    "t_s": t,
                    "s_m": grid,
                    "lap": np.full(grid.size, lap, dtype=np.int32),
                    "speed_kph": v * 3.6,
                    "throttle_pct": np.where((grid >= 250) & (grid <= 360), 0.0, 100.0),
                    "brake_bar": np.where(braking, 20.0, 0.0),
                    "brake_pct": np.full(grid.size, None, dtype=object),
                    "g_long": np.where(braking, -0.8, np.where((grid >= 350) & (grid <= 400), 0.2, 0.0)),
                },
                schema_overrides={"brake_pct": pl.Float64},
            )
        )
    return pl.concat(parts)


def test_corner_windows_continue_past_the_line() -> None:
    w = corner_windows(TRACK, approach_m=200.0, exit_m=50.0)
    assert w["corner"].to_list() == ["1", "2"]
    assert w["corner_name"].to_list() == ["First", None]
    assert w["s_exit_m"].to_list() == pytest.approx([395.0, 30.0 + L])
    assert w["brake_from_m"].to_list() == pytest.approx(
        [105.0, 700.0]
    )  # 305 − 200; 900 − 200 (later than T1 apex)
    assert w["win_end_m"].to_list() == pytest.approx([445.0, 80.0 + L])


def test_lap_position_unwraps_start_line_jitter() -> None:
    lf = pl.LazyFrame(
        {
            "t_s": [0.0, 1.0, 50.0, 99.0, 100.0, 101.0, 150.0],
            "s_m": [L - 0.5, 10.0, 470.0, 0.3, 1.0, 12.0, 500.0],
            "lap": [2, 2, 2, 2, 3, 3, 3],
        },
        schema_overrides={"lap": pl.Int32},
    )
    out = add_lap_position(lf, length_m=L).collect()["s_lap_m"].to_list()
    assert out == pytest.approx([-0.5, 10.0, 470.0, L + 0.3, 1.0, 12.0, 500.0])


def test_windows_across_the_line_count_in_the_lap_that_drives_the_corner() -> None:
    rows = slice_track_windows(drive([10.0, 10.0]).lazy(), corner_windows(TRACK), length_m=L).collect()
    corner2 = rows.filter(pl.col("corner") == "2")
    # lap 1's pass of corner 2 = lap 1 from 700 m + lap 2 up to 80 m (u = s + L); lap 2's pass has no lap 3 part
    lap1 = corner2.filter(pl.col("pass_lap") == 1)
    assert lap1["u_m"].min() == pytest.approx(700.0) and lap1["u_m"].max() == pytest.approx(80.0 + L)
    assert lap1["lap"].unique().sort().to_list() == [1, 2]
    assert lap1.height == 25 + 9  # 700..940 m of lap 1, then 0..80 m of lap 2
    assert corner2.filter(pl.col("pass_lap") == 2)["u_m"].max() == pytest.approx(940.0)


def test_pass_metrics_against_interpolation_oracle() -> None:
    df = drive([10.0, 12.0, 10.0])
    passes = corner_passes(df.lazy(), TRACK, approach_m=200.0, exit_m=50.0, pickup_th=20.0).collect()
    assert passes.schema == pl.Schema(PASS_COLUMNS)
    # corner 2 of lap 3 lacks its part in (missing) lap 4 → dropped
    assert passes.select("lap", "corner").rows() == [(1, "1"), (1, "2"), (2, "1"), (2, "2"), (3, "1")]
    for lap, dip in ((1, 10.0), (2, 12.0)):
        lap_df = df.filter(pl.col("lap") == lap)
        s, t, v = lap_df["s_m"].to_numpy(), lap_df["t_s"].to_numpy(), lap_df["speed_kph"].to_numpy()
        row = passes.filter((pl.col("lap") == lap) & (pl.col("corner") == "1")).row(0, named=True)
        assert row["t_entry_s"] == pytest.approx(np.interp(305.0, s, t))
        assert row["corner_time_s"] == pytest.approx(np.interp(395.0, s, t) - np.interp(305.0, s, t))
        assert row["entry_speed_kph"] == pytest.approx(np.interp(305.0, s, v))
        assert row["exit_speed_kph"] == pytest.approx(np.interp(395.0, s, v))
        assert row["min_speed_kph"] == pytest.approx((20.0 - dip) * 3.6)
        assert row["min_speed_s_m"] == 350.0
        assert row["min_speed_t_s"] == pytest.approx(np.interp(350.0, s, t))
        assert row["brake_point_s_m"] == 250.0
        assert row["brake_release_s_m"] == 320.0
        assert row["max_decel_g"] == pytest.approx(0.8)
        assert row["throttle_pickup_s_m"] == 370.0
        assert row["exit_accel_g"] == pytest.approx(6 * 0.2 / 10)  # samples 350..440: six at 0.2 g, four at 0
    c2 = passes.filter((pl.col("lap") == 1) & (pl.col("corner") == "2")).row(0, named=True)
    assert c2["brake_point_s_m"] is None and c2["brake_release_s_m"] is None
    assert c2["throttle_pickup_s_m"] == 900.0
    assert c2["entry_speed_kph"] == pytest.approx(72.0)
    # corner 2 spans the line: 900 → L → 30 m at 20 m/s
    assert c2["corner_time_s"] == pytest.approx((L - 900.0 + 30.0) / 20.0)


def test_brake_point_from_deceleration_without_brake_channel() -> None:
    df = drive([10.0]).with_columns(pl.lit(None, dtype=pl.Float64).alias("brake_bar"))
    row = (
        corner_passes(df.lazy(), TRACK, decel_g=0.5)
        .collect()
        .filter(pl.col("corner") == "1")
        .row(0, named=True)
    )
    assert (row["brake_point_s_m"], row["brake_release_s_m"]) == (250.0, 320.0)


def test_summary_grades_against_a_reference_and_session_best() -> None:
    passes = corner_passes(drive([10.0, 12.0, 10.0]).lazy(), TRACK).collect()
    times = passes.filter(pl.col("corner") == "1")["corner_time_s"].to_list()
    gold = pl.LazyFrame(
        {
            "corner": ["1"],
            "ref_time_s": [np.mean(times) / 1.04],
            "ref_entry_speed_kph": [80.0],
            "ref_min_speed_kph": [60.0],
            "ref_exit_speed_kph": [80.0],
            "ref_brake_point_s_m": [260.0],
        }
    )
    summary = corner_summary(passes.lazy(), TRACK, reference=gold).collect()
    c1, c2 = summary.row(0, named=True), summary.row(1, named=True)
    assert (c1["corner"], c1["corner_name"], c1["direction"], c1["n_passes"]) == ("1", "First", "left", 3)
    assert c1["best_time_s"] == pytest.approx(min(times)) and c1["best_lap"] in (1, 3)
    assert c1["mean_time_s"] == pytest.approx(np.mean(times))
    assert c1["reference_source"] == "reference_lap" and c1["ref_min_speed_kph"] == 60.0
    assert c1["pct_slower"] == pytest.approx(4.0)
    assert c1["delta_to_reference_s"] == pytest.approx(np.mean(times) * (1 - 1 / 1.04))
    assert c1["grade"] == "B"
    # corner 2 has no reference entry: graded against its own best pass (identical passes → 0 % → A)
    assert (
        c2["reference_source"] == "session_best"
        and c2["grade"] == "A"
        and c2["delta_to_reference_s"] == pytest.approx(0)
    )


def test_a_single_pass_is_never_graded_against_itself() -> None:
    passes = corner_passes(drive([10.0]).lazy(), TRACK).collect()
    summary = corner_summary(passes.lazy(), TRACK).collect()
    assert summary.height >= 1 and (summary["n_passes"] == 1).all()
    for row in summary.iter_rows(named=True):
        assert row["reference_source"] == "none"
        assert row["grade"] is None and row["ref_time_s"] is None and row["delta_to_reference_s"] is None
    labelled = corner_summary(
        passes.lazy(), TRACK, reference=reference_from_passes(passes.lazy()), reference_label="model_lap"
    ).collect()
    assert (labelled["reference_source"] == "model_lap").all() and (labelled["grade"] == "A").all()


def test_reference_from_passes_takes_the_fastest_pass() -> None:
    passes = corner_passes(drive([10.0, 5.0]).lazy(), TRACK).collect()
    ref = reference_from_passes(passes.lazy()).collect().sort("corner")
    fastest = passes.filter(pl.col("corner") == "1").sort("corner_time_s").row(0, named=True)
    assert ref.row(0, named=True)["ref_time_s"] == fastest["corner_time_s"] and fastest["lap"] == 2
    assert ref.row(0, named=True)["ref_min_speed_kph"] == pytest.approx(15.0 * 3.6)


def test_grade_bands() -> None:
    pct = pl.DataFrame({"p": [0.0, 1.99, 2.0, 4.99, 5.0, 9.99, 10.0, 19.99, 20.0, 55.0, None]})
    grades = pct.select(grade_expr(pl.col("p"))).to_series().to_list()
    assert grades == ["A", "A", "B", "B", "C", "C", "D", "D", "F", "F", None]


def test_classification_bands() -> None:
    summary = pl.LazyFrame(
        {
            "corner": ["1", "2", "3", "4"],
            "corner_idx": [0, 1, 2, 3],
            "mean_min_speed_kph": [80.0, 80.1, 130.0, 131.0],
        },
        schema_overrides={"corner_idx": pl.Int32},
    )
    out = classify_corners(summary, low_max_kph=80.0, med_max_kph=130.0).collect()
    assert out["band"].to_list() == ["low", "medium", "medium", "high"]


def test_corner_column_and_throttle_box() -> None:
    lf = pl.LazyFrame(
        {
            "s_m": [300.0, 305.0, 350.0, 395.0, 396.0, 899.0, 910.0, 5.0, 30.0, 31.0],
            "throttle_pct": [1.0, 0.0, 10.0, 20.0, 99.0, 99.0, 100.0, 80.0, 90.0, 99.0],
        }
    )
    tagged = add_corner_column(lf, TRACK).collect()["corner"].to_list()
    assert tagged == [None, "1", "1", "1", None, None, "2", "2", "2", None]
    box = throttle_corner_box(lf, TRACK).collect()
    assert box["corner"].to_list() == ["1", "2"]
    assert box["median"].to_list() == [10.0, 90.0]
    assert box["q1"].to_list() == pytest.approx([5.0, 85.0]) and box["n"].to_list() == [3, 3]
