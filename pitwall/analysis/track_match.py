"""Which library track a recording was made on, from its GPS fixes alone (pure numpy).

Fixes are first thinned to one per ``MOVE_STEP_M`` metres travelled ("moving fixes"), so time spent parked
does not count (GPS jitter included) and every part of the lap weighs by its length. For each nearby track, two shares are measured:

* ``on_share``: the share of moving fixes within ``max_offset_m`` of the track's reference line;
* ``coverage``: the share of the lap (``COVERAGE_BIN_M`` bins of ``s_m``) that those fixes visit.

A track qualifies when ``on_share ≥ MIN_ON_SHARE``; the best has the highest harmonic mean of the two, so a
long layout beats a short variant it contains (the short variant's fixes cover only part of the long lap) and
a short variant beats the long layout when the car drove only the short one (the long lap is partly covered).
Scores within ``TIE_TOLERANCE`` tie; ties go to the line that fits the fixes more closely (median ``|offset|``
smaller by more than ``OFFSET_TOLERANCE_M``), and layouts that are the same loop with a different start line
(e.g. "Rd Amer" / "Rd Amer Alt") are resolved by the order of ``tracks``: the first wins.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import numpy.typing as npt

from pitwall.analysis.geo import haversine_m, path_steps_m
from pitwall.analysis.position import track_position_arrays
from pitwall.track import Track

MOVE_STEP_M = 2.0
"""Fixes are thinned to one per this distance travelled (metres)."""
MAX_FIXES = 4_000
"""Longer recordings are thinned evenly to this many moving fixes: the shares are proportions, and 4,000
fixes still visit every coverage bin of a lap many times over, while projection cost grows with the count."""
MIN_MOVING_FIXES = 20
"""Fewer moving fixes than this (≈40 m of driving) cannot identify a track."""
MIN_ON_SHARE = 0.6
"""A track qualifies when at least this share of moving fixes lies on it."""
COVERAGE_BIN_M = 20.0
"""Lap coverage is counted in bins of this many metres of ``s_m``."""
NEARBY_M = 5_000.0
"""Tracks whose reference line is farther than this from the median fix are not examined."""
TIE_TOLERANCE = 0.01
"""Scores closer than this are a tie, broken by closeness of fit, then by the order of ``tracks``."""
OFFSET_TOLERANCE_M = 0.5
"""Median ``|offset_m|`` closer than this is the same fit (the same loop digitised twice)."""


def detect_track(
    lat_deg: npt.ArrayLike, lon_deg: npt.ArrayLike, tracks: Sequence[Track], *, max_offset_m: float = 30.0
) -> Track | None:
    """The track the fixes (WGS84 degrees, NaN allowed) were recorded on, or ``None`` if none matches.

    See the module docstring for the rule: ≥ ``MIN_ON_SHARE`` of moving fixes within ``max_offset_m`` metres
    of the reference line, best harmonic mean of that share and lap coverage, ties to the earlier track.
    """
    lat, lon = _moving_fixes(np.asarray(lat_deg, dtype=np.float64), np.asarray(lon_deg, dtype=np.float64))
    if lat.shape[0] < MIN_MOVING_FIXES:
        return None
    stride = -(-lat.shape[0] // MAX_FIXES)
    lat, lon = lat[::stride], lon[::stride]
    centre_lat, centre_lon = float(np.median(lat)), float(np.median(lon))
    scored: list[tuple[float, float, Track]] = []  # (score, median |offset_m|, track)
    for track in tracks:
        line = track.reference_line
        if float(haversine_m(centre_lat, centre_lon, line.lat_deg, line.lon_deg).min()) > NEARBY_M:
            continue
        s_m, offset_m = track_position_arrays(lat, lon, track, max_offset_m=max_offset_m)
        on = np.isfinite(s_m)
        on_share = float(on.mean())
        if on_share < MIN_ON_SHARE:
            continue
        n_bins = int(np.ceil(track.length_m / COVERAGE_BIN_M))
        coverage = np.unique((s_m[on] // COVERAGE_BIN_M).astype(np.int64)).shape[0] / n_bins
        score = 2 * on_share * coverage / (on_share + coverage)
        scored.append((score, float(np.median(np.abs(offset_m[on]))), track))
    if not scored:
        return None
    top = max(score for score, _, _ in scored)
    tied = [(fit, track) for score, fit, track in scored if score >= top - TIE_TOLERANCE]
    closest = min(fit for fit, _ in tied)
    return next(track for fit, track in tied if fit <= closest + OFFSET_TOLERANCE_M)


def _moving_fixes(
    lat: npt.NDArray[np.float64], lon: npt.NDArray[np.float64]
) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]]:
    """Valid fixes thinned to the first in each ``MOVE_STEP_M`` of travelled distance, keeping only those at
    least ``MOVE_STEP_M / 2`` from the previous kept fix (so a parked car's jitter counts once)."""
    ok = np.isfinite(lat) & np.isfinite(lon)
    lat, lon = lat[ok], lon[ok]
    if lat.shape[0] < 2:
        return lat, lon
    travelled = np.r_[0.0, np.cumsum(path_steps_m(lat, lon))]
    _, first = np.unique((travelled // MOVE_STEP_M).astype(np.int64), return_index=True)
    lat, lon = lat[first], lon[first]
    # GPS jitter while parked adds up to "travelled" distance without going anywhere: drop such fixes.
    moved = np.r_[True, path_steps_m(lat, lon) >= MOVE_STEP_M / 2]
    return lat[moved], lon[moved]
