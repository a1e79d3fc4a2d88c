"""capabilities_frame: the pure Polars computation behind recompute_capabilities."""

from __future__ import annotations

from pathlib import Path

import polars as pl
import pytest
from polars.testing import assert_frame_equal

from pitwall import DATA_DIR, schema
from pitwall.analysis.capabilities import MIN_USEFUL_HZ, capabilities_frame
from pitwall.formats.detect import read_recording

EMPTY_SIGNALS = pl.DataFrame(schema=schema.TELEMETRY_SIGNALS)


def _wide(columns: dict[str, list[float | None]], *, hz: float = 10.0) -> pl.DataFrame:
    n = len(next(iter(columns.values())))
    return pl.DataFrame({"session_id": ["s"] * n, "t_s": [i / hz for i in range(n)], **columns})


def test_rates_usefulness_and_coaches() -> None:
    telemetry = _wide(
        {
            "speed_kph": [100.0, 101.0, 103.0, 104.0, 102.0],
            "g_lat": [0.1, 0.5, 0.9, 0.4, 0.0],
            "g_long": [0.0, 0.0, 0.0, 0.0, 0.0],  # flat: not useful, so no friction circle
            "throttle_pct": [100.0, 80.0, 0.0, 0.0, 50.0],
            "brake_pct": [0.0, 0.0, 30.0, 10.0, 0.0],
            "rpm": [None, None, None, None, None],  # all null: no signal at all
            "not_canonical": [1.0, 2.0, 3.0, 4.0, 5.0],  # ignored
        }
    )
    signals = pl.DataFrame(
        {
            "session_id": ["s"] * 3,
            "signal_name": ["oil_temp_c"] * 3,
            "t_s": [0.0, 1.0, 4.0],
            "value": [90.0, 91.0, 93.0],
        }
    )
    got = capabilities_frame("s", telemetry, signals).collect()
    expected = pl.DataFrame(
        {
            "session_id": ["s"] * 6,
            "signal_name": ["brake_pct", "g_lat", "g_long", "oil_temp_c", "speed_kph", "throttle_pct"],
            "n_samples": [5, 5, 5, 3, 5, 5],
            "mean_hz": [10.0, 10.0, 10.0, 0.5, 10.0, 10.0],
            "useful": [True, True, False, False, True, True],
            "coaches": [
                "braking,pedal_behavior,trail_brake",
                "trail_brake",
                "",
                "",
                "laps",
                "hustle_map,pedal_behavior",
            ],
        },
        schema=schema.CAPABILITIES,
    )
    assert_frame_equal(got, expected, check_exact=False)


def test_a_coach_needs_every_group() -> None:
    telemetry = _wide(
        {"g_lat": [0.1, 0.3, 0.2], "g_long": [-0.5, 0.2, 0.4], "lat_deg": [43.0, 43.001, 43.002]}
    )
    got = capabilities_frame("s", telemetry, EMPTY_SIGNALS).collect()
    # friction_circle has both of its groups; map lacks lon_deg
    assert dict(got.select("signal_name", "coaches").rows()) == {
        "g_lat": "friction_circle",
        "g_long": "friction_circle",
        "lat_deg": "",
    }


def test_a_single_sample_has_no_rate() -> None:
    telemetry = pl.DataFrame({"t_s": [0.0], "steering_deg": [5.0]})
    got = capabilities_frame("a", telemetry, EMPTY_SIGNALS).collect()
    assert got.select("session_id", "n_samples", "mean_hz", "useful", "coaches").rows() == [
        ("a", 1, 0.0, False, "")
    ]


def test_empty_inputs_give_an_empty_typed_frame() -> None:
    got = capabilities_frame("s", pl.DataFrame(schema=schema.TELEMETRY), EMPTY_SIGNALS).collect()
    assert got.is_empty()
    assert got.schema == pl.Schema(schema.CAPABILITIES)


def test_a_constant_channel_is_not_useful_whatever_its_computed_variance() -> None:
    """3.7 repeated 72,000 times has a floating-point variance of ~1e-33, not 0: "varies" compares values."""
    flat = _wide({"steering_deg": [3.7] * 72_000}, hz=20.0)
    moved = _wide({"steering_deg": [3.7] * 71_999 + [3.8]}, hz=20.0)
    assert not capabilities_frame("s", flat, EMPTY_SIGNALS).collect()["useful"].item()
    assert capabilities_frame("s", moved, EMPTY_SIGNALS).collect()["useful"].item()


def test_integer_channels_count_as_their_float_values() -> None:
    """Integer columns are summarised in their own dtype (the smallest and largest cast to Float64 after):
    the same capabilities as the columns cast to Float64 first, huge integers that cast to one float
    included (a channel of those does not vary)."""
    big = 2**53
    telemetry = _wide({"speed_kph": [100.0, 101.0, 99.0, 98.0]}).with_columns(
        gear=pl.Series([3, 4, 4, None], dtype=pl.Int32),
        video_t_ms=pl.Series([big, big + 1, big, big + 1], dtype=pl.Int64),
        sats=pl.Series([9, 9, 9, 9], dtype=pl.Int32),
    )
    as_floats = telemetry.with_columns(pl.col("gear", "video_t_ms", "sats").cast(pl.Float64))
    got = capabilities_frame("s", telemetry, EMPTY_SIGNALS).collect()
    assert_frame_equal(got, capabilities_frame("s", as_floats, EMPTY_SIGNALS).collect(), check_exact=True)
    assert dict(got.select("signal_name", "useful").iter_rows()) == {
        "gear": True,
        "sats": False,
        "speed_kph": True,
        "video_t_ms": False,
    }


def test_the_statistics_are_worked_out_once() -> None:
    """The per-signal statistics feed both the coaches and the rows: the plan computes them once (one
    unpivot of the wide columns), not once per use — twice at the same time held ~3 MB more for an hour."""
    telemetry = _wide({"speed_kph": [100.0, 101.0, 99.0], "g_lat": [0.1, 0.2, 0.3]})
    assert capabilities_frame("s", telemetry, EMPTY_SIGNALS).explain().count("UNPIVOT") == 1


def _grouped(signals: pl.DataFrame) -> pl.DataFrame:
    """The tall signals' columns of the capabilities from one group-by over every row (as they were computed
    before each name's rows were summarised on their own)."""
    sampled = pl.col("value").is_not_null() & pl.col("t_s").is_not_null()
    t_s, value = pl.col("t_s").filter(sampled), pl.col("value").filter(sampled)
    n, span = pl.col("n_samples"), pl.col("t_max") - pl.col("t_min")
    return (
        signals.group_by("signal_name")
        .agg(
            n_samples=sampled.sum().cast(pl.Int64),
            t_min=t_s.min(),
            t_max=t_s.max(),
            v_min=value.min(),
            v_max=value.max(),
        )
        .filter(n > 0)
        .with_columns(mean_hz=pl.when((n >= 2) & (span > 0)).then((n - 1) / span).otherwise(0.0))
        .with_columns(
            useful=((pl.col("mean_hz") >= MIN_USEFUL_HZ) & (pl.col("v_max") > pl.col("v_min"))).fill_null(
                value=False
            )
        )
        .select("signal_name", "n_samples", "mean_hz", "useful")
        .sort("signal_name")
    )


@pytest.mark.parametrize(
    "name",
    [
        "25IR05_RdAm_FP1_Run01_KO.vbo",
        "rc_mk2_test.log",
        "session_20251231_111318_tianma_lap9_v3.csv",
        "vbox2-user-guide-sample.vbo",
    ],
)
def test_real_recordings_tall_signals_match_a_group_by_over_every_row(name: str) -> None:
    """Each name's rows summarised on their own, as a reader writes them (one run per name) or shuffled, give
    the bits a group-by over all the tall rows gives."""
    path: Path = DATA_DIR / "samples" / name
    recording = read_recording(path.read_bytes(), name=str(path))
    signals = recording.signals
    expected = _grouped(signals)
    assert expected.height > 0
    for rows in (signals, signals.sample(fraction=1.0, shuffle=True, seed=3)):
        got = capabilities_frame("s", recording.telemetry, rows).collect()
        assert_frame_equal(
            got.filter(pl.col("signal_name").is_in(expected["signal_name"].implode())).select(
                expected.columns
            ),
            expected,
            check_exact=True,
        )
