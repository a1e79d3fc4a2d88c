"""The live coach's logic (no I/O, no asyncio): rolling windows of telemetry frames → disciplined cues.

:class:`LiveCoach` is fed decoded telemetry frames in order (:class:`LiveFrame`, the telemetry-topic shape of
:mod:`pitwall.live.bus`, reduced to the fields the coach reads). It keeps a window of at least
``CueLimits.burst_s`` data seconds; once the window is long enough, the first frame in a low-load zone
(|g_lat| below ``low_load_g_lat`` *and*, when the car's track position is known, outside every corner's
entry–exit span; see :meth:`LiveCoach.zone`)
closes it: the window's metrics (:func:`pitwall.coach.cues.window_metrics`) fire concepts, and the
:class:`~pitwall.coach.cues.CueGate` keeps at most ``max_items`` of them, none repeated within
``repeat_gap_s`` data seconds. A window that ends in a corner keeps growing (trimmed to ``max_window_s``).

Cost per frame: an append and a comparison; the track position is computed for one fix at most every
``zone_check_s`` data seconds, and a window's metrics once per burst.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Final

import msgspec
import numpy as np
import polars as pl

from pitwall.analysis.position import _LineIndex
from pitwall.coach.concepts import Concept
from pitwall.coach.cues import CUE_LIMITS, CueGate, CueLimits, candidate_cues, window_metrics
from pitwall.coach.metrics import confidence
from pitwall.coach.pace_notes import pace_note
from pitwall.track import Track

ZONE_CHECK_S: Final = 0.1
"""Data seconds between two track-position checks while waiting for a low-load zone."""


class LiveFrame(msgspec.Struct):
    """The fields of a telemetry-topic frame the coach reads (others are ignored when decoding)."""

    session_id: str
    frame_idx: int
    t_s: float
    utc: str | None = None
    lat_deg: float | None = None
    lon_deg: float | None = None
    heading_deg: float | None = None
    speed_kph: float | None = None
    sats: int | None = None
    g_lat: float | None = None
    g_long: float | None = None
    throttle_pct: float | None = None
    brake_bar: float | None = None
    brake_pct: float | None = None


FRAME_DECODER: Final = msgspec.json.Decoder(LiveFrame)

_WINDOW_SCHEMA: Final = {
    "t_s": pl.Float64,
    "speed_kph": pl.Float64,
    "sats": pl.Float64,
    "g_lat": pl.Float64,
    "g_long": pl.Float64,
    "throttle_pct": pl.Float64,
    "brake_bar": pl.Float64,
    "brake_pct": pl.Float64,
}


def _frame_table(frames: Sequence[LiveFrame]) -> pl.DataFrame:
    return pl.DataFrame(
        {name: [getattr(f, name) for f in frames] for name in _WINDOW_SCHEMA}, schema=_WINDOW_SCHEMA
    )


@dataclass
class _Zone:
    """Where the car is: ``s_m`` (m, NaN when unknown) and whether that is a low-load zone."""

    low_load: bool
    s_m: float


@dataclass
class LiveCoach:
    """Rolling-window cue evaluation for one stream of frames (see the module doc). Not thread-safe.

    ``track_for(session_id)`` returns the track of a session (``None`` when unknown: |g_lat| alone decides).
    """

    concepts: tuple[Concept, ...]
    track_for: Callable[[str], Track | None]
    limits: CueLimits = CUE_LIMITS
    session_id: str | None = None
    bursts: int = 0
    _window: list[LiveFrame] = field(default_factory=list)
    _gate: CueGate = field(default_factory=CueGate)
    _track: Track | None = None
    _line: _LineIndex | None = None
    _next_check_t: float = -math.inf

    def _start_session(self, session_id: str) -> None:
        self.session_id = session_id
        self.bursts = 0
        self._window = []
        self._gate = CueGate(self.limits)
        self._track = self.track_for(session_id)
        self._line = None if self._track is None else _LineIndex.of(self._track)
        self._next_check_t = -math.inf

    def zone(self, frame: LiveFrame) -> _Zone:
        """Low load: |g_lat| below the limit and, when the track position is known, outside every corner's
        entry–exit span. An unlogged ``g_lat`` leaves the decision to the position; with neither known the
        zone is not low-load (the coach stays quiet)."""
        s_m = math.nan
        track, line = self._track, self._line
        if line is not None and track is not None and frame.lat_deg is not None and frame.lon_deg is not None:
            heading = np.array([math.nan if frame.heading_deg is None else frame.heading_deg])
            s, _ = line.project(np.array([frame.lat_deg]), np.array([frame.lon_deg]), heading, 50.0)
            s_m = float(s[0])
        s_known, g_known = not math.isnan(s_m), frame.g_lat is not None
        if not (s_known or g_known):
            return _Zone(low_load=False, s_m=s_m)
        g_ok = not g_known or abs(frame.g_lat or 0.0) < self.limits.low_load_g_lat
        in_corner = s_known and any(
            c.s_entry_m <= s_m <= c.s_exit_m for c in (track.corners if track else ())
        )
        return _Zone(low_load=g_ok and not in_corner, s_m=s_m)

    def feed(self, frames: Sequence[LiveFrame]) -> list[dict[str, Any]]:
        """Consume frames in order; returns the cue payloads to publish (possibly none)."""
        out: list[dict[str, Any]] = []
        for frame in frames:
            if frame.session_id != self.session_id:
                self._start_session(frame.session_id)
            window = self._window
            window.append(frame)
            t = frame.t_s
            if t - window[0].t_s < self.limits.burst_s or t < self._next_check_t:
                continue
            self._next_check_t = t + ZONE_CHECK_S
            zone = self.zone(frame)
            if zone.low_load:
                out += self._close_window(frame, zone)
            elif t - window[0].t_s > self.limits.max_window_s:
                keep_from = t - self.limits.max_window_s
                self._window = [f for f in window if f.t_s >= keep_from]
        return out

    def _close_window(self, frame: LiveFrame, zone: _Zone) -> list[dict[str, Any]]:
        table = _frame_table(self._window)
        self._window = [frame]
        self.bursts += 1
        metrics = window_metrics(table)
        sampling = table.select(
            (1.0 / pl.col("t_s").diff().filter(pl.col("t_s").diff() > 0).median()).alias("hz"),
            pl.col("sats").median().alias("sats"),
        ).row(0)
        conf = confidence(sampling[0], sampling[1])
        spoken, _ = self._gate.admit(
            candidate_cues(metrics, self.concepts, confidence=conf, limits=self.limits), now_s=frame.t_s
        )
        if not spoken:
            return []
        s_m = None if math.isnan(zone.s_m) else round(zone.s_m, 1)
        note = None if self._track is None or s_m is None else pace_note(self._track, s_m=s_m)
        return [
            {
                "cue_key": f"{frame.session_id}:{self.bursts}:{cue.cue}",
                "text": cue.text,
                "emotion": cue.emotion,
                "frame_utc": frame.utc,
                **cue.to_dict(),
                "session_id": frame.session_id,
                "burst_id": self.bursts,
                "frame_idx": frame.frame_idx,
                "t_s": frame.t_s,
                "s_m": s_m,
                "g_lat": frame.g_lat,
                "pace_note": None if note is None else note.text,
                "coach_source": "rule",
            }
            for cue in spoken
        ]
