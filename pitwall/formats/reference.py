"""Physics-model reference laps: ``data/reference/<track id>_model.json``, read as per-corner references.

The files are written by ``python -m pipelines build-reference``; each has a ``corners`` list with, per
corner, ``corner``, ``time_s`` (s), ``entry_speed_kph``, ``min_speed_kph``, ``exit_speed_kph`` (km/h) and
``brake_point_s_m`` (m along the track's reference line).
"""

from __future__ import annotations

import json
from functools import lru_cache
from pathlib import Path
from typing import Final

import polars as pl

from pitwall import DATA_DIR
from pitwall.analysis.corners import REFERENCE_COLUMNS

REFERENCE_DIR: Final = DATA_DIR / "reference"
"""Physics-model reference laps: ``<track id>_model.json`` (written by ``python -m pipelines build-reference``)."""


@lru_cache(maxsize=16)
def _read_reference(path: str, mtime_ns: int) -> pl.DataFrame:
    document = json.loads(Path(path).read_text(encoding="utf-8"))
    corners = [
        {
            "corner": str(c["corner"]),
            "ref_time_s": c.get("time_s"),
            "ref_entry_speed_kph": c.get("entry_speed_kph"),
            "ref_min_speed_kph": c.get("min_speed_kph"),
            "ref_exit_speed_kph": c.get("exit_speed_kph"),
            "ref_brake_point_s_m": c.get("brake_point_s_m"),
        }
        for c in document["corners"]
    ]
    return pl.DataFrame(corners, schema=REFERENCE_COLUMNS)


MODEL_LAP: Final = "model_lap"
"""``reference_source`` of corners graded against a track's physics-model lap."""


def load_model_reference(track_id: str, directory: Path = REFERENCE_DIR) -> pl.DataFrame | None:
    """The physics-model per-corner reference of a track (``pitwall.analysis.corners.REFERENCE_COLUMNS``), or
    ``None`` when ``<directory>/<track_id>_model.json`` does not exist. A malformed file raises (it ships with
    the code: the API answers 500). Cached per file and modification time."""
    path = directory / f"{track_id}_model.json"
    if not path.is_file():
        return None
    return _read_reference(str(path), path.stat().st_mtime_ns)
