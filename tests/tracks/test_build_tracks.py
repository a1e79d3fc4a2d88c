"""The track library builder (``python -m pipelines build-tracks``) on the bundled zaggyai copies."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import pytest

from pipelines import build_tracks
from pitwall.analysis.curvature import reference_curvature_1pm
from pitwall.analysis.geo import bearing_deg, haversine_m
from pitwall.formats.track import TRACKS_DIR, load_track
from pitwall.track import Track
from pitwall.trackbuild import CURVATURE_NAMES

SRC = TRACKS_DIR / "zaggyai"
OVERRIDES = TRACKS_DIR / "overrides"
PUBLIC_SONOMA_M = 4031.0
SONOMA_TURNS = ["1", "2", "3", "3a", "4", "5", "6", "7", "8", "8a", "9", "10", "11", "12"]


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[Path], list[tuple[str, str]]]:
    out = tmp_path_factory.mktemp("tracks")
    written, skipped = build_tracks.build_library(SRC, out, overrides_dir=OVERRIDES)
    return out, written, skipped


def test_build_is_deterministic_and_matches_the_committed_library(
    built: tuple[Path, list[Path], list[tuple[str, str]]], tmp_path: Path
) -> None:
    first, written, _ = built
    written_again, _ = build_tracks.build_library(SRC, tmp_path, overrides_dir=OVERRIDES)
    assert [p.name for p in written] == [p.name for p in written_again]
    for path in written:
        assert path.read_bytes() == (tmp_path / path.name).read_bytes(), path.name
        assert path.read_bytes() == (TRACKS_DIR / path.name).read_bytes(), f"{path.name} is stale: rebuild"
    assert (first / "sonoma.json").exists() and (first / "road-america.json").exists()


def test_every_closed_layout_is_built_and_drag_strips_are_skipped(
    built: tuple[Path, list[Path], list[tuple[str, str]]],
) -> None:
    _, written, skipped = built
    sources = sorted(SRC.glob("*.json"))
    assert len(written) + len(skipped) == len(sources) == 34
    assert len(skipped) == 3
    assert all("not a closed circuit (2 points)" in reason for _, reason in skipped)
    for path in written:
        track = load_track(path)
        assert path.stem == track.id
        gaps = np.diff(np.r_[track.reference_line.s_m, track.length_m])
        assert gaps.max() <= 5.0
        assert len(track.sector_ends_m) == 3


def test_track_ids() -> None:
    assert build_tracks.track_id_of("Sonoma Race") == "sonoma"
    assert build_tracks.track_id_of("Rd Amer") == "road-america"
    assert build_tracks.track_id_of("THill 5mi_BY") == "thill-5mi-by"
    assert build_tracks.track_id_of("Serres ") == "serres"
    assert build_tracks.track_id_of("T.RaceCourse") == "t-racecourse"


def test_sonoma_length_within_two_percent_of_public_figure(sonoma: Track) -> None:
    assert abs(sonoma.length_m - PUBLIC_SONOMA_M) / PUBLIC_SONOMA_M < 0.02
    line = sonoma.reference_line
    closed_lat, closed_lon = np.r_[line.lat_deg, line.lat_deg[0]], np.r_[line.lon_deg, line.lon_deg[0]]
    polyline_m = float(haversine_m(closed_lat[:-1], closed_lon[:-1], closed_lat[1:], closed_lon[1:]).sum())
    assert polyline_m == pytest.approx(sonoma.length_m, abs=1.0)


def test_sonoma_start_finish_line(sonoma: Track) -> None:
    gate = sonoma.start_finish
    assert gate.heading_deg is not None and 307.0 <= gate.heading_deg <= 309.0
    assert float(haversine_m(gate.lat1_deg, gate.lon1_deg, gate.lat2_deg, gate.lon2_deg)) == pytest.approx(
        30, abs=0.1
    )
    across = float(bearing_deg(gate.lat2_deg, gate.lon2_deg, gate.lat1_deg, gate.lon1_deg))  # right → left
    assert (across - gate.heading_deg) % 360 == pytest.approx(270, abs=1.0)  # point 1 is on the left
    centre_lat, centre_lon = (gate.lat1_deg + gate.lat2_deg) / 2, (gate.lon1_deg + gate.lon2_deg) / 2
    # public start/finish ≈ 38.16147 N, 122.45472 W (sources agree within ~10 m)
    assert float(haversine_m(centre_lat, centre_lon, 38.16147, -122.45472)) < 20.0


def test_sonoma_corners_named_in_order_with_real_directions(sonoma: Track) -> None:
    assert [c.number for c in sonoma.corners] == SONOMA_TURNS
    by_number = {c.number: c for c in sonoma.corners}
    assert by_number["6"].name == "The Carousel"
    # map-free public facts: the Carousel is a long left; T7 and T11 are right-hand hairpins;
    # T3/T3a are a fast left-right; T4 is a tight right.
    expected = {"6": "left", "7": "right", "11": "right", "3": "left", "3a": "right", "4": "right"}
    assert {n: by_number[n].direction for n in expected} == expected
    # T2 comes out right in this centre line (a right-hander at the top of the climb): recorded, not forced.
    assert by_number["2"].direction == "right"
    apexes = [c.s_apex_m for c in sonoma.corners]
    assert apexes == sorted(apexes)
    for corner in sonoma.corners:
        assert corner.s_entry_m <= corner.s_apex_m <= corner.s_exit_m
    # the two hairpins (T7, T11) are the sharpest corners of the lap
    kappa = reference_curvature_1pm(sonoma.reference_line)
    apex_kappa = {
        c.number: float(np.interp(c.s_apex_m, sonoma.reference_line.s_m, kappa)) for c in sonoma.corners
    }
    assert sorted(apex_kappa, key=lambda n: abs(apex_kappa[n]))[-2:] in (["7", "11"], ["11", "7"])
    assert 1 / abs(apex_kappa["11"]) < 40.0  # radius in metres


def test_sonoma_sectors_scaled_from_public_figures(sonoma: Track) -> None:
    scale = sonoma.length_m / PUBLIC_SONOMA_M
    assert sonoma.sector_ends_m[0] == pytest.approx(1385 * scale, abs=0.01)
    assert sonoma.sector_ends_m[1] == pytest.approx(2807 * scale, abs=0.01)
    assert sonoma.sector_ends_m[2] == sonoma.length_m
    s1, s2 = sonoma.sector_ends_m[0], sonoma.sector_ends_m[1] - sonoma.sector_ends_m[0]
    assert s1 == pytest.approx(1385, rel=0.02) and s2 == pytest.approx(1422, rel=0.02)


def test_sonoma_authored_fields_sit_on_detected_corners(sonoma: Track) -> None:
    by_number = {c.number: c for c in sonoma.corners}
    brake_t7 = next(m for m in sonoma.markers if m.kind == "brake" and m.corner == "7")
    assert brake_t7.s_m == pytest.approx(by_number["7"].s_entry_m - 30, abs=0.01)
    zone = next(d for d in sonoma.danger_zones if d.name == "T7 braking zone")
    assert zone.severity == "high" and zone.s_end_m == pytest.approx(by_number["7"].s_apex_m, abs=0.01)
    names = [s.name for s in sonoma.straights]
    assert "Back straight" in names and "Start/finish straight" in names
    sf = next(s for s in sonoma.straights if s.name == "Start/finish straight")
    assert sf.s_end_m < sf.s_start_m  # wraps through the line


def test_crest_markers_match_the_elevation_profile(sonoma: Track) -> None:
    line = sonoma.reference_line
    for marker in (m for m in sonoma.markers if m.kind == "crest"):
        near = np.abs(line.s_m - marker.s_m) < 60
        assert float(line.alt_m[near].max()) == pytest.approx(
            float(np.interp(marker.s_m, line.s_m, line.alt_m)), abs=1.0
        )


def test_overrides_must_match_detected_corner_count(tmp_path: Path) -> None:
    raw = json.loads(next(SRC.glob("*--road-america.json")).read_text(encoding="utf-8"))
    with pytest.raises(ValueError, match=r"1 corner names for \d+ detected corners"):
        build_tracks.build_track(raw, file_name="x.json", overrides={"corner_names": [{"number": "1"}]})


def test_cli_reports_missing_source(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    args = argparse.Namespace(src=tmp_path / "missing", out=tmp_path / "out", overrides=None)
    assert build_tracks.run(args) == 2
    assert "not found" in capsys.readouterr().out
    assert not (tmp_path / "out").exists()


def test_dispatcher_runs_build_tracks(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from pipelines.__main__ import main

    status = main(["build-tracks", "--src", str(SRC), "--out", str(tmp_path), "--overrides", str(OVERRIDES)])
    assert status == 0
    out = capsys.readouterr().out
    assert f"wrote {tmp_path / 'sonoma.json'}" in out
    assert out.count("skipped") == 3


def test_every_track_says_where_its_corner_names_come_from() -> None:
    for path in sorted(TRACKS_DIR.glob("*.json")):
        track = load_track(path)
        authored = OVERRIDES / path.name
        has_list = authored.exists() and "corner_names" in json.loads(authored.read_text(encoding="utf-8"))
        if has_list:
            assert not track.corner_names_source.startswith("curvature"), path.name
        else:  # numbered in lap order from the curvature, no names invented
            assert track.corner_names_source == CURVATURE_NAMES, path.name
            assert [c.number for c in track.corners] == [str(k) for k in range(1, len(track.corners) + 1)]
            assert all(c.name is None for c in track.corners), path.name
    assert load_track(TRACKS_DIR / "sonoma.json").corner_names_source.startswith("public Sonoma Raceway")
