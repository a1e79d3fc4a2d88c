"""capabilities_frame: the pure Polars computation behind recompute_capabilities."""

from __future__ import annotations

import polars as pl
from polars.testing import assert_frame_equal

from pitwall import schema
from pitwall.analysis.capabilities import capabilities_frame

EMPTY_SIGNALS = pl.LazyFrame(schema=schema.TELEMETRY_SIGNALS)


def _wide(columns: dict[str, list[float | None]], *, hz: float = 10.0) -> pl.LazyFrame:
    n = len(next(iter(columns.values())))
    return pl.LazyFrame({"session_id": ["s"] * n, "t_s": [i / hz for i in range(n)], **columns})


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
    signals = pl.LazyFrame(
        {
            "session_id": ["s"] * 3,
            "signal_name": ["oil_temp_c"] * 3,
            "t_s": [0.0, 1.0, 4.0],
            "value": [90.0, 91.0, 93.0],
        }
    )
    got = capabilities_frame(telemetry, signals).collect()
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
    got = capabilities_frame(telemetry, EMPTY_SIGNALS).collect()
    # friction_circle has both of its groups; map lacks lon_deg
    assert dict(got.select("signal_name", "coaches").rows()) == {
        "g_lat": "friction_circle",
        "g_long": "friction_circle",
        "lat_deg": "",
    }


def test_single_sample_and_sessions_kept_apart() -> None:
    telemetry = pl.LazyFrame(
        {"session_id": ["a", "b", "b"], "t_s": [0.0, 0.0, 0.5], "steering_deg": [5.0, 1.0, -1.0]}
    )
    got = capabilities_frame(telemetry, EMPTY_SIGNALS).collect()
    assert got.select("session_id", "n_samples", "mean_hz", "useful", "coaches").rows() == [
        ("a", 1, 0.0, False, ""),
        ("b", 2, 2.0, True, "steering"),
    ]


def test_empty_inputs_give_an_empty_typed_frame() -> None:
    got = capabilities_frame(pl.LazyFrame(schema=schema.TELEMETRY), EMPTY_SIGNALS).collect()
    assert got.is_empty()
    assert got.schema == pl.Schema(schema.CAPABILITIES)


def test_a_constant_channel_is_not_useful_whatever_its_computed_variance() -> None:
    """3.7 repeated 72,000 times has a floating-point variance of ~1e-33, not 0: "varies" compares values."""
    flat = _wide({"steering_deg": [3.7] * 72_000}, hz=20.0)
    moved = _wide({"steering_deg": [3.7] * 71_999 + [3.8]}, hz=20.0)
    assert not capabilities_frame(flat, EMPTY_SIGNALS).collect()["useful"].item()
    assert capabilities_frame(moved, EMPTY_SIGNALS).collect()["useful"].item()
