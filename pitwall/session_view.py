"""One session, ready for analysis: telemetry with track position and laps (the edge loader).

This module sits at the edge (like the API and notebooks): it reads from the store, collects, and caches.
Every analysis route and notebook starts from a :class:`SessionView`::

    view = SessionView.load(store, "rdam-20250801-1410", library, active_track)
    view.telemetry      # pl.LazyFrame: stored canonical columns + s_m, offset_m (metres) + lap (Int32, null
                        #   outside any lap); ordered by t_s. With a frozen/absent GPS fix, s_m is the
                        #   distance since the lap boundary and offset_m is null (analysis.laps.add_lap_distance)
    view.laps           # pl.DataFrame: schema.LAPS columns (lap, t_start_s, t_end_s, duration_s, distance_m,
                        #   method, kind, valid, reason), one row per lap
    view.track          # the session's Track (library entry of session.track_id, else the active track)
    view.complete_laps()        # laps bounded by two crossings (kind "flying"), valid or not
    view.require_complete_lap() # the same, or raises NoCompleteLap (HTTP 400)
    view.telemetry_g, view.driving, view.passes, view.sectors, view.ideal, view.lap_traces(laps)
                                # derived tables, computed once per view and shared by every route/notebook

In an HTTP handler use :func:`pitwall.api.views.view_of`, which caches views per ``(session_id, n_frames)`` in a small LRU
registered in ``app.state.caches`` (cleared by ``POST /session/reset``) and maps the errors below to the one
JSON error shape: :class:`NoTelemetry` → 404, :class:`NoTrack` → 404, :class:`NoCompleteLap` → 400,
unknown session → 404.

Laps are computed by :func:`session_laps` — the same function the importer uses to persist them — from the
telemetry, the session's VBO ``[laptiming]`` gates (``session.meta["gates"]``) and the track.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable, Mapping, Sequence
from dataclasses import dataclass
from functools import cached_property
from typing import Any, Protocol, TypeVar, cast

import polars as pl

from pitwall.analysis.corners import corner_passes, corner_summary
from pitwall.analysis.delta import DEFAULT_STEP_M, lap_traces
from pitwall.analysis.friction import add_derived_g
from pitwall.analysis.laps import add_lap_column, add_lap_distance, gps_usable, slice_laps
from pitwall.analysis.position import line_fingerprint, with_track_position
from pitwall.analysis.sectors import ideal_lap, sector_splits
from pitwall.formats.reference import MODEL_LAP
from pitwall.store.base import SessionRow, Store
from pitwall.track import Gate, Track
from pitwall.trackbuild import with_file_splits


class TrackLookup(Protocol):
    """What :class:`SessionView` needs from a track library (``pitwall.formats.track.TrackLibrary``)."""

    def get(self, track_id: str) -> Track: ...


class SessionViewError(Exception):
    """A session that cannot be analysed; ``status``/``error`` are the HTTP answer."""

    status = 400
    error = "cannot analyse session"

    def __init__(self, session_id: str, detail: str) -> None:
        super().__init__(f"{session_id}: {detail}")
        self.session_id = session_id
        self.detail = detail


class NoTelemetry(SessionViewError):
    """The session has no telemetry rows (HTTP 404)."""

    status = 404
    error = "no telemetry"


class NoTrack(SessionViewError):
    """Neither the session's track nor an active track is available (HTTP 404)."""

    status = 404
    error = "no track"


class NoCompleteLap(SessionViewError):
    """The session has no complete lap (HTTP 400)."""

    status = 400
    error = "no complete lap"


COMPLETE_KINDS: tuple[str, ...] = ("flying",)
"""Lap kinds bounded by two timing events on both ends (start/finish crossings or distance boundaries)."""


def gates_from_meta(meta: Mapping[str, Any]) -> tuple[Gate, ...]:
    """The VBO ``[laptiming]`` gates stored in ``session.meta["gates"]`` (a list of Gate field dicts)."""
    raw = meta.get("gates") or ()
    gates: list[Gate] = []
    for item in raw:
        if isinstance(item, Gate):
            gates.append(item)
        elif isinstance(item, Mapping):
            gates.append(
                Gate(
                    name=str(item.get("name", "")),
                    kind=cast(Any, item.get("kind", "start_finish")),
                    lat1_deg=float(item["lat1_deg"]),
                    lon1_deg=float(item["lon1_deg"]),
                    lat2_deg=float(item["lat2_deg"]),
                    lon2_deg=float(item["lon2_deg"]),
                    heading_deg=None if item.get("heading_deg") is None else float(item["heading_deg"]),
                )
            )
    return tuple(gates)


def session_laps(telemetry: pl.DataFrame, track: Track, meta: Mapping[str, Any]) -> pl.DataFrame:
    """The lap table (``schema.LAPS`` columns, ``session_id`` carried over) of one session's telemetry.

    Requires ``t_s``, ``lat_deg``, ``lon_deg`` (``heading_deg``, ``speed_kph``, ``distance_m`` when present).
    The logger's own lap boundaries (``meta["lap_marks_s"]``) come first; else the VBO gates of
    ``meta["gates"]`` when they cross, else the track's start/finish (see
    :func:`pitwall.analysis.laps.slice_laps`). Each lap counts the clock repairs of
    ``meta["clock_repairs"]["repaired_t_s"]`` inside it (``clock_repairs``).
    """
    marks = [float(m) for m in meta.get("lap_marks_s") or ()]
    repaired = [float(t) for t in (meta.get("clock_repairs") or {}).get("repaired_t_s") or ()]
    return slice_laps(
        telemetry.lazy(), track, gates=gates_from_meta(meta), lap_marks_s=marks, repaired_t_s=repaired
    ).collect()


MEMO_SIZE = 64
"""Results a view keeps in :meth:`SessionView.memo` (the least recently used go first)."""

T = TypeVar("T")


@dataclass(frozen=True, eq=False)
class SessionView:
    """A session's telemetry (with ``s_m``, ``offset_m``, ``lap``), its laps and its track. See the module doc."""

    session: SessionRow
    track: Track
    telemetry: pl.LazyFrame
    laps: pl.DataFrame
    n_frames: int

    @property
    def session_id(self) -> str:
        return self.session.session_id

    @classmethod
    def load(
        cls, store: Store, session_id: str, track_library: TrackLookup | None, active_track: Track | None
    ) -> SessionView:
        """Read, position and slice one session.

        Raises :class:`~pitwall.store.base.UnknownSession`, :class:`NoTelemetry` or :class:`NoTrack`.
        The track is the library entry of ``session.track_id`` when it resolves, else ``active_track``.
        """
        row = store.get_session(session_id)
        return cls.from_frames(row, store.read_telemetry(session_id), track_library, active_track)

    @classmethod
    def from_frames(
        cls,
        row: SessionRow,
        frames: pl.DataFrame,
        track_library: TrackLookup | None,
        active_track: Track | None,
    ) -> SessionView:
        """Position and slice a session whose row and telemetry (canonical columns) are already read — from
        a store (:meth:`load`) or from a parquet lake (:mod:`pitwall.lake`).

        Raises :class:`NoTelemetry` or :class:`NoTrack`.
        """
        session_id = row.session_id
        if frames.height == 0:
            raise NoTelemetry(session_id, "the session has no telemetry rows")
        track = with_file_splits(_track_for(row, track_library, active_track), gates_from_meta(row.meta))
        ordered = frames if frames["t_s"].is_sorted() else frames.sort("t_s")
        stored = row.meta.get("positioned_on") == line_fingerprint(track) and "offset_m" in ordered.columns
        positioned = ordered if stored else with_track_position(ordered, track)
        laps = session_laps(positioned, track, row.meta)
        if not _gps_usable(positioned) and positioned["distance_m"].null_count() < positioned.height:
            positioned = add_lap_distance(positioned.lazy(), laps, track.length_m).collect()
        telemetry = add_lap_column(positioned.drop("lap", strict=False).lazy(), laps.lazy()).collect()
        return cls(session=row, track=track, telemetry=telemetry.lazy(), laps=laps, n_frames=frames.height)

    def complete_laps(self) -> pl.DataFrame:
        """Laps bounded by two timing events (kind ``flying``), valid or not, in lap order."""
        return self.laps.filter(pl.col("kind").is_in(COMPLETE_KINDS)).sort("lap")

    def require_complete_lap(self) -> pl.DataFrame:
        """:meth:`complete_laps`, or :class:`NoCompleteLap` when there is none."""
        laps = self.complete_laps()
        if laps.height == 0:
            raise NoCompleteLap(self.session_id, "the session has no complete lap")
        return laps

    def best_lap(self) -> int | None:
        """The fastest valid complete lap number (``None`` when there is none)."""
        laps = self.complete_laps().filter(pl.col("valid")).sort("duration_s", "lap")
        return None if laps.height == 0 else int(laps["lap"][0])

    def lap_telemetry(self, lap: int) -> pl.LazyFrame:
        """Telemetry rows of one lap."""
        return self.telemetry.filter(pl.col("lap") == lap)

    # -- derived tables: computed on first use, then kept with the view (one per session version in the API's
    #    view cache), so every route and notebook that asks shares one computation ------------------------------

    @cached_property
    def telemetry_g(self) -> pl.DataFrame:
        """The telemetry with ``g_lat``/``g_long``/``yaw_rate_dps`` measured, else derived from GPS speed and
        course (``g_derived`` says which; :func:`pitwall.analysis.friction.add_derived_g`)."""
        return add_derived_g(self.telemetry).collect()

    @cached_property
    def complete_lap_numbers(self) -> list[int]:
        """The complete laps' numbers (:class:`NoCompleteLap` when there is none)."""
        return [int(lap) for lap in self.require_complete_lap()["lap"]]

    @property
    def driving(self) -> pl.LazyFrame:
        """The samples of the complete laps, with g (:attr:`telemetry_g`)."""
        return self.telemetry_g.lazy().filter(pl.col("lap").is_in(self.complete_lap_numbers))

    @cached_property
    def passes(self) -> pl.DataFrame:
        """Corner passes of the complete laps (:func:`pitwall.analysis.corners.corner_passes`, default
        thresholds)."""
        laps = self.complete_lap_numbers
        return corner_passes(self.telemetry_g.lazy(), self.track).filter(pl.col("lap").is_in(laps)).collect()

    @cached_property
    def sectors(self) -> pl.DataFrame:
        """The long sector table of every lap (:func:`pitwall.analysis.sectors.sector_splits`)."""
        return sector_splits(self.telemetry, self.laps.lazy(), self.track).collect()

    @cached_property
    def ideal(self) -> pl.DataFrame:
        """Σ best sectors over the valid flying laps (:func:`pitwall.analysis.sectors.ideal_lap`)."""
        return ideal_lap(self.telemetry, self.laps.lazy(), self.track).collect()

    def corner_summary(self, reference: pl.DataFrame | None = None) -> pl.DataFrame:
        """Per-corner aggregates of :attr:`passes` (:func:`pitwall.analysis.corners.corner_summary`) against
        ``reference`` — the track's model lap (:func:`pitwall.formats.reference.load_model_reference`) — else
        against the session's best pass of each corner."""
        lazy_ref = None if reference is None else reference.lazy()
        return corner_summary(
            self.passes.lazy(), self.track, reference=lazy_ref, reference_label=MODEL_LAP
        ).collect()

    def lap_traces(self, laps: Sequence[int], step_m: float = DEFAULT_STEP_M) -> pl.DataFrame:
        """Distance-resampled traces of ``laps`` every ``step_m`` metres (:func:`pitwall.analysis.delta.lap_traces`),
        kept like any :meth:`memo` result."""
        return self.memo(
            ("lap_traces", tuple(laps), float(step_m)),
            lambda: lap_traces(
                self.telemetry, self.laps.lazy(), self.track, laps=list(laps), step_m=step_m
            ).collect(),
        )

    def memo(self, key: Hashable, compute: Callable[[], T]) -> T:
        """``compute()``'s result for ``key``, computed on the first call and kept with the view (the last
        :data:`MEMO_SIZE` keys): anything derived from the view alone stays right for as long as the view
        lives, since new data makes a new view. A failure is not kept."""
        with self._memo_lock:
            if key in self._memo:
                self._memo.move_to_end(key)
                return cast(T, self._memo[key])
        value = compute()
        with self._memo_lock:
            self._memo[key] = value
            while len(self._memo) > MEMO_SIZE:
                self._memo.popitem(last=False)
        return value

    @cached_property
    def _memo(self) -> OrderedDict[Hashable, object]:
        return OrderedDict()

    @cached_property
    def _memo_lock(self) -> threading.Lock:
        return threading.Lock()


def _gps_usable(frames: pl.DataFrame) -> bool:
    """Whether the frames' GPS fixes can place the car (else ``s_m`` comes from the lap distance)."""
    return gps_usable(
        frames["lat_deg"].cast(pl.Float64).fill_null(float("nan")).to_numpy(),
        frames["lon_deg"].cast(pl.Float64).fill_null(float("nan")).to_numpy(),
    )


def _track_for(row: SessionRow, library: TrackLookup | None, active: Track | None) -> Track:
    if row.track_id and library is not None:
        try:
            return library.get(row.track_id)
        except KeyError:
            pass
    if active is None:
        raise NoTrack(
            row.session_id, f"track {row.track_id or '(none)'} is not in the library and no track is active"
        )
    return active


class SessionViewCache:
    """A small thread-safe LRU of views keyed by ``(session_id, n_frames)`` (new frames → a fresh view)."""

    def __init__(self, maxsize: int = 8) -> None:
        self.maxsize = maxsize
        self._items: OrderedDict[tuple[str, int], SessionView] = OrderedDict()
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self._items)

    def get_or_load(self, key: tuple[str, int], load: Callable[[], SessionView]) -> SessionView:
        with self._lock:
            hit = self._items.get(key)
            if hit is not None:
                self._items.move_to_end(key)
                return hit
        view = load()
        with self._lock:
            self._items[key] = view
            self._items.move_to_end(key)
            while len(self._items) > self.maxsize:
                self._items.popitem(last=False)
        return view

    def clear(self) -> int:
        """Drop every cached view; returns how many were dropped."""
        with self._lock:
            n = len(self._items)
            self._items.clear()
        return n
