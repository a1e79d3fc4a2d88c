"""Signed curvature of a closed reference line, and corner / straight detection from it (pure numpy).

Inputs are small, already materialised arrays (a track's reference line, ~1,000 points), not telemetry.
Curvature ``kappa_1pm`` is in 1/m and **positive for left-hand bends** (counter-clockwise seen from above),
as in :mod:`pitwall.schema`, so ``g_lat ≈ v² κ / g``.

Intervals along the lap (corners, straights) are ``[start, end]`` in metres of ``s_m``; an interval that runs
through the start/finish line has ``end < start`` (it wraps).
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
from scipy.ndimage import gaussian_filter1d

from pitwall.analysis.geo import to_local_xy
from pitwall.track import Corner, ReferenceLine, Straight

FloatArray = npt.NDArray[np.float64]

CORNER_ENTER_1PM = 1 / 250
"""A bend is a corner only if its curvature reaches this (radius 250 m)."""
CORNER_EXIT_1PM = 1 / 500
"""A corner extends while its curvature stays above this (radius 500 m): hysteresis with the entry threshold."""
CORNER_MIN_ANGLE_DEG = 20.0
"""A corner turns the car by at least this much; smaller kinks are left out."""
CORNER_SPLIT_RATIO = 0.5
"""Two same-hand peaks are separate corners when the curvature between them falls below this fraction of the
smaller peak; otherwise they are one corner (one apex: the sharper peak)."""
STRAIGHT_MIN_M = 100.0
"""Gaps between corners at least this long are reported as straights."""


def closed_curvature_1pm(x_m: FloatArray, y_m: FloatArray, *, smooth_m: float = 10.0) -> FloatArray:
    """Signed curvature (1/m, positive left) at each vertex of a closed polyline in a local metric plane.

    The polyline is closed implicitly (last vertex connects to the first; do not repeat the first point).
    Curvature is the turning angle at each vertex over the mean length of its two segments, then smoothed
    with a circular Gaussian of standard deviation ``smooth_m`` metres (0 disables smoothing).
    """
    dx = np.roll(x_m, -1) - x_m
    dy = np.roll(y_m, -1) - y_m
    seg_m = np.hypot(dx, dy)
    theta = np.arctan2(dy, dx)
    turn = np.angle(np.exp(1j * (theta - np.roll(theta, 1))))  # wrapped to (-π, π]
    kappa = turn / (0.5 * (seg_m + np.roll(seg_m, 1)))
    if smooth_m > 0:
        kappa = gaussian_filter1d(kappa, smooth_m / float(np.mean(seg_m)), mode="wrap")
    return np.asarray(kappa, dtype=np.float64)


def reference_curvature_1pm(line: ReferenceLine, *, smooth_m: float = 10.0) -> FloatArray:
    """Signed curvature (1/m, positive left) at each point of a track's closed reference line.

    Aligned with ``line.s_m``; see :func:`closed_curvature_1pm` for the method.
    """
    x, y = to_local_xy(line.lat_deg, line.lon_deg, float(line.lat_deg[0]), float(line.lon_deg[0]))
    return closed_curvature_1pm(x, y, smooth_m=smooth_m)


def detect_corners(
    s_m: FloatArray,
    kappa_1pm: FloatArray,
    length_m: float,
    *,
    enter_1pm: float = CORNER_ENTER_1PM,
    exit_1pm: float = CORNER_EXIT_1PM,
    min_angle_deg: float = CORNER_MIN_ANGLE_DEG,
    split_ratio: float = CORNER_SPLIT_RATIO,
) -> tuple[Corner, ...]:
    """Corners of a closed lap from its curvature profile, numbered "1", "2", … along the lap.

    ``s_m`` (metres from the start line, increasing, < ``length_m``) and ``kappa_1pm`` (1/m, positive left)
    are parallel arrays. A corner is a same-hand run where ``|κ| ≥ exit_1pm`` that reaches ``enter_1pm``
    (hysteresis), split at a valley deeper than ``split_ratio`` × the smaller neighbouring peak, and kept when
    it turns by at least ``min_angle_deg``. Entry/exit are the run's ends, the apex is its sharpest point.
    """
    n = len(s_m)
    ds_m = np.diff(np.r_[s_m, length_m])
    start = int(np.argmin(np.abs(kappa_1pm)))  # begin at the straightest point so no run is cut by the wrap
    order = (np.arange(n) + start) % n
    k = kappa_1pm[order]
    step = ds_m[order]
    mag = np.abs(k)
    hand = np.sign(k) * (mag >= exit_1pm)
    spans: list[tuple[int, int, int]] = []  # (first, last, apex) indices in the rotated arrays
    edges = np.flatnonzero(np.diff(hand) != 0) + 1
    for lo, hi in zip(np.r_[0, edges], np.r_[edges, n], strict=True):
        if hand[lo] == 0 or mag[lo:hi].max() < enter_1pm:
            continue
        spans.extend(_split_at_valleys(mag, lo, hi, split_ratio))
    corners: list[tuple[float, Corner]] = []
    min_angle = np.radians(min_angle_deg)
    for first, last, apex in spans:
        turned = float(np.sum(k[first : last + 1] * step[first : last + 1]))
        if abs(turned) < min_angle or mag[apex] < enter_1pm:
            continue
        s_apex = float(s_m[order[apex]])
        corner = Corner(
            number="",
            direction="left" if turned > 0 else "right",
            s_entry_m=float(s_m[order[first]]),
            s_apex_m=s_apex,
            s_exit_m=float(s_m[order[last]]),
        )
        corners.append((s_apex, corner))
    corners.sort(key=lambda item: item[0])
    return tuple(
        Corner(str(i), c.direction, c.s_entry_m, c.s_apex_m, c.s_exit_m)
        for i, (_, c) in enumerate(corners, start=1)
    )


def _split_at_valleys(mag: FloatArray, lo: int, hi: int, ratio: float) -> list[tuple[int, int, int]]:
    """Split the run ``mag[lo:hi]`` into ``(first, last, apex)`` spans at deep valleys between peaks."""
    from scipy.signal import find_peaks  # scipy.signal costs ~0.4 s to import: only when corners are detected

    run = mag[lo:hi]
    peaks = find_peaks(np.r_[0.0, run, 0.0])[0] - 1  # zero padding lets a peak sit on the run's edge
    spans: list[tuple[int, int, int]] = []
    first, apex = 0, int(peaks[0])
    for peak in peaks[1:]:
        valley = apex + int(np.argmin(run[apex : peak + 1]))
        if run[valley] < ratio * min(run[apex], run[peak]):
            spans.append((lo + first, lo + valley - 1, lo + apex))
            first, apex = valley, int(peak)
        elif run[peak] > run[apex]:
            apex = int(peak)
    spans.append((lo + first, hi - 1, lo + apex))
    return spans


def detect_straights(
    corners: tuple[Corner, ...], length_m: float, *, min_length_m: float = STRAIGHT_MIN_M
) -> tuple[Straight, ...]:
    """Straights: gaps of at least ``min_length_m`` between consecutive corners (cyclic), in lap order.

    The gap through the start line is the "Start/finish straight"; others are named after the corners
    around them ("T6-T7 straight").
    """
    straights: list[Straight] = []
    for i, corner in enumerate(corners):
        nxt = corners[(i + 1) % len(corners)]
        gap = (nxt.s_entry_m - corner.s_exit_m) % length_m
        if gap < min_length_m:
            continue
        wraps = nxt.s_entry_m < corner.s_exit_m
        name = "Start/finish straight" if wraps else f"T{corner.number}-T{nxt.number} straight"
        straights.append(Straight(name, corner.s_exit_m, nxt.s_entry_m))
    straights.sort(key=lambda st: st.s_start_m if st.s_start_m <= st.s_end_m else st.s_start_m - length_m)
    return tuple(straights)
