"""Signed curvature and corner/straight detection on exact synthetic geometry."""

from __future__ import annotations

import numpy as np
import pytest

from pitwall.analysis.curvature import closed_curvature_1pm, detect_corners, detect_straights
from pitwall.analysis.geo import FloatArray


def _stadium(
    straight_m: float, radius_m: float, *, clockwise: bool = False, step_m: float = 2.0
) -> tuple[FloatArray, FloatArray, FloatArray, float]:
    """A closed stadium (two straights, two semicircles) sampled every ``step_m``; starts mid-straight."""
    half = straight_m / 2
    length = 2 * straight_m + 2 * np.pi * radius_m
    s = np.arange(0.0, length, step_m)
    arc = np.pi * radius_m
    x, y = np.empty_like(s), np.empty_like(s)
    for i, d in enumerate(s):  # test geometry only
        if d < half:
            x[i], y[i] = d, -radius_m
        elif d < half + arc:
            a = (d - half) / radius_m
            x[i], y[i] = half + radius_m * np.sin(a), -radius_m * np.cos(a)
        elif d < half + arc + straight_m:
            x[i], y[i] = half - (d - half - arc), radius_m
        elif d < half + 2 * arc + straight_m:
            a = (d - half - arc - straight_m) / radius_m
            x[i], y[i] = -half - radius_m * np.sin(a), radius_m * np.cos(a)
        else:
            x[i], y[i] = -half + (d - half - 2 * arc - straight_m), -radius_m
    if clockwise:
        y = -y
    return s, x, y, length


def test_circle_curvature_is_one_over_radius_with_sign() -> None:
    a = np.linspace(0, 2 * np.pi, 400, endpoint=False)
    ccw = closed_curvature_1pm(80 * np.cos(a), 80 * np.sin(a))
    cw = closed_curvature_1pm(80 * np.cos(a), -80 * np.sin(a))
    np.testing.assert_allclose(ccw, 1 / 80, rtol=1e-3)
    np.testing.assert_allclose(cw, -1 / 80, rtol=1e-3)


def test_stadium_has_two_half_turn_corners_and_two_straights() -> None:
    s, x, y, length = _stadium(400.0, 60.0)
    corners = detect_corners(s, closed_curvature_1pm(x, y), length)
    assert [c.number for c in corners] == ["1", "2"]
    assert [c.direction for c in corners] == ["left", "left"]
    arc = np.pi * 60
    assert corners[0].s_apex_m == pytest.approx(200 + arc / 2, abs=arc / 2)
    assert corners[0].s_entry_m == pytest.approx(200, abs=15) and corners[0].s_exit_m == pytest.approx(
        200 + arc, abs=15
    )
    straights = detect_straights(corners, length)
    assert [st.name for st in straights] == ["Start/finish straight", "T1-T2 straight"]
    assert straights[0].s_start_m > straights[0].s_end_m  # wraps through s = 0
    assert straights[1].s_end_m - straights[1].s_start_m == pytest.approx(400, abs=30)


def test_clockwise_stadium_turns_right() -> None:
    s, x, y, length = _stadium(300.0, 40.0, clockwise=True)
    corners = detect_corners(s, closed_curvature_1pm(x, y), length)
    assert [c.direction for c in corners] == ["right", "right"]


def test_small_kink_is_not_a_corner_and_close_same_hand_peaks_split_only_at_a_deep_valley() -> None:
    s = np.arange(0.0, 2000.0, 2.0)
    kappa = np.zeros_like(s)
    kappa[(s >= 100) & (s < 130)] = 1 / 200  # 8.6° kink: below the 20° minimum angle
    kappa[(s >= 500) & (s < 600)] = -1 / 50  # two right-handers with a straight-ish 20 m between
    kappa[(s >= 620) & (s < 720)] = -1 / 60
    kappa[(s >= 600) & (s < 620)] = -1 / 400  # valley below half the smaller peak: two corners
    kappa[(s >= 1000) & (s < 1100)] = 1 / 40  # two left peaks with a shallow dip: one corner
    kappa[(s >= 1100) & (s < 1120)] = 1 / 70
    kappa[(s >= 1120) & (s < 1200)] = 1 / 45
    corners = detect_corners(s, kappa, 2000.0)
    assert [(c.number, c.direction) for c in corners] == [("1", "right"), ("2", "right"), ("3", "left")]
    assert corners[0].s_exit_m < corners[1].s_entry_m
    assert corners[2].s_entry_m == 1000 and corners[2].s_exit_m == 1198
    assert 1000 <= corners[2].s_apex_m < 1100  # the sharper of the two peaks


def test_corner_through_the_start_line_wraps() -> None:
    s = np.arange(0.0, 1000.0, 2.0)
    kappa = np.where((s < 60) | (s >= 950), 1 / 40, 0.0)
    corners = detect_corners(s, kappa, 1000.0)
    assert len(corners) == 1
    assert corners[0].s_entry_m == 950 and corners[0].s_exit_m == 58
