"""End to end: the AiM-MXP simulator on a python-can virtual bus, read back by the same CanReader as hardware."""

from __future__ import annotations

import uuid
from pathlib import Path

import numpy as np
import polars as pl
import pytest
from scipy.spatial import cKDTree

from pitwall import DATA_DIR
from pitwall.analysis.geo import segment_crossings, to_local_xy
from pitwall.formats.canlog import read_can_log
from pitwall.formats.car import load_car
from pitwall.formats.dbc import load_dbc
from pitwall.formats.track import load_track
from pitwall.live.batches import WideBatcher, WideWindow
from pitwall.live.can_reader import CanReader
from pitwall.live.decode import Decoder
from pitwall.live.frames import FrameBatch
from pitwall.live.simulator import Simulator
from tests.live import wait_for

CAR = load_car(DATA_DIR / "cars" / "bmw_e46_m3.yaml")
DB = load_dbc([DATA_DIR / "dbc" / "pitwall.dbc"])
SONOMA = load_track(DATA_DIR / "tracks" / "sonoma.json")
FRAMES_PER_S = sum(f.rate_hz for f in CAR.frames)  # 294 on the E46


def _reader(channel: str, windows: list[WideWindow], **kwargs: object) -> CanReader:
    return CanReader(
        interface="virtual",
        channel=channel,
        bitrate=1_000_000,
        decoder=Decoder(DB, car=CAR),
        batcher=WideBatcher(CAR),
        on_window=windows.append,
        **kwargs,  # type: ignore[arg-type]
    )


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> dict[str, object]:
    """One 1.05-lap simulated run at 20x real time (≈ 3 s), recorded to a candump log."""
    channel = f"sim-{uuid.uuid4().hex}"
    log_path = tmp_path_factory.mktemp("sim") / "recorded.log"
    windows: list[WideWindow] = []
    reader = _reader(channel, windows, log_path=log_path)
    reader.start()
    assert reader.wait_connected(5.0)
    sim = Simulator(SONOMA, CAR, DB, lap_seconds=60.0, speed=20.0, channel=channel, laps=1.05, seed=3)
    sim.start()
    assert sim.wait(40.0)
    assert wait_for(lambda: reader.frames_total >= sim.frames_sent, 5.0)
    live_stats = reader.stats()
    reader.stop()
    return {"sim": sim, "reader": reader, "windows": windows, "log": log_path, "live_stats": live_stats}


def test_no_frame_is_lost_and_every_frame_is_known(run: dict[str, object]) -> None:
    sim, reader = run["sim"], run["reader"]
    assert isinstance(sim, Simulator) and isinstance(reader, CanReader)
    expected = sum(len(np.arange(0, 63.0 - j * 0.0002, 1 / f.rate_hz)) for j, f in enumerate(CAR.frames))
    assert sim.frames_sent == expected == pytest.approx(FRAMES_PER_S * 63.0, abs=12)
    stats = reader.stats()
    assert stats["frames_total"] == sim.frames_sent
    assert stats["unknown_frames"] == 0 and stats["short_frames"] == 0 and stats["last_error"] is None
    assert stats["connects"] == 1 and stats["connected"] is False and stats["running"] is False
    live = run["live_stats"]
    assert isinstance(live, dict) and live["connected"] is True
    assert 0.5 * FRAMES_PER_S * 20 < live["fps"] < 1.5 * FRAMES_PER_S * 20
    assert sim.last_error is None
    assert sim.truth == [0.0, pytest.approx(sim.lap_s)]
    assert sim.lap_s == pytest.approx(60.0)


def test_windows_carry_plausible_canonical_telemetry(run: dict[str, object]) -> None:
    sim, windows = run["sim"], run["windows"]
    assert isinstance(sim, Simulator) and isinstance(windows, list)
    wide = pl.concat([w.wide for w in windows])
    t = wide["t_s"].to_numpy() - (sim.start_timestamp or 0.0)
    assert wide.height == 50 * 63  # one row per 0x420 frame
    assert np.all(np.diff(wide["frame_idx"].to_numpy()) == 1)
    # 100 ms windows of data time: ≈ 630 windows, each ≤ 5 rows
    assert 600 <= len(windows) <= 640 and max(w.wide.height for w in windows) <= 5

    profile = sim.profile
    period = sim.lap_s
    truth_kph = np.interp(
        np.mod(t, period), profile["t_s"].to_numpy(), profile["speed_kph"].to_numpy(), period=period
    )
    np.testing.assert_allclose(wide["speed_kph"].to_numpy(), truth_kph, atol=0.09)  # 0.1 mph resolution
    rpm = wide["rpm"].to_numpy()
    assert CAR.drivetrain is not None
    assert rpm.min() >= CAR.drivetrain.idle_rpm and rpm.max() <= CAR.drivetrain.redline_rpm
    assert wide["throttle_pct"].drop_nulls().is_between(0, 100).all()
    assert wide["g_lat"].drop_nulls().abs().max() > 1.0  # scaled lap: beyond road-car grip, as documented

    # positions decode onto the track: within GPS noise (σ 0.5 m per axis) of the reference line
    ref = SONOMA.reference_line
    lat0, lon0 = float(ref.lat_deg[0]), float(ref.lon_deg[0])
    s_dense = np.arange(0, SONOMA.length_m, 0.25)
    rx, ry = to_local_xy(
        np.interp(s_dense, ref.s_m, ref.lat_deg, period=SONOMA.length_m),
        np.interp(s_dense, ref.s_m, ref.lon_deg, period=SONOMA.length_m),
        lat0,
        lon0,
    )
    fixes = (
        wide.select("t_s", "lat_deg", "lon_deg")
        .drop_nulls()
        .unique("lat_deg", keep="first", maintain_order=True)
    )
    x, y = to_local_xy(fixes["lat_deg"].to_numpy(), fixes["lon_deg"].to_numpy(), lat0, lon0)
    dist, _ = cKDTree(np.stack([rx, ry], 1)).query(np.stack([x, y], 1))
    assert float(np.percentile(dist, 95)) < 2.5 and float(dist.max()) < 4.0

    # the lap time measured from the decoded GPS crossing the start/finish gate
    gate = SONOMA.start_finish
    ax, ay = to_local_xy(gate.lat1_deg, gate.lon1_deg, lat0, lon0)
    bx, by = to_local_xy(gate.lat2_deg, gate.lon2_deg, lat0, lon0)
    idx, frac, _ = segment_crossings(x, y, float(ax), float(ay), float(bx), float(by))
    ft = fixes["t_s"].to_numpy() - (sim.start_timestamp or 0.0)
    crossings = ft[idx] + frac * (ft[idx + 1] - ft[idx])
    crossings = crossings[crossings > 1.0]  # the run starts on the line
    assert crossings.size == 1
    assert crossings[0] == pytest.approx(60.0, rel=0.005)

    # gear is dead on the wire (0) and derived from rpm / speed where the scaled lap stays inside the gearing
    truth_gear = np.interp(
        np.mod(t, period), profile["t_s"].to_numpy(), profile["gear"].to_numpy(), period=period
    )
    inside = (rpm < 0.96 * CAR.drivetrain.redline_rpm) & (wide["speed_kph"].to_numpy() > 20)
    derived = wide["gear"].to_numpy()
    assert inside.sum() > 200
    assert np.mean(derived[inside] == np.round(truth_gear[inside])) > 0.95


def test_tall_rows_carry_the_converted_dash_channels(run: dict[str, object]) -> None:
    windows = run["windows"]
    assert isinstance(windows, list)
    tall = pl.concat([w.tall for w in windows])
    counts = dict(tall.group_by("signal_name").len().iter_rows())
    assert (
        counts["water_temp_c"] == 50 * 63
        and counts["tpms_press_fl_bar"] == 63
        and counts["fuel_level_l"] == 10 * 63
    )
    assert "gear" not in counts and "speed_kph" not in counts
    values = {name: tall.filter(pl.col("signal_name") == name)["value"] for name in counts}
    assert values["water_temp_c"].is_between(75, 95).all()
    assert values["oil_press_bar"].is_between(0.5, 6.5).all()
    assert values["tpms_press_fl_bar"].is_between(2.0, 2.6).all()
    fuel = values["fuel_level_l"].to_numpy()
    assert fuel[0] == pytest.approx(62.8, abs=0.1) and 0.5 < fuel[0] - fuel[-1] < 6  # burns fuel


def test_recorded_log_is_exactly_what_the_simulator_sent(run: dict[str, object]) -> None:
    sim, log = run["sim"], run["log"]
    assert isinstance(sim, Simulator) and isinstance(log, Path)
    recorded = FrameBatch.from_frame(read_can_log(log))
    # a fresh simulator with the same seed produces the same frames in one go as the run did chunk by chunk
    twin = Simulator(SONOMA, CAR, DB, lap_seconds=60.0, speed=20.0, channel="unused", laps=1.05, seed=3)
    sent = twin.frames_between(0.0, twin.duration_s)
    np.testing.assert_array_equal(recorded.arbitration_id, sent.arbitration_id)
    np.testing.assert_array_equal(recorded.data, sent.data)
    np.testing.assert_allclose(recorded.t_s - (sim.start_timestamp or 0.0), sent.t_s, atol=2e-6)


def test_replaying_the_recording_gives_the_same_telemetry(run: dict[str, object]) -> None:
    log, live_windows = run["log"], run["windows"]
    assert isinstance(log, Path) and isinstance(live_windows, list)
    windows: list[WideWindow] = []
    reader = CanReader(
        interface="canlog",
        channel=str(log),
        bitrate=1_000_000,
        decoder=Decoder(DB, car=CAR),
        batcher=WideBatcher(CAR),
        on_window=windows.append,
        replay_speed=0,
    )
    reader.start()
    assert wait_for(lambda: not reader.running, 20.0)
    assert reader.finished and reader.stats()["frames_total"] == run["sim"].frames_sent  # type: ignore[attr-defined]
    replayed = pl.concat([w.wide for w in windows])
    live = pl.concat([w.wide for w in live_windows])
    # timestamps went through the log's 1 µs text: compare them with that tolerance, the rest exactly
    assert replayed.drop("t_s", "utc").equals(live.drop("t_s", "utc"))
    np.testing.assert_allclose(replayed["t_s"].to_numpy(), live["t_s"].to_numpy(), atol=1e-6)
