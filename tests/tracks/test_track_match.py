"""Track detection from GPS fixes: real Road America recording and samples of the library's own lines."""

from __future__ import annotations

import numpy as np
import pytest

from pitwall import DATA_DIR
from pitwall.analysis.position import track_position_arrays
from pitwall.analysis.track_match import detect_track
from pitwall.formats.track import TrackLibrary
from pitwall.formats.vbo import read_vbo
from pitwall.track import Track

ROAD_AMERICA_VBO = DATA_DIR / "samples" / "25IR05_RdAm_FP1_Run04_KO.vbo"


def _laps_on(track: Track, laps: int, noise_deg: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """``laps`` passes over the reference line with Gaussian noise (1e-5° ≈ 1 m)."""
    rng = np.random.default_rng(seed)
    lat = np.tile(track.reference_line.lat_deg, laps)
    lon = np.tile(track.reference_line.lon_deg, laps)
    return lat + rng.normal(0, noise_deg, lat.shape), lon + rng.normal(0, noise_deg, lon.shape)


def test_road_america_recording(library: TrackLibrary) -> None:
    telemetry = read_vbo(ROAD_AMERICA_VBO).telemetry
    lat, lon = telemetry["lat_deg"].to_numpy(), telemetry["lon_deg"].to_numpy()
    track = detect_track(lat, lon, library.tracks)
    assert track is not None and track.id == "road-america"
    s, offset = track_position_arrays(lat, lon, track, max_offset_m=30.0)
    assert np.isfinite(s).mean() > 0.95
    assert np.nanmedian(np.abs(offset)) < 5.0


def test_sonoma_reference_line_samples(library: TrackLibrary) -> None:
    lat, lon = _laps_on(library.get("sonoma"), 2, 2e-5, seed=1)
    track = detect_track(lat, lon, library.tracks)
    assert track is not None and track.id == "sonoma"


@pytest.mark.parametrize(
    "variant", ["sonoma-race2", "sonoma-bike", "sonoma-cup", "thill-est-by", "thill-est"]
)
def test_overlapping_layouts_pick_the_one_driven(library: TrackLibrary, variant: str) -> None:
    lat, lon = _laps_on(library.get(variant), 3, 2e-5, seed=2)
    track = detect_track(lat, lon, library.tracks)
    assert track is not None and track.id == variant


def test_same_loop_with_another_start_line_resolves_to_the_first_listed(library: TrackLibrary) -> None:
    lat, lon = _laps_on(library.get("road-america-alt"), 1, 1e-5, seed=3)
    alt_first = [library.get("road-america-alt"), library.get("road-america")]
    assert detect_track(lat, lon, library.tracks).id == "road-america"  # type: ignore[union-attr]
    assert detect_track(lat, lon, alt_first).id == "road-america-alt"  # type: ignore[union-attr]


def test_no_match_when_off_every_track(library: TrackLibrary) -> None:
    lat, lon = _laps_on(library.get("sonoma"), 1, 2e-5, seed=4)
    assert detect_track(lat + 0.5, lon, library.tracks) is None  # 55 km north
    assert detect_track(lat + 0.0006, lon, library.tracks) is None  # a parallel loop ≈ 67 m away


def test_needs_sixty_percent_of_moving_fixes_on_track(library: TrackLibrary) -> None:
    sonoma = library.get("sonoma")
    lat, lon = _laps_on(sonoma, 1, 1e-5, seed=5)
    n = lat.shape[0]
    off_lat = lat + 0.02  # the same shape 2.2 km north: driving elsewhere
    mostly_off = (np.r_[lat[: int(0.55 * n)], off_lat[int(0.55 * n) :]], lon)
    mostly_on = (np.r_[lat[: int(0.65 * n)], off_lat[int(0.65 * n) :]], lon)
    assert detect_track(*mostly_off, [sonoma]) is None
    assert detect_track(*mostly_on, [sonoma]) is sonoma


def test_parked_fixes_do_not_count(library: TrackLibrary) -> None:
    sonoma = library.get("sonoma")
    rng = np.random.default_rng(6)
    lat, lon = _laps_on(sonoma, 1, 1e-5, seed=6)
    # 30 minutes at 25 Hz parked 200 m off the circuit, with 2 cm GPS jitter
    parked_lat = 38.1640 + rng.normal(0, 2e-7, 45_000)
    parked_lon = -122.4520 + rng.normal(0, 2e-7, 45_000)
    assert detect_track(np.r_[parked_lat, lat], np.r_[parked_lon, lon], [sonoma]) is sonoma
    assert detect_track(parked_lat, parked_lon, [sonoma]) is None
    assert detect_track(np.array([np.nan, np.nan]), np.array([np.nan, np.nan]), [sonoma]) is None
