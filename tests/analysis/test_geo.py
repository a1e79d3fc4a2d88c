"""Great-circle steps along a path (:func:`pitwall.analysis.geo.path_steps_m`) against the haversine evaluated in
extended precision, on real recordings and on random walks with steps from 0.1 mm to hundreds of km."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import numpy.typing as npt
import pytest

from pitwall.analysis.geo import EARTH_RADIUS_M, SERIES_HALF_ANGLE_RAD, haversine_m, path_steps_m
from pitwall.formats.detect import read_recording
from tests.api.conftest import RACECHRONO_LAP9, RUN04, SAMPLES

PI = np.longdouble("3.141592653589793238462643383279502884")


def reference_steps(
    lat_deg: npt.NDArray[np.float64], lon_deg: npt.NDArray[np.float64]
) -> npt.NDArray[np.longdouble]:
    """The haversine of consecutive fixes in x87 extended precision (64-bit mantissa), differences in degrees."""
    lat, lon = lat_deg.astype(np.longdouble), lon_deg.astype(np.longdouble)
    half_lat, half_lon = np.diff(lat) * PI / 360, np.diff(lon) * PI / 360
    cos_lat = np.cos(lat * PI / 180)
    a = np.sin(half_lat) ** 2 + cos_lat[:-1] * cos_lat[1:] * np.sin(half_lon) ** 2
    return 2 * np.longdouble(EARTH_RADIUS_M) * np.arcsin(np.sqrt(np.clip(a, 0, 1)))


def relative_error(steps: npt.NDArray[np.float64], reference: npt.NDArray[np.longdouble]) -> float:
    moving = np.isfinite(reference) & (reference > 0)
    return float(np.max(np.abs((steps[moving] - reference[moving]) / reference[moving])))


@pytest.mark.skipif(
    np.finfo(np.longdouble).nmant < 63, reason="needs x87 extended precision for the reference"
)
@pytest.mark.parametrize("path", [RUN04, RACECHRONO_LAP9, SAMPLES / "rc_mk2_test.log"], ids=lambda p: p.name)
def test_steps_of_a_real_recording_are_exact_to_a_few_units_in_the_last_place(path: Path) -> None:
    telemetry = read_recording(path.read_bytes(), name=str(path)).telemetry
    lat, lon = telemetry["lat_deg"].to_numpy(), telemetry["lon_deg"].to_numpy()
    steps = path_steps_m(lat, lon)
    assert relative_error(steps, reference_steps(lat, lon)) < 1e-15
    pairs = haversine_m(lat[:-1], lon[:-1], lat[1:], lon[1:])
    np.testing.assert_array_max_ulp(steps[np.isfinite(steps)], pairs[np.isfinite(pairs)], maxulp=8)
    assert np.array_equal(np.isnan(steps), np.isnan(pairs))


@pytest.mark.skipif(
    np.finfo(np.longdouble).nmant < 63, reason="needs x87 extended precision for the reference"
)
def test_steps_of_every_size_and_missing_fixes() -> None:
    rng = np.random.default_rng(12)
    n = 100_000
    lat = np.clip(
        np.cumsum(rng.normal(0, 10 ** rng.uniform(-9, 0.5, n))), -80.0, 80.0
    )  # (cos ill-conditioned near a pole)
    lon = (np.cumsum(rng.normal(0, 10 ** rng.uniform(-9, 0.5, n))) + 180) % 360 - 180
    lat[rng.integers(0, n, 40)] = np.nan
    half = np.abs(np.diff(lat)) * np.pi / 360
    assert (half < SERIES_HALF_ANGLE_RAD).sum() > n / 2 and (half > SERIES_HALF_ANGLE_RAD).sum() > n / 10
    steps = path_steps_m(lat, lon)
    reference = reference_steps(lat, lon)
    assert relative_error(steps, reference) < 1e-11  # the longest steps: the haversine's own conditioning
    small = np.flatnonzero(np.abs(np.diff(lon)) * np.pi / 360 < SERIES_HALF_ANGLE_RAD)
    small = small[half[small] < SERIES_HALF_ANGLE_RAD]
    assert relative_error(steps[small], reference[small]) < 2e-15
    assert np.array_equal(np.isnan(steps), np.isnan(np.diff(lat)))
