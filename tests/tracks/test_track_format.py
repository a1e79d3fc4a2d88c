"""Reading, writing and listing track JSON files."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from pitwall.formats.errors import ReadError
from pitwall.formats.track import TRACKS_DIR, TrackLibrary, load_track, save_track, track_to_dict
from pitwall.track import Track


def _sonoma_doc() -> dict[str, Any]:
    doc: dict[str, Any] = json.loads((TRACKS_DIR / "sonoma.json").read_text(encoding="utf-8"))
    return doc


def _write(tmp_path: Path, doc: object, name: str = "t.json") -> Path:
    path = tmp_path / name
    path.write_text(json.dumps(doc), encoding="utf-8")
    return path


def test_load_sonoma_fields(sonoma: Track) -> None:
    line = sonoma.reference_line
    assert sonoma.id == "sonoma"
    assert sonoma.name == "Sonoma Raceway"
    assert sonoma.country == "US"
    assert sonoma.timezone == "America/Los_Angeles"
    assert sonoma.start_finish.kind == "start_finish"
    assert len(line) == line.lat_deg.shape[0] == line.lon_deg.shape[0] == line.alt_m.shape[0]
    assert line.s_m[0] == 0.0
    assert float(np.diff(np.r_[line.s_m, sonoma.length_m]).max()) <= 5.0
    assert sonoma.sector_ends_m[-1] == sonoma.length_m
    assert [g.name for g in sonoma.sector_gates] == ["S1/S2 split", "S2/S3 split", "Start/finish"]
    assert sonoma.extra["sector_names"] == ("S1", "S2", "S3")
    assert len(sonoma.weather) == 5 and sonoma.weather[0].hour_from == 0 and sonoma.weather[-1].hour_to == 24
    assert "zaggyai/track_data" in sonoma.source and "Hand-authored" in sonoma.source


def test_save_load_round_trip_is_byte_identical(tmp_path: Path) -> None:
    original = TRACKS_DIR / "sonoma.json"
    copy = tmp_path / "sonoma.json"
    save_track(load_track(original), copy)
    assert copy.read_bytes() == original.read_bytes()


def test_unknown_altitude_round_trips_as_null(tmp_path: Path) -> None:
    doc = _sonoma_doc()
    doc["reference_line"]["alt_m"] = None
    track = load_track(_write(tmp_path, doc))
    assert np.isnan(track.reference_line.alt_m).all()
    assert track_to_dict(track)["reference_line"]["alt_m"] is None


def test_invalid_json_names_file_and_line(tmp_path: Path) -> None:
    path = tmp_path / "broken.json"
    path.write_text('{\n  "id": "x",\n  "name": \n}\n', encoding="utf-8")
    with pytest.raises(ReadError) as info:
        load_track(path)
    assert info.value.path == str(path)
    assert info.value.line == 4
    assert "invalid JSON" in info.value.reason


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(ReadError, match="cannot read"):
        load_track(tmp_path / "nope.json")


@pytest.mark.parametrize(
    ("mutate", "field"),
    [
        (lambda d: d.pop("length_m"), "length_m"),
        (lambda d: d["start_finish"].pop("lat2"), "start_finish"),
        (lambda d: d["corners"][3].update(s_apex_m="far"), "corners[3].s_apex_m"),
        (lambda d: d["corners"][0].update(direction="up"), "corners[0].direction"),
        (lambda d: d["danger_zones"][1].update(severity="extreme"), "danger_zones[1].severity"),
        (lambda d: d["reference_line"].pop("s_m"), "reference_line"),
        (lambda d: d.update(colour="red"), "colour"),
    ],
)
def test_missing_or_mistyped_field_is_named(tmp_path: Path, mutate: Any, field: str) -> None:
    doc = _sonoma_doc()
    mutate(doc)
    path = _write(tmp_path, doc)
    with pytest.raises(ReadError) as info:
        load_track(path)
    assert info.value.path == str(path)
    assert field in info.value.reason


@pytest.mark.parametrize(
    ("mutate", "field"),
    [
        (lambda d: d["reference_line"]["lat"].pop(), "reference_line.lat"),
        (lambda d: d["reference_line"]["s_m"].reverse(), "reference_line.s_m"),
        (lambda d: d.update(length_m=-1.0), "length_m"),
        (lambda d: d["sectors"][-1].update(end_m=10.0), "sectors"),
        (lambda d: d["markers"][0].update(s_m=99_999.0), "markers[0].s_m"),
        (lambda d: d["straights"][0].update(s_end_m=-5.0), "straights[0].s_end_m"),
        (lambda d: d["weather"][0].update(hour_to=25), "weather[0]"),
    ],
)
def test_inconsistent_values_are_rejected(tmp_path: Path, mutate: Any, field: str) -> None:
    doc = _sonoma_doc()
    mutate(doc)
    with pytest.raises(ReadError, match=re.escape(f"field '{field}'")):
        load_track(_write(tmp_path, doc))


def test_library_lists_and_gets(library: TrackLibrary) -> None:
    ids = library.ids()
    assert ids == sorted(ids)
    assert {"sonoma", "road-america", "road-america-alt", "sonoma-bike", "sonoma-cup"} <= set(ids)
    assert len(library) == len(ids) == 31
    assert library.get("road-america").name == "Road America"
    with pytest.raises(KeyError, match="unknown track 'monza'"):
        library.get("monza")


def test_library_rejects_duplicate_ids(tmp_path: Path) -> None:
    doc = _sonoma_doc()
    _write(tmp_path, doc, "a.json")
    _write(tmp_path, doc, "b.json")
    with pytest.raises(ReadError, match="duplicate track id 'sonoma'"):
        TrackLibrary(tmp_path)


def test_library_missing_folder(tmp_path: Path) -> None:
    with pytest.raises(ReadError, match="not found"):
        TrackLibrary(tmp_path / "missing")
