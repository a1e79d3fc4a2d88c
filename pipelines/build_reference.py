"""``python -m pipelines build-reference``: the physics-model reference lap ``data/reference/<track>_model.json``.

Where the numbers come from — nothing is hand-entered:

1. :func:`pitwall.live.physics.lap_profile` (``lap_seconds=None``: the natural, unscaled lap) gives the
   quasi-steady-state physics lap of the car (default ``bmw_e46_m3``, its YAML ``performance`` envelope:
   mass, power, μ, brake g, drag) on the track's reference line: the car at its grip limit in every corner,
   braking at the latest point its brakes allow.
2. The profile is laid end to end three times (a periodic lap, so the corner windows that reach across the
   start line are complete), placed on the track's ``s_m`` with :func:`pitwall.analysis.position.add_track_position`,
   and measured by the same code that measures drivers: :func:`pitwall.analysis.corners.corner_passes` on the
   middle lap, then :func:`pitwall.analysis.corners.reference_from_passes`.

The JSON (``corners``: per corner ``corner``, ``time_s``, ``entry_speed_kph``, ``min_speed_kph``,
``exit_speed_kph``, ``brake_point_s_m``, ``t_entry_s`` — time into the lap at the corner entry) is written
deterministically (same inputs, same bytes); the API grades corners against it when the session's track id
matches (``/session/<sid>/corners``, ``/scorecard``).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

import polars as pl

from pitwall import DATA_DIR
from pitwall.analysis.corners import corner_passes, reference_from_passes
from pitwall.analysis.position import add_track_position
from pitwall.formats.car import CarConfig, load_car
from pitwall.formats.reference import REFERENCE_DIR
from pitwall.formats.track import load_track
from pitwall.live.physics import lap_profile, lap_time_s
from pitwall.track import Track

NAME = "build-reference"
DEFAULT_TRACK = DATA_DIR / "tracks" / "sonoma.json"
DEFAULT_CAR = DATA_DIR / "cars" / "bmw_e46_m3.yaml"
DEFAULT_OUT = REFERENCE_DIR
REFERENCE_LAP = 2
"""The middle of the three laid-out laps is measured."""
PROFILE_CHANNELS = (
    "t_s",
    "lat_deg",
    "lon_deg",
    "heading_deg",
    "speed_kph",
    "throttle_pct",
    "brake_bar",
    "g_lat",
    "g_long",
)
"""The canonical channels of a physics lap profile that :func:`profile_session` lays out as telemetry."""


def profile_session(profile: pl.DataFrame, track: Track, *, laps: int = 3) -> pl.DataFrame:
    """A :func:`~pitwall.live.physics.lap_profile` laid end to end ``laps`` times as telemetry: ``t_s``,
    ``lap`` (from 1), ``s_m``, ``offset_m`` (track position of the profile's fixes), ``speed_kph``,
    ``throttle_pct``, ``brake_bar``, ``brake_pct`` (null), ``g_lat``, ``g_long``."""
    period = lap_time_s(profile)
    one = profile.select(PROFILE_CHANNELS)
    repeated = pl.concat(
        one.with_columns(pl.col("t_s") + k * period, pl.lit(k + 1, dtype=pl.Int32).alias("lap"))
        for k in range(laps)
    )
    return (
        add_track_position(repeated.lazy(), track)
        .with_columns(pl.lit(None, dtype=pl.Float64).alias("brake_pct"))
        .collect()
    )


def build_reference(track: Track, car: CarConfig) -> dict[str, Any]:
    """The reference document of ``track`` for ``car`` (see the module doc)."""
    profile = lap_profile(track, car=car, lap_seconds=None)
    session = profile_session(profile, track)
    passes = corner_passes(session.lazy(), track).filter(pl.col("lap") == REFERENCE_LAP).collect()
    reference = reference_from_passes(passes.lazy()).collect()
    lap_start = float(session.filter(pl.col("lap") == REFERENCE_LAP)["t_s"].min())  # type: ignore[arg-type]
    entries = dict(zip(passes["corner"].to_list(), passes["t_entry_s"].to_list(), strict=True))
    corners = [
        {
            "corner": row["corner"],
            "time_s": round(row["ref_time_s"], 3),
            "entry_speed_kph": round(row["ref_entry_speed_kph"], 1),
            "min_speed_kph": round(row["ref_min_speed_kph"], 1),
            "exit_speed_kph": round(row["ref_exit_speed_kph"], 1),
            "brake_point_s_m": None
            if row["ref_brake_point_s_m"] is None
            else round(row["ref_brake_point_s_m"], 1),
            "t_entry_s": round(entries[row["corner"]] - lap_start, 3),
        }
        for row in reference.join(passes.select("corner", "corner_idx"), on="corner")
        .sort("corner_idx")
        .iter_rows(named=True)
    ]
    return {
        "track_id": track.id,
        "track_name": track.name,
        "car_id": car.id,
        "lap_time_s": round(lap_time_s(profile), 3),
        "generated_by": f"python -m pipelines {NAME} --track <{track.id}.json> --car <{car.id}.yaml>",
        "source": (
            "pitwall.live.physics.lap_profile(lap_seconds=None): quasi-steady-state physics lap of the car's "
            "performance envelope on the track reference line; corner metrics by "
            "pitwall.analysis.corners.corner_passes on the middle of three laid-out laps"
        ),
        "corners": corners,
    }


def write_reference(document: dict[str, Any], out: Path) -> Path:
    """Write ``<out>/<track_id>_model.json`` (sorted keys, 2-space indent, trailing newline)."""
    out.mkdir(parents=True, exist_ok=True)
    path = out / f"{document['track_id']}_model.json"
    path.write_text(json.dumps(document, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    return path


def add_parser(subparsers: Any) -> None:
    """Register the ``build-reference`` job on the ``python -m pipelines`` dispatcher."""
    parser = subparsers.add_parser(NAME, help="build data/reference/<track>_model.json from the physics lap")
    parser.add_argument("--track", type=Path, default=DEFAULT_TRACK, help="track JSON")
    parser.add_argument("--car", type=Path, default=DEFAULT_CAR, help="car YAML with a performance section")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="reference folder to write")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    document = build_reference(load_track(args.track), load_car(args.car))
    print(f"wrote {write_reference(document, Path(args.out))} (lap {document['lap_time_s']} s)")
    return 0
