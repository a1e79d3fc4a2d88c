"""Position on track: project GPS fixes onto a track's reference line → ``s_m`` and ``offset_m``.

``s_m`` is metres along the (closed) reference line from the start/finish line, in ``[0, length_m)``;
``offset_m`` is the signed lateral distance from the line, **positive to the left** of the direction of travel.

Method (vectorised numpy, no loop over fixes): fixes and the reference line go to a local metric plane; a
``scipy.spatial.cKDTree`` over the line's points finds the ``CANDIDATES`` nearest points of each fix; the fix
is projected exactly onto the segments starting at each of them (and the one ending at the nearest) and
the closest projection wins. Where
the line passes close to itself (a crossover, a hairpin next to a straight), a known heading breaks the tie:
projections onto segments pointing more than 90° away from the fix's heading are penalised.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
import polars as pl
from scipy.spatial import cKDTree

from pitwall.analysis.geo import FloatArray, to_local_xy
from pitwall.track import Track

CANDIDATES = 10
"""Nearest reference points examined per fix (each contributes the segment starting at it)."""
PROJECT_CHUNK = 2048
"""Fixes projected at a time: the dozen (fixes × candidates) work arrays stay ≈ 4 MB however long the
session (all at once they took ≈ 100 MB for one hour at 20 Hz; 8,192 at a time left an import ~20 MB more
resident, as the C allocator keeps what the larger arrays took, for ~5 ms less on an hour's fixes)."""

POSITION_DTYPE = pl.Struct({"s_m": pl.Float64(), "offset_m": pl.Float64()})


@dataclass(frozen=True, eq=False)
class _LineIndex:
    """The closed reference line in a local plane, with a k-d tree over its points.

    Segment ``i`` runs from point ``i`` to point ``i + 1`` (the last one closes the loop back to point 0).
    """

    lat0_deg: float
    lon0_deg: float
    x_m: FloatArray
    y_m: FloatArray
    s_m: FloatArray
    dx_m: FloatArray
    dy_m: FloatArray
    seg_len_m: FloatArray
    seg_heading_deg: FloatArray
    length_m: float
    tree: cKDTree

    @classmethod
    def of(cls, track: Track) -> _LineIndex:
        line = track.reference_line
        lat0, lon0 = float(line.lat_deg[0]), float(line.lon_deg[0])
        x, y = to_local_xy(line.lat_deg, line.lon_deg, lat0, lon0)
        dx, dy = np.roll(x, -1) - x, np.roll(y, -1) - y
        heading = np.asarray(np.degrees(np.arctan2(dx, dy)) % 360.0, dtype=np.float64)
        return cls(
            lat0_deg=lat0,
            lon0_deg=lon0,
            x_m=x,
            y_m=y,
            s_m=np.asarray(line.s_m, dtype=np.float64),
            dx_m=dx,
            dy_m=dy,
            seg_len_m=np.hypot(dx, dy),
            seg_heading_deg=heading,
            length_m=float(track.length_m),
            tree=cKDTree(np.column_stack([x, y])),
        )

    def project(
        self, lat_deg: FloatArray, lon_deg: FloatArray, heading_deg: FloatArray | None, max_offset_m: float
    ) -> tuple[FloatArray, FloatArray]:
        """``(s_m, offset_m)`` per fix; NaN where the fix is missing or farther than ``max_offset_m``. Fixes
        are projected :data:`PROJECT_CHUNK` at a time (each fix on its own: the same result in one piece)."""
        n_fix = lat_deg.shape[0]
        s_out = np.full(n_fix, np.nan)
        off_out = np.full(n_fix, np.nan)
        ok = np.isfinite(lat_deg) & np.isfinite(lon_deg)
        rows = np.flatnonzero(ok)
        px, py = to_local_xy(lat_deg[ok], lon_deg[ok], self.lat0_deg, self.lon0_deg)
        heading = None if heading_deg is None else heading_deg[ok]
        for start in range(0, rows.size, PROJECT_CHUNK):
            part = slice(start, start + PROJECT_CHUNK)
            s_out[rows[part]], off_out[rows[part]] = self._nearest(
                px[part], py[part], None if heading is None else heading[part], max_offset_m
            )
        return s_out, off_out

    def _nearest(
        self, px: FloatArray, py: FloatArray, fix_heading_deg: FloatArray | None, max_offset_m: float
    ) -> tuple[FloatArray, FloatArray]:
        """:meth:`project` of fixes at local ``px``, ``py`` (m), all present."""
        n_line = self.x_m.shape[0]
        k = min(CANDIDATES, n_line)
        reach = max_offset_m + float(self.seg_len_m.max())
        _, nearest = self.tree.query(np.column_stack([px, py]), k=k, distance_upper_bound=reach, workers=-1)
        nearest = np.asarray(nearest).reshape(px.shape[0], k)
        found = nearest < n_line  # the tree pads missing neighbours with n_line
        node = np.where(found, nearest, 0)
        # Candidate segments: the one starting at each near point, plus the one ending at the nearest point
        # (a near point's incoming segment starts at its predecessor, itself near unless it is the first).
        seg = np.concatenate([node, (node[:, :1] - 1) % n_line], axis=1)
        usable = np.concatenate([found, found[:, :1]], axis=1)
        ax, ay = self.x_m[seg], self.y_m[seg]
        dx, dy, seg_len = self.dx_m[seg], self.dy_m[seg], self.seg_len_m[seg]
        rx, ry = px[:, None] - ax, py[:, None] - ay
        t = np.clip((rx * dx + ry * dy) / (seg_len * seg_len), 0.0, 1.0)
        ex, ey = rx - t * dx, ry - t * dy
        dist = np.hypot(ex, ey)
        cost = np.where(usable, dist, np.inf)
        if fix_heading_deg is not None:
            fix_heading = fix_heading_deg[:, None]
            away = np.abs((fix_heading - self.seg_heading_deg[seg] + 180.0) % 360.0 - 180.0) > 90.0
            cost = cost + np.where(np.isfinite(fix_heading) & away, 2.0 * max_offset_m, 0.0)
        best = np.argmin(cost, axis=1)
        rows = np.arange(px.shape[0])
        best_dist = dist[rows, best]
        seg_best = seg[rows, best]
        side = np.sign(dx[rows, best] * ry[rows, best] - dy[rows, best] * rx[rows, best])  # + = left
        s = (self.s_m[seg_best] + t[rows, best] * seg_len[rows, best]) % self.length_m
        on_track = np.isfinite(cost[rows, best]) & (best_dist <= max_offset_m)
        return np.where(on_track, s, np.nan), np.where(on_track, side * best_dist, np.nan)


def track_position_arrays(
    lat_deg: npt.ArrayLike,
    lon_deg: npt.ArrayLike,
    track: Track,
    *,
    heading_deg: npt.ArrayLike | None = None,
    max_offset_m: float = 50.0,
) -> tuple[FloatArray, FloatArray]:
    """``(s_m, offset_m)`` arrays for GPS fixes (degrees, NaN for missing) on ``track``'s reference line.

    ``s_m`` in metres ``[0, length_m)``, ``offset_m`` in metres, positive left. Both are NaN where a fix is
    missing or more than ``max_offset_m`` from the line. ``heading_deg`` (course over ground, optional, NaN
    allowed) disambiguates places where the line passes close to itself.
    """
    lat = np.asarray(lat_deg, dtype=np.float64).ravel()
    lon = np.asarray(lon_deg, dtype=np.float64).ravel()
    heading = None if heading_deg is None else np.asarray(heading_deg, dtype=np.float64).ravel()
    return _LineIndex.of(track).project(lat, lon, heading, max_offset_m)


def line_fingerprint(track: Track) -> str:
    """A short hash of what positions depend on — the track's id, length and reference line — so positions
    stored for one version of a track are used only while the track is unchanged (a moved start line re-bases
    ``s_m``)."""
    line = track.reference_line
    digest = hashlib.sha256(f"{track.id}|{track.length_m!r}".encode())
    for values in (line.lat_deg, line.lon_deg, line.s_m):
        digest.update(np.ascontiguousarray(values, dtype=np.float64).tobytes())
    return digest.hexdigest()[:16]


def add_track_position(lf: pl.LazyFrame, track: Track, *, max_offset_m: float = 50.0) -> pl.LazyFrame:
    """Add ``s_m`` and ``offset_m`` (Float64, metres) by projecting each fix onto ``track``'s reference line.

    Requires ``lat_deg``, ``lon_deg`` (WGS84 degrees); uses ``heading_deg`` (degrees from north) when present
    to pick the right branch where the line passes close to itself. ``s_m`` is in ``[0, length_m)`` from the
    start/finish line, ``offset_m`` is positive left of the line; both are null where lat/lon are null or the
    fix is farther than ``max_offset_m`` from the line. Existing ``s_m``/``offset_m`` columns are replaced.

    The projection runs as one vectorised numpy step per batch (``map_batches`` on a struct of the input
    columns, elementwise, so it streams); the line index is built once from the already-materialised track.
    A frame already in memory is positioned by :func:`with_track_position`.
    """
    inputs = _position_inputs(lf.collect_schema().names())
    index = _LineIndex.of(track)

    def project(batch: pl.Series) -> pl.Series:
        return _positions(index, batch.struct.unnest(), max_offset_m).to_struct(batch.name)

    position = pl.struct(inputs).map_batches(project, return_dtype=POSITION_DTYPE, is_elementwise=True)
    return lf.with_columns(position.struct.unnest())


def with_track_position(frame: pl.DataFrame, track: Track, *, max_offset_m: float = 50.0) -> pl.DataFrame:
    """:func:`add_track_position` of a frame in memory (the same columns and values), projected in one call on
    this thread: the numpy work arrays reuse memory this thread's allocator already holds, where on a Polars
    worker thread they took new memory (an hour's import stayed ~10–20 MB more resident)."""
    inputs = frame.select(_position_inputs(frame.columns))
    return frame.with_columns(_positions(_LineIndex.of(track), inputs, max_offset_m))


def _position_inputs(names: list[str]) -> list[str]:
    """The columns a projection reads (``heading_deg`` when present); ``ValueError`` without lat/lon."""
    missing = [c for c in ("lat_deg", "lon_deg") if c not in names]
    if missing:
        raise ValueError(f"track position needs columns lat_deg, lon_deg; missing: {', '.join(missing)}")
    return ["lat_deg", "lon_deg", *(["heading_deg"] if "heading_deg" in names else [])]


def _positions(index: _LineIndex, fixes: pl.DataFrame, max_offset_m: float) -> pl.DataFrame:
    """``s_m``, ``offset_m`` (m; null off the line or without a fix) of ``fixes`` (``lat_deg``, ``lon_deg``
    and, when present, ``heading_deg``, degrees)."""
    heading = fixes["heading_deg"].cast(pl.Float64).to_numpy() if "heading_deg" in fixes.columns else None
    s, offset = index.project(
        fixes["lat_deg"].cast(pl.Float64).to_numpy(),
        fixes["lon_deg"].cast(pl.Float64).to_numpy(),
        heading,
        max_offset_m,
    )
    return pl.DataFrame({"s_m": s, "offset_m": offset}).fill_nan(None)
