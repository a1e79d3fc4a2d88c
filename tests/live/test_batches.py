"""WideBatcher: row clock, sample-and-hold, windows, tall rows, unit conversion, dead channels, derived gear."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np
import polars as pl
import pytest
from polars.testing import assert_frame_equal

from pitwall import DATA_DIR
from pitwall.formats.car import load_car
from pitwall.formats.dbc import load_dbc
from pitwall.formats.track import load_track
from pitwall.live.batches import WideBatcher, WideWindow, derive_gear, tall_frame, wide_frame
from pitwall.live.decode import Decoder
from pitwall.live.simulator import Simulator
from pitwall.schema import TELEMETRY

CAR = load_car(DATA_DIR / "cars" / "bmw_e46_m3.yaml")
DB = load_dbc([DATA_DIR / "dbc" / "pitwall.dbc"])


def _a(*values: float) -> np.ndarray:
    return np.array(values, dtype=np.float64)


def test_rows_follow_the_clock_frame_and_other_channels_are_held() -> None:
    batcher = WideBatcher(CAR, window_s=0.1)
    # 0x420 (rpm, speed, gear, water temp) at 50 Hz; GPS at 20 Hz a few ms later; throttle at 50 Hz
    t420 = _a(0.00, 0.02, 0.04, 0.06, 0.08, 0.10, 0.12)
    decoded = {
        "rpm": (t420, _a(3900, 3910, 3920, 3930, 3940, 3950, 3960)),  # 3rd gear at 50 mph
        "speed_mph": (t420, np.full(7, 50.0)),
        "gear": (t420, np.zeros(7)),  # dead on this car: must not be used
        "gps_lat_deg": (_a(0.013, 0.063), _a(38.1, 38.2)),
        "gps_lon_deg": (_a(0.013, 0.063), _a(-122.4, -122.5)),
        "throttle_pct": (t420 + 0.001, _a(10, 20, 30, 40, 50, 60, 70)),
    }
    windows = batcher.push(decoded)
    assert len(windows) == 1  # data reaches 0.121: the window [0, 0.1) is complete, [0.1, 0.2) is not
    w = windows[0]
    assert (w.t_start_s, w.t_end_s) == (0.0, 0.1)
    assert w.wide.schema == pl.Schema(TELEMETRY)
    expected = pl.DataFrame(
        {
            "frame_idx": [0, 1, 2, 3, 4],
            "t_s": [0.00, 0.02, 0.04, 0.06, 0.08],
            "lat_deg": [None, 38.1, 38.1, 38.1, 38.2],
            "speed_kph": [80.4672] * 5,
            "throttle_pct": [None, 10.0, 20.0, 30.0, 40.0],  # sent 1 ms after the clock frame: one row later
            "rpm": [3900.0, 3910.0, 3920.0, 3930.0, 3940.0],
        },
        schema={k: TELEMETRY[k] for k in ("frame_idx", "t_s", "lat_deg", "speed_kph", "throttle_pct", "rpm")},
    )
    assert_frame_equal(w.wide.select(expected.columns), expected, abs_tol=1e-9)
    assert w.wide.get_column("gear").to_list() == [3, 3, 3, 3, 3]  # derived, not the dead 0
    assert w.wide.get_column("utc").null_count() == 5  # not epoch timestamps
    assert w.wide.get_column("session_id").null_count() == 5

    rest = batcher.flush()
    assert len(rest) == 1
    assert rest[0].wide.get_column("frame_idx").to_list() == [5, 6]
    assert rest[0].wide.get_column("lat_deg").to_list() == [38.2, 38.2]
    assert rest[0].wide.get_column("throttle_pct").to_list() == [50.0, 60.0]
    assert batcher.flush() == []


def test_tall_rows_are_converted_and_other_dbc_signals_pass_through() -> None:
    batcher = WideBatcher(CAR)
    decoded = {
        "rpm": (_a(0.0, 0.02), _a(900, 905)),
        "water_temp_f": (_a(0.0, 0.02), _a(212.0, 32.0)),
        "oil_press_psi": (
            _a(
                0.001,
            ),
            _a(
                14.5037738,
            ),
        ),
        "coolant_c": (
            _a(
                0.015,
            ),
            _a(
                60.0,
            ),
        ),  # from another DBC (e.g. OBD-II): not in the car YAML
    }
    [window] = batcher.flush() if not batcher.push(decoded) else []
    tall = window.tall.sort("signal_name", "t_s")
    expected = pl.DataFrame(
        {
            "signal_name": ["coolant_c", "oil_press_bar", "water_temp_c", "water_temp_c"],
            "t_s": [0.015, 0.001, 0.0, 0.02],
            "value": [60.0, 1.0, 100.0, 0.0],
        }
    )
    assert_frame_equal(tall, expected, abs_tol=1e-7)


def test_windows_close_on_data_time_and_skip_gaps() -> None:
    batcher = WideBatcher(CAR, window_s=0.1)
    t = np.concatenate([np.arange(0, 0.25, 0.02), 10.0 + np.arange(0, 0.25, 0.02)]) + 1_700_000_000.0
    windows = []
    for chunk in np.array_split(np.arange(t.size), 7):  # arrives in uneven pieces
        windows += batcher.push({"rpm": (t[chunk], np.full(chunk.size, 5000.0))})
    windows += batcher.flush()
    sizes = [w.wide.height for w in windows]
    assert sum(sizes) == t.size
    assert len(windows) == 6  # 3 windows around t0, 3 around t0 + 10 s: no empty windows in the gap
    all_t = pl.concat([w.wide for w in windows]).get_column("t_s").to_numpy()
    np.testing.assert_array_equal(all_t, t)
    for w in windows[:-1]:
        assert ((w.wide["t_s"] >= w.t_start_s - 1e-9) & (w.wide["t_s"] < w.t_end_s)).all()
    first_utc = windows[0].wide.get_column("utc")[0]
    assert first_utc == datetime(2023, 11, 14, 22, 13, 20, tzinfo=UTC)


def test_windows_are_the_same_however_the_frames_arrive() -> None:
    """One push completing a hundred windows at once gives exactly what small pushes give window by window."""
    sim = Simulator(
        load_track(DATA_DIR / "tracks" / "sonoma.json"), CAR, DB, channel="unused", laps=0.2, seed=1
    )
    frames = sim.frames_between(0.0, sim.duration_s)  # 12 s of data, ≈ 3,500 frames

    def windows(step: int) -> list[WideWindow]:
        decoder, batcher = Decoder(DB, car=CAR), WideBatcher(CAR)
        out = []
        for i in range(0, len(frames), step):
            out += batcher.push(decoder.decode(frames.take(slice(i, i + step))))
        return out + batcher.flush()

    at_once, piecewise = windows(len(frames)), windows(7)
    assert len(at_once) == len(piecewise) > 100
    for one, other in zip(at_once, piecewise, strict=True):
        assert (one.t_start_s, one.t_end_s) == (other.t_start_s, other.t_end_s)
        assert_frame_equal(one.wide, other.wide)
        assert_frame_equal(one.tall, other.tall)
    assert_frame_equal(wide_frame(at_once), pl.concat([w.wide for w in piecewise]))
    assert_frame_equal(tall_frame(at_once), pl.concat([w.tall for w in piecewise]))
    assert wide_frame(at_once).height == 50 * 12 and wide_frame(at_once)["frame_idx"].is_sorted()


@pytest.mark.parametrize("clock_offset_s", [0.0, 1_700_000_000.0])
def test_wide_frame_stamps_consecutive_windows_for_a_session(clock_offset_s: float) -> None:
    batcher = WideBatcher(CAR)
    t = np.arange(25, dtype=np.float64) * 0.02 + clock_offset_s
    windows = batcher.push({"rpm": (t, np.full(25, 4000.0)), "water_temp_f": (t, np.full(25, 212.0))})
    windows += batcher.flush()
    assert len(windows) == 5
    started = datetime(2026, 5, 26, 17, 0, tzinfo=UTC)
    t0 = float(t[1])
    wide = wide_frame(windows, session_id="s1", first_frame_idx=100, t0_s=t0, started_at=started)
    assert wide.schema == pl.Schema(TELEMETRY)
    assert wide["session_id"].to_list() == ["s1"] * 25
    assert wide["frame_idx"].to_list() == list(range(100, 125))
    assert wide["t_s"].to_list() == (t - t0).tolist()
    assert wide["rpm"].to_list() == [4000.0] * 25 and wide["lat_deg"].null_count() == 25
    if clock_offset_s:  # epoch clock: utc is the frame's own time
        expected = [datetime.fromtimestamp(round(x * 1e6) / 1e6, UTC) for x in t]
    else:  # relative clock: session start + t_s
        expected = [started + timedelta(microseconds=round((x - t0) * 1e6)) for x in t]
    assert wide["utc"].to_list() == expected
    tall = tall_frame(windows, t0_s=t0)
    assert tall["signal_name"].to_list() == ["water_temp_c"] * 25
    assert tall["t_s"].to_list() == (t - t0).tolist() and tall["value"].to_list() == pytest.approx(
        [100.0] * 25
    )


@pytest.mark.parametrize(
    ("rpm", "speed_kph", "gear"),
    [
        (6000.0, 128.7, 3),  # 1.60 gearbox ratio → 3rd (1.67)
        (7000.0, 60.0, 1),
        (3617.0, 150.0, 6),
        (3000.0, 150.0, 0),  # gearbox ratio 0.69: taller than 6th
        (5000.0, 120.0, 0),  # 1.40: between 3rd and 4th → clutch in / slipping: unknown
        (900.0, 2.0, 0),  # crawling
        (np.nan, 100.0, 0),
        (4000.0, 0.0, 0),
    ],
)
def test_derive_gear(rpm: float, speed_kph: float, gear: int) -> None:
    assert CAR.drivetrain is not None
    assert derive_gear(_a(rpm), _a(speed_kph), CAR.drivetrain).tolist() == [gear]


def test_every_gear_round_trips_through_the_drivetrain() -> None:
    dt = CAR.drivetrain
    assert dt is not None
    speed = np.linspace(30, 220, 40)
    for g, ratio in enumerate(dt.gear_ratios, start=1):
        rpm = speed / 3.6 / dt.tyre_circumference_m * 60 * ratio * dt.final_drive
        assert (derive_gear(rpm * 1.03, speed, dt) == g).all()  # 3 % tyre slip still reads the same gear


def test_window_must_be_positive() -> None:
    with pytest.raises(ValueError, match="window_s"):
        WideBatcher(CAR, window_s=0)
