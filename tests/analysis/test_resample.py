"""pitwall.analysis.resample: literal frames in, exact frames out (dtypes checked)."""

from __future__ import annotations

import polars as pl
import pytest
from polars.testing import assert_frame_equal

from pitwall.analysis.resample import RESAMPLABLE, pick_samples, resample_samples

WIDE = pl.LazyFrame(
    {
        "t_s": [0.0, 0.1, 0.2, 0.3, 0.4],
        "distance_m": [0.0, 1.0, 2.0, 2.0, 4.0],
        "speed_kph": [10.0, 20.0, 30.0, None, 50.0],
        "gear": [1, 1, 2, 2, 3],
    },
    schema_overrides={"gear": pl.Int32},
)
TALL = pl.LazyFrame(
    {"signal_name": ["oil", "oil", "other"], "t_s": [0.05, 0.25, 0.1], "value": [100.0, 110.0, 1.0]}
)


def _out(x_name: str, rows: list[tuple[float, str, float | None, str | None]]) -> pl.DataFrame:
    return pl.DataFrame(
        rows,
        schema={x_name: pl.Float64, "signal_name": pl.String, "value": pl.Float64, "source": pl.String},
        orient="row",
    )


def test_pick_samples_time_axis_unpivots_wide_and_keeps_tall() -> None:
    got = pick_samples(WIDE, TALL, names=["speed_kph", "oil"], axis="time").collect()
    expected = pl.DataFrame(
        {
            "signal_name": ["oil", "oil", "speed_kph", "speed_kph", "speed_kph", "speed_kph"],
            "x": [0.05, 0.25, 0.0, 0.1, 0.2, 0.4],
            "value": [100.0, 110.0, 10.0, 20.0, 30.0, 50.0],
        }
    )
    assert_frame_equal(got, expected)


def test_pick_samples_distance_axis_interpolates_tall_distance_and_dedupes() -> None:
    got = pick_samples(WIDE, TALL, names=["oil", "gear"], axis="distance").collect()
    # oil at 0.05 s → 0.5 m; at 0.25 s the car sits at 2.0 m. gear at 2.0 m twice (0.2 s, 0.3 s): last wins.
    expected = pl.DataFrame(
        {
            "signal_name": ["gear", "gear", "gear", "gear", "oil", "oil"],
            "x": [0.0, 1.0, 2.0, 4.0, 0.5, 2.0],
            "value": [1.0, 1.0, 2.0, 3.0, 100.0, 110.0],
        }
    )
    assert_frame_equal(got, expected)


def test_pick_samples_time_window_filters_by_time() -> None:
    got = pick_samples(WIDE, TALL, names=["speed_kph"], axis="distance", t_from=0.1, t_to=0.3).collect()
    assert got["x"].to_list() == [1.0, 2.0]


def test_linear_resampling_marks_measured_and_never_extrapolates() -> None:
    samples = pick_samples(WIDE, TALL, names=["speed_kph", "oil", "nothing"], axis="time")
    got = resample_samples(
        samples, names=["speed_kph", "oil", "nothing"], step=0.1, interp="linear", x_name="t_s"
    ).collect()
    expected = _out(
        "t_s",
        [
            (0.0, "speed_kph", 10.0, "measured"),
            (0.1, "speed_kph", 20.0, "measured"),
            (0.2, "speed_kph", 30.0, "measured"),
            (0.30000000000000004, "speed_kph", 40.0, "interpolated"),
            (0.4, "speed_kph", 50.0, "measured"),
            (0.0, "oil", None, None),
            (0.1, "oil", 102.5, "interpolated"),
            (0.2, "oil", 107.5, "interpolated"),
            (0.30000000000000004, "oil", None, None),
            (0.4, "oil", None, None),
        ]
        + [(x, "nothing", None, None) for x in (0.0, 0.1, 0.2, 0.30000000000000004, 0.4)],
    )
    assert_frame_equal(got, expected, abs_tol=1e-9)


def test_previous_resampling_holds_the_last_sample() -> None:
    samples = pick_samples(WIDE, TALL, names=["oil"], axis="time")
    got = resample_samples(samples, names=["oil"], step=0.05, interp="previous", x_name="t_s").collect()
    expected = _out(
        "t_s",
        [
            (0.05, "oil", 100.0, "measured"),
            (0.1, "oil", 100.0, "interpolated"),
            (0.15000000000000002, "oil", 100.0, "interpolated"),
            (0.2, "oil", 100.0, "interpolated"),
            (0.25, "oil", 110.0, "measured"),
        ],
    )
    assert_frame_equal(got, expected, abs_tol=1e-9)


def test_window_bounds_define_the_grid_and_keep_edge_neighbours() -> None:
    samples = pick_samples(WIDE, TALL, names=["speed_kph"], axis="time")
    got = resample_samples(
        samples, names=["speed_kph"], step=0.1, interp="linear", x_name="t_s", x_from=0.15, x_to=0.35
    ).collect()
    assert got["t_s"].to_list() == pytest.approx([0.15, 0.25, 0.35])
    assert got["value"].to_list() == pytest.approx([25.0, 35.0, 45.0])
    assert got["source"].to_list() == ["interpolated"] * 3


def test_empty_or_inverted_grid_gives_no_rows() -> None:
    samples = pick_samples(WIDE, TALL, names=["speed_kph"], axis="time")
    assert (
        resample_samples(
            samples, names=["speed_kph"], step=1.0, interp="linear", x_name="t", x_from=3, x_to=1
        )
        .collect()
        .is_empty()
    )
    empty = pl.LazyFrame(schema={"signal_name": pl.String, "x": pl.Float64, "value": pl.Float64})
    assert resample_samples(empty, names=["a"], step=1.0, interp="linear", x_name="t").collect().is_empty()
    with pytest.raises(ValueError, match="step"):
        resample_samples(samples, names=["speed_kph"], step=0.0, interp="linear", x_name="t")


def test_resamplable_columns_are_the_numeric_channels() -> None:
    assert {"speed_kph", "gear", "distance_m", "t_s"} <= RESAMPLABLE
    assert not {"session_id", "utc", "frame_idx"} & RESAMPLABLE
