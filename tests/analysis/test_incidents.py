from __future__ import annotations

import polars as pl
from polars.testing import assert_frame_equal

from pitwall.analysis.incidents import INCIDENT_COLUMNS, detect_incidents


def test_each_rule_gives_one_incident_with_peak_and_severity() -> None:
    n = 40
    t = [i * 0.1 for i in range(n)]
    speed = [100.0] * n
    yaw = [5.0] * n
    offset = [0.5] * n
    g_long = [0.0] * n
    yaw[3:6] = [95.0, 150.0, 100.0]  # spin: peak 150 deg/s at t=0.4 → ratio 1.67 → high
    offset[10:14] = [7.0, 7.2, 6.5, -7.1]  # off track 1.0..1.3 s (0.3 s) → peak 7.2 m, ratio 1.2 → low
    offset[20:22] = [8.0, 8.0]  # 0.1 s only: too short
    g_long[25] = -1.9  # lock-up ratio 1.19 → low
    speed[30:40] = [4.0, 3.0, 2.0, 0.0, 0.0, 0.0, 1.0, 2.0, 3.0, 4.0]  # stopped 3.0..3.9 s: 0.9 s < 3 s
    lf = pl.LazyFrame(
        {
            "t_s": t,
            "s_m": [10.0 * i for i in range(n)],
            "offset_m": offset,
            "lap": [1] * 20 + [2] * 20,
            "speed_kph": speed,
            "yaw_rate_dps": yaw,
            "g_long": g_long,
        },
        schema_overrides={"lap": pl.Int32},
    )
    out = detect_incidents(lf, spin_dps=90.0, half_width_m=6.0, lockup_g=1.6, stop_min_s=3.0).collect()
    expected = pl.DataFrame(
        {
            "kind": ["spin", "off_track", "lock_up"],
            "t_s": [0.3, 1.0, 2.5],
            "t_end_s": [0.5, 1.3, 2.5],
            "duration_s": [0.2, 0.3, 0.0],
            "s_m": [40.0, 110.0, 250.0],
            "lap": [1, 1, 2],
            "value": [150.0, 7.2, 1.9],
            "threshold": [90.0, 6.0, 1.6],
            "unit": ["deg/s", "m", "g"],
            "severity": ["high", "low", "low"],
        },
        schema=INCIDENT_COLUMNS,
    )
    assert_frame_equal(out, expected, abs_tol=1e-9)
    stops = detect_incidents(lf, stop_min_s=0.5).collect().filter(pl.col("kind") == "stop")
    assert stops.select("t_s", "duration_s", "s_m", "value", "severity").rows() == [
        (3.0, 0.9000000000000004, 330.0, 0.9000000000000004, "low")
    ]


def test_spins_below_walking_speed_and_pits_off_line_are_ignored() -> None:
    lf = pl.LazyFrame(
        {
            "t_s": [0.0, 0.1, 0.2, 0.3, 3.6],
            "s_m": [1.0, 2.0, 3.0, None, None],
            "offset_m": [0.0, 0.0, 20.0, 20.0, 20.0],
            "lap": [1, 1, 1, 1, 1],
            "speed_kph": [10.0, 10.0, 0.0, 0.0, 0.0],
            "yaw_rate_dps": [200.0, 200.0, 0.0, 0.0, 0.0],
            "g_long": [0.0, 0.0, 0.0, 0.0, 0.0],
        },
        schema_overrides={"lap": pl.Int32},
    )
    assert detect_incidents(lf).collect().height == 0
