"""The lap model: analytic circle, an oval with braking zones, Sonoma, scaling, GPS noise."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import polars as pl
import pytest

from pitwall import DATA_DIR
from pitwall.analysis.geo import from_local_xy, haversine_m, to_local_xy
from pitwall.formats.car import load_car
from pitwall.formats.track import load_track
from pitwall.live.physics import PROFILE_COLUMNS, GpsReceiver, PeriodicTable, lap_profile, lap_time_s
from pitwall.schema import G0
from pitwall.track import Gate, ReferenceLine, Track

CAR = load_car(DATA_DIR / "cars" / "bmw_e46_m3.yaml")
LAT0, LON0 = 38.16, -122.45


def _track(x: np.ndarray, y: np.ndarray, name: str) -> Track:
    """A test track from a closed local-xy polyline (metres) placed near Sonoma."""
    lat, lon = from_local_xy(x, y, LAT0, LON0)
    s = np.concatenate([[0.0], np.cumsum(np.hypot(np.diff(x), np.diff(y)))])
    length = float(s[-1] + np.hypot(x[-1] - x[0], y[-1] - y[0]))
    gate = Gate(
        "start", "start_finish", float(lat[0]) - 1e-4, float(lon[0]), float(lat[0]) + 1e-4, float(lon[0])
    )
    line = ReferenceLine(lat_deg=lat, lon_deg=lon, alt_m=np.zeros(x.size), s_m=s)
    return Track(id=name, name=name, length_m=length, start_finish=gate, reference_line=line)


def _circle(radius: float, *, clockwise: bool = False) -> Track:
    a = np.linspace(0, 2 * np.pi, 720, endpoint=False) * (-1 if clockwise else 1)
    return _track(radius * np.cos(a), radius * np.sin(a), "circle")


def _oval(straight: float = 400.0, radius: float = 60.0, step: float = 4.0) -> Track:
    """Counter-clockwise stadium: straight east along y=0, left half-circle, straight west, left half-circle."""
    xs = [np.arange(0, straight, step)]
    ys = [np.zeros_like(xs[0])]
    a = np.arange(-np.pi / 2, np.pi / 2, step / radius)
    xs.append(straight + radius * np.cos(a))
    ys.append(radius + radius * np.sin(a))
    xs.append(np.arange(straight, 0, -step))
    ys.append(np.full_like(xs[-1], 2 * radius))
    a = np.arange(np.pi / 2, 3 * np.pi / 2, step / radius)
    xs.append(radius * np.cos(a))
    ys.append(radius + radius * np.sin(a))
    return _track(np.concatenate(xs), np.concatenate(ys), "oval")


def _path_curvature(profile: pl.DataFrame) -> np.ndarray:
    """Signed curvature of the profile's own positions (circle through three consecutive points)."""
    x, y = to_local_xy(profile["lat_deg"].to_numpy(), profile["lon_deg"].to_numpy(), LAT0, LON0)
    p0 = np.stack([np.roll(x, 1), np.roll(y, 1)], 1)
    p1 = np.stack([x, y], 1)
    p2 = np.stack([np.roll(x, -1), np.roll(y, -1)], 1)
    a, b, c = (np.linalg.norm(u - v, axis=1) for u, v in ((p1, p0), (p2, p1), (p2, p0)))
    cross = (p1 - p0)[:, 0] * (p2 - p1)[:, 1] - (p1 - p0)[:, 1] * (p2 - p1)[:, 0]
    return 2 * cross / (a * b * c)


def test_circle_runs_at_the_grip_limit_with_the_analytic_lap_time() -> None:
    radius = 100.0
    perf = CAR.performance
    assert perf is not None
    profile = lap_profile(_circle(radius), car=CAR, lap_seconds=None, smooth_m=2.0)
    assert profile.schema == pl.Schema(PROFILE_COLUMNS)
    v = np.sqrt(perf.mu * G0 * radius)
    assert profile["speed_kph"].to_numpy() / 3.6 == pytest.approx(v, rel=0.01)
    assert profile["g_lat"].to_numpy() == pytest.approx(perf.mu, rel=0.02)  # left-hand circle: positive
    assert lap_time_s(profile) == pytest.approx(2 * np.pi * radius / v, rel=0.005)
    clockwise = lap_profile(_circle(radius, clockwise=True), car=CAR, lap_seconds=None, smooth_m=2.0)
    assert clockwise["g_lat"].to_numpy() == pytest.approx(-perf.mu, rel=0.02)
    assert (clockwise["steering_deg"] < 0).all() and (clockwise["yaw_rate_dps"] < 0).all()


def test_oval_brakes_before_the_bends_and_stays_inside_the_friction_circle() -> None:
    profile = lap_profile(_oval(), car=CAR, lap_seconds=None)
    g = np.hypot(profile["g_lat"].to_numpy(), profile["g_long"].to_numpy())
    assert (g <= profile["grip_limit_g"].to_numpy() * 1.02).all()
    kappa = _path_curvature(profile)
    v = profile["speed_kph"].to_numpy() / 3.6
    np.testing.assert_allclose(profile["g_lat"].to_numpy(), v * v * kappa / G0, atol=0.03)
    # g_long is dv/dt: integrate it over time and get the speed back
    t = profile["t_s"].to_numpy()
    dv = np.diff(v)
    predicted = np.diff(t) * 0.5 * (profile["g_long"].to_numpy()[1:] + profile["g_long"].to_numpy()[:-1]) * G0
    np.testing.assert_allclose(dv, predicted, atol=0.1)  # central differences smear the 2 m around a kink
    assert float(np.mean(np.abs(dv - predicted))) < 0.005
    straight = profile.filter(pl.col("s_m").is_between(50, 300))
    assert (
        straight["throttle_pct"].to_numpy().max() == 100.0 and straight["brake_bar"].to_numpy().max() == 0.0
    )
    braking = profile.filter(pl.col("s_m").is_between(300, 400))
    assert braking["brake_bar"].to_numpy().max() > 50 and braking["g_long"].to_numpy().min() < -0.9
    assert CAR.drivetrain is not None and profile["rpm"].to_numpy().max() <= CAR.drivetrain.redline_rpm


def test_sonoma_natural_lap_is_plausible_and_scaling_hits_the_requested_time() -> None:
    sonoma = load_track(DATA_DIR / "tracks" / "sonoma.json")
    natural = lap_profile(sonoma, car=CAR, lap_seconds=None)
    assert 95 < lap_time_s(natural) < 125  # an E46 M3 on track tyres: ≈ 1:45-1:55 in real life
    speed = natural["speed_kph"].to_numpy()
    assert 45 < speed.min() < 80 and 180 < speed.max() < 240
    assert set(natural["gear"].unique().to_list()) <= {1, 2, 3, 4, 5, 6}
    assert CAR.performance is not None and natural["grip_limit_g"][0] == CAR.performance.mu
    assert abs(natural["s_m"].to_numpy().max() - sonoma.length_m) < 0.01 * sonoma.length_m

    for target in (60.0, 140.0):
        scaled = lap_profile(sonoma, car=CAR, lap_seconds=target)
        # independent lap time: great-circle distance between consecutive points over their mean speed
        lat, lon = scaled["lat_deg"].to_numpy(), scaled["lon_deg"].to_numpy()
        ds = haversine_m(lat, lon, np.roll(lat, -1), np.roll(lon, -1))
        v = scaled["speed_kph"].to_numpy() / 3.6
        assert float(np.sum(2 * ds / (v + np.roll(v, -1)))) == pytest.approx(target, rel=0.005)
        g = np.hypot(scaled["g_lat"].to_numpy(), scaled["g_long"].to_numpy())
        assert (g <= scaled["grip_limit_g"].to_numpy() * 1.02).all()
        scale = lap_time_s(natural) / target
        assert scaled["grip_limit_g"][0] == pytest.approx(natural["grip_limit_g"][0] * scale**2)
        np.testing.assert_allclose(
            scaled["g_lat"].to_numpy(), natural["g_lat"].to_numpy() * scale**2, rtol=1e-9, atol=1e-12
        )


def test_gps_noise_is_seeded_continuous_and_of_the_stated_size() -> None:
    profile = lap_profile(_oval(), car=CAR, lap_seconds=None)
    t = np.arange(0, 600, 0.05)
    a = GpsReceiver(profile, seed=1, sigma_m=0.5)
    lat, lon = a.fixes(t[: t.size // 2])
    lat2, lon2 = a.fixes(t[t.size // 2 :])
    lat, lon = np.concatenate([lat, lat2]), np.concatenate([lon, lon2])
    b = GpsReceiver(profile, seed=1, sigma_m=0.5)
    np.testing.assert_array_equal(b.fixes(t)[0], lat)
    truth = GpsReceiver(profile, seed=1, sigma_m=0.0).fixes(t)
    east, north = to_local_xy(lat, lon, LAT0, LON0)
    east0, north0 = to_local_xy(*truth, LAT0, LON0)
    err = np.stack([east - east0, north - north0], 1)
    assert 0.6 < float(np.sqrt(np.mean(np.sum(err**2, 1)))) < 0.85  # 2-D error of two 0.5 m axes: ≈ 0.71 m
    steps = np.linalg.norm(np.diff(err, axis=0), axis=1)
    assert float(np.sqrt(np.mean(steps**2))) < 0.3  # wanders (independent fixes would step ≈ 1 m)
    assert steps[t.size // 2 - 1] < 0.6  # no jump where the second call continues the first


def test_periodic_table_is_np_interp_with_period_bit_for_bit() -> None:
    rng = np.random.default_rng(7)
    period = 61.3
    t = rng.uniform(0, period, 400)  # unsorted, as np.interp allows
    columns = {"a": rng.normal(size=t.size), "b": np.cumsum(rng.uniform(size=t.size))}
    table = PeriodicTable(t, columns, period)
    x = np.concatenate(
        [rng.uniform(-3 * period, 5 * period, 5000), t, t + period, [-1e-300, period, 2 * period]]
    )
    for name, column in columns.items():
        expected = np.interp(np.mod(x, period), t, column, period=period)
        np.testing.assert_array_equal(table(name, table.phase(x)), expected)
    with pytest.raises(ValueError, match="period"):
        PeriodicTable(t, columns, 0.0)


def test_car_without_performance_cannot_be_simulated(tmp_path: Path) -> None:
    text = (DATA_DIR / "cars" / "bmw_e46_m3.yaml").read_text()
    cut = text.index("# Envelope for the simulator")
    path = tmp_path / "car.yaml"
    path.write_text(text[:cut] + text[text.index("\nframes:") :])
    with pytest.raises(ValueError, match="needs 'drivetrain' and 'performance'"):
        lap_profile(_oval(), car=load_car(path), lap_seconds=60)
