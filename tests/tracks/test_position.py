"""Track position (``s_m``, ``offset_m``) by projection onto the reference line."""

from __future__ import annotations

import itertools

import numpy as np
import polars as pl
import pytest
from polars.testing import assert_frame_equal
from scipy.spatial import cKDTree

from pitwall.analysis.geo import FloatArray, from_local_xy, to_local_xy
from pitwall.analysis.position import (
    PROJECT_CHUNK,
    add_track_position,
    track_position_arrays,
    with_track_position,
)
from pitwall.track import Track


def _local_line(track: Track) -> tuple[FloatArray, FloatArray, float, float]:
    line = track.reference_line
    lat0, lon0 = float(line.lat_deg[0]), float(line.lon_deg[0])
    x, y = to_local_xy(line.lat_deg, line.lon_deg, lat0, lon0)
    return x, y, lat0, lon0


def _point_at(
    track: Track, s_m: FloatArray, offset_m: FloatArray
) -> tuple[FloatArray, FloatArray, FloatArray]:
    """(lat, lon, heading) of points ``offset_m`` left of the reference line at ``s_m``."""
    x, y, lat0, lon0 = _local_line(track)
    s_closed = np.r_[track.reference_line.s_m, track.length_m]
    xc, yc = np.r_[x, x[0]], np.r_[y, y[0]]
    i = np.searchsorted(s_closed, s_m, side="right") - 1
    f = (s_m - s_closed[i]) / (s_closed[i + 1] - s_closed[i])
    tx, ty = xc[i + 1] - xc[i], yc[i + 1] - yc[i]
    norm = np.hypot(tx, ty)
    px = xc[i] + f * tx - ty / norm * offset_m
    py = yc[i] + f * ty + tx / norm * offset_m
    lat, lon = from_local_xy(px, py, lat0, lon0)
    return lat, lon, np.degrees(np.arctan2(tx, ty)) % 360


def _lap_error(a: FloatArray, b: FloatArray, length: float) -> FloatArray:
    return np.abs((a - b + length / 2) % length - length / 2)


def test_point_three_metres_left_at_1000_m(sonoma: Track) -> None:
    lat, lon, _ = _point_at(sonoma, np.array([1000.0, 1000.0]), np.array([3.0, -3.0]))
    s, offset = track_position_arrays(lat, lon, sonoma)
    assert s == pytest.approx([1000.0, 1000.0], abs=0.5)
    assert offset == pytest.approx([3.0, -3.0], abs=0.05)


def test_random_points_round_trip(sonoma: Track) -> None:
    rng = np.random.default_rng(7)
    s_true = rng.uniform(0, sonoma.length_m, 5000)
    off_true = rng.uniform(-6, 6, 5000)
    lat, lon, _ = _point_at(sonoma, s_true, off_true)
    s, offset = track_position_arrays(lat, lon, sonoma)
    assert np.all((s >= 0) & (s < sonoma.length_m))
    assert np.percentile(_lap_error(s, s_true, sonoma.length_m), 99) < 0.5
    assert np.abs(offset - off_true).max() < 0.2


def test_wraps_around_the_start_line(sonoma: Track) -> None:
    s_true = np.array([sonoma.length_m - 2.0, sonoma.length_m - 0.3, 0.0, 0.4, 2.0])
    lat, lon, _ = _point_at(sonoma, s_true, np.full(5, 1.5))
    s, offset = track_position_arrays(lat, lon, sonoma)
    assert np.all((s >= 0) & (s < sonoma.length_m))
    assert _lap_error(s, s_true, sonoma.length_m).max() < 0.1
    assert s[:2] == pytest.approx(s_true[:2], abs=0.1)  # just before the line: near length_m, not negative
    assert offset == pytest.approx(np.full(5, 1.5), abs=0.05)


def test_far_and_missing_fixes_have_no_position(sonoma: Track) -> None:
    lat, lon, _ = _point_at(sonoma, np.array([500.0, 500.0, 500.0]), np.array([49.0, 51.0, 0.0]))
    lat[2] = np.nan
    s, offset = track_position_arrays(lat, lon, sonoma, max_offset_m=50.0)
    assert np.isfinite(s[0]) and offset[0] == pytest.approx(49.0, abs=0.1)
    assert np.isnan(s[1:]).all() and np.isnan(offset[1:]).all()


def test_heading_picks_the_branch_where_the_line_passes_close_to_itself(sonoma: Track) -> None:
    x, y, lat0, lon0 = _local_line(sonoma)
    s_line, length = sonoma.reference_line.s_m, sonoma.length_m
    pairs = cKDTree(np.column_stack([x, y])).query_pairs(r=60.0, output_type="ndarray")
    a, b = pairs[:, 0], pairs[:, 1]
    heading = np.degrees(np.arctan2(np.roll(x, -1) - x, np.roll(y, -1) - y)) % 360
    opposite = np.abs((heading[a] - heading[b] + 180) % 360 - 180) > 150
    apart = _lap_error(s_line[a], s_line[b], length) > 300
    gap = np.hypot(x[a] - x[b], y[a] - y[b])
    k = int(np.argmin(np.where(opposite & apart, gap, np.inf)))
    i, j = int(a[k]), int(b[k])
    assert 20 < gap[k] < 60  # Sonoma's back straight runs beside the T7-T8 return
    lat, lon = from_local_xy(x[i] + 0.45 * (x[j] - x[i]), y[i] + 0.45 * (y[j] - y[i]), lat0, lon0)
    lat3, lon3 = np.full(3, lat), np.full(3, lon)
    s, _ = track_position_arrays(lat3, lon3, sonoma, heading_deg=np.array([np.nan, heading[i], heading[j]]))
    assert _lap_error(s, np.array([s_line[i], s_line[i], s_line[j]]), length).max() < 15.0


def test_add_track_position_matches_arrays_and_nulls(sonoma: Track) -> None:
    s_true = np.array([10.0, 1000.0, 2500.0, 3990.0, 100.0])
    lat, lon, heading = _point_at(sonoma, s_true, np.array([0.5, 3.0, -2.0, 1.0, 80.0]))
    frame = pl.DataFrame(
        {
            "t_s": [0.0, 1.0, 2.0, 3.0, 4.0, 5.0],
            "lat_deg": [*lat, None],
            "lon_deg": [*lon, None],
            "heading_deg": [*heading, None],
            "s_m": [None] * 6,  # a stale/empty canonical column is replaced
        },
        schema_overrides={"s_m": pl.Float64},
    )
    out = add_track_position(frame.lazy(), sonoma).collect()
    s, offset = track_position_arrays(lat, lon, sonoma, heading_deg=heading)
    expected = frame.with_columns(
        pl.Series("s_m", [*s, np.nan]).fill_nan(None), pl.Series("offset_m", [*offset, np.nan]).fill_nan(None)
    )
    assert_frame_equal(out, expected)
    assert_frame_equal(with_track_position(frame, sonoma), out)
    assert out["s_m"].null_count() == 2  # 80 m off the line, and the missing fix
    assert out["s_m"][1] == pytest.approx(1000.0, abs=0.5) and out["offset_m"][1] == pytest.approx(
        3.0, abs=0.05
    )
    streamed = add_track_position(frame.lazy(), sonoma).collect(engine="streaming")
    assert_frame_equal(streamed, out)


def test_fixes_are_projected_alike_whatever_chunk_they_fall_in(sonoma: Track) -> None:
    """Fixes go through the projection :data:`PROJECT_CHUNK` at a time: pieces cut across those chunks (and
    missing fixes, which shift the rest) give the same bits as the whole."""
    rng = np.random.default_rng(3)
    n = 2 * PROJECT_CHUNK + 905
    lat, lon, heading = _point_at(sonoma, rng.uniform(0, sonoma.length_m, n), rng.uniform(-8, 8, n))
    lat[rng.choice(n, 40, replace=False)] = np.nan
    whole = track_position_arrays(lat, lon, sonoma, heading_deg=heading)
    cuts = [0, 1, PROJECT_CHUNK - 3, PROJECT_CHUNK + 7, 2 * PROJECT_CHUNK + 1, n]
    pieces = [
        track_position_arrays(lat[a:b], lon[a:b], sonoma, heading_deg=heading[a:b])
        for a, b in itertools.pairwise(cuts)
    ]
    for got, expected in zip(whole, zip(*pieces, strict=True), strict=True):
        assert np.array_equal(got, np.concatenate(expected), equal_nan=True)


def test_add_track_position_without_heading(sonoma: Track) -> None:
    lat, lon, _ = _point_at(sonoma, np.array([700.0]), np.array([-1.0]))
    out = add_track_position(pl.LazyFrame({"lat_deg": lat, "lon_deg": lon}), sonoma).collect()
    assert out.columns == ["lat_deg", "lon_deg", "s_m", "offset_m"]
    assert out["s_m"][0] == pytest.approx(700.0, abs=0.5) and out["offset_m"][0] == pytest.approx(
        -1.0, abs=0.05
    )


def test_add_track_position_requires_lat_lon(sonoma: Track) -> None:
    with pytest.raises(ValueError, match="missing: lon_deg"):
        add_track_position(pl.LazyFrame({"lat_deg": [38.16]}), sonoma)
    with pytest.raises(ValueError, match="missing: lat_deg"):
        with_track_position(pl.DataFrame({"lon_deg": [-122.45]}), sonoma)
