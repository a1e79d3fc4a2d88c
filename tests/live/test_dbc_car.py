"""The bundled DBC and car YAML, DBC merging, car parsing and the ``/cars`` dict shape."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
from cantools.database.can import Database

from pitwall import DATA_DIR
from pitwall.formats.car import CONVERSIONS, list_cars, load_car
from pitwall.formats.dbc import load_dbc
from pitwall.formats.errors import ReadError
from pitwall.schema import TELEMETRY

PITWALL_DBC = DATA_DIR / "dbc" / "pitwall.dbc"
CAR = DATA_DIR / "cars" / "bmw_e46_m3.yaml"

# (frame id, signal, start bit, signed, scale, unit) straight from spec/aim-smartycam-can.md
SPEC = [
    (0x420, "rpm", 0, False, 1, "rpm"),
    (0x420, "speed_mph", 16, False, 0.1, "mph"),
    (0x420, "gear", 32, False, 1, None),
    (0x420, "water_temp_f", 48, False, 0.1, "degF"),
    (0x421, "water_press_psi", 0, False, 0.1, "psi"),
    (0x421, "roll_rate_dps", 16, True, 0.1, "deg/s"),
    (0x421, "oil_temp_f", 32, False, 0.1, "degF"),
    (0x421, "oil_press_psi", 48, False, 0.1, "psi"),
    (0x422, "brake_press_psi", 0, False, 1, "psi"),
    (0x422, "throttle_pct", 16, False, 0.01, "%"),
    (0x422, "brake_switch", 32, False, 1, None),
    (0x422, "pitch_rate_dps", 48, True, 0.1, "deg/s"),
    (0x423, "steering_angle_deg", 0, True, 0.1, "deg"),
    (0x423, "yaw_rate_dps", 16, True, 0.1, "deg/s"),
    (0x423, "lat_accel_g", 32, True, 0.01, "g"),
    (0x423, "long_accel_g", 48, True, 0.01, "g"),
    (0x424, "fuel_level_gal", 0, False, 0.01, "gal"),
    (0x424, "battery_v", 16, False, 0.1, "V"),
    (0x424, "vert_accel_g", 32, True, 0.01, "g"),
    (0x451, "ecu_speed_mph", 0, False, 0.1, "mph"),
    (0x451, "ambient_temp_f", 16, False, 0.1, "degF"),
    (0x451, "engine_oil_temp_f", 32, False, 0.1, "degF"),
    (0x451, "dsc_active", 48, False, 1, None),
] + [
    (fid, f"{stem}_{w}{suffix}", 16 * k, False, scale, unit)
    for fid, stem, suffix, scale, unit in (
        (0x450, "wheel_speed", "_mph", 0.1, "mph"),
        (0x453, "tpms_press", "_psi", 0.1, "psi"),
        (0x454, "tpms_temp", "_f", 0.1, "degF"),
        (0x455, "tpms_volt", "_mv", 1, "mV"),
        (0x456, "tpms_alarm", "", 1, None),
    )
    for k, w in enumerate(("fl", "fr", "rl", "rr"))
]


def _decode(db: Database, frame_id: int, data: bytes) -> dict[str, Any]:
    return dict(db.get_message_by_frame_id(frame_id).decode(data, decode_choices=False))  # type: ignore[arg-type]


def test_pitwall_dbc_follows_the_smartycam_spec() -> None:
    db = load_dbc([PITWALL_DBC])
    assert {m.frame_id for m in db.messages} == {*range(0x420, 0x425), *range(0x450, 0x457)}
    for message in db.messages:
        assert message.length == 8 and not message.is_extended_frame
        assert all(s.byte_order == "little_endian" for s in message.signals)
    for fid, name, start, signed, scale, unit in SPEC:
        signal = db.get_message_by_frame_id(fid).get_signal_by_name(name)
        assert (signal.start, signal.length, signal.is_signed, signal.scale, signal.offset, signal.unit) == (
            start,
            16,
            signed,
            scale,
            0,
            unit,
        ), name
    gps = db.get_message_by_frame_id(0x452)
    assert [(s.name, s.start, s.length, s.is_signed, s.scale) for s in gps.signals] == [
        ("gps_lat_deg", 0, 32, True, 1e-7),
        ("gps_lon_deg", 32, 32, True, 1e-7),
    ]
    assert sum(len(m.signals) for m in db.messages) == len(SPEC) + 2 == 45
    # little-endian, byte 0 = LSB: 0x1A2B rpm, -12.3 °/s roll rate
    assert _decode(db, 0x420, bytes([0x2B, 0x1A, 0, 0, 0, 0, 0, 0]))["rpm"] == 0x1A2B
    assert _decode(db, 0x421, bytes([0, 0, 0x85, 0xFF, 0, 0, 0, 0]))["roll_rate_dps"] == pytest.approx(-12.3)


def test_load_dbc_merges_identical_and_rejects_conflicting_or_bad_files(tmp_path: Path) -> None:
    extra = tmp_path / "obd.dbc"
    extra.write_text(
        'VERSION ""\n\nNS_ :\n\nBS_:\n\nBU_: ECU\n\nBO_ 2024 OBD_Reply: 8 ECU\n'
        ' SG_ coolant_c : 24|8@1+ (1,-40) [-40|215] "degC" Vector__XXX\n'
    )
    merged = load_dbc([PITWALL_DBC, extra, PITWALL_DBC])
    assert len(merged.messages) == 13
    assert _decode(merged, 2024, bytes([0, 0, 0, 100, 0, 0, 0, 0]))["coolant_c"] == 60

    conflict = tmp_path / "conflict.dbc"
    conflict.write_text(PITWALL_DBC.read_text().replace("SG_ rpm : 0|16@1+ (1,0)", "SG_ rpm : 0|16@1+ (2,0)"))
    with pytest.raises(ReadError, match=r"frame 0x420 \(MXP_420_Engine\) conflicts with MXP_420_Engine"):
        load_dbc([PITWALL_DBC, conflict])

    garbage = tmp_path / "garbage.dbc"
    garbage.write_text('VERSION ""\n\nBO_ 1056 Broken: 8 X\n SG_ rpm : banana\n')
    with pytest.raises(ReadError, match="not a valid DBC file") as info:
        load_dbc([garbage])
    assert info.value.path == str(garbage)
    with pytest.raises(ReadError, match="DBC file not found"):
        load_dbc([tmp_path / "missing.dbc"])
    with pytest.raises(ReadError, match="no DBC file given"):
        load_dbc([])


def test_car_yaml_maps_every_channel_onto_the_dbc_and_canonical_columns() -> None:
    car = load_car(CAR)
    db = load_dbc([PITWALL_DBC])
    assert car.id == "bmw_e46_m3" and car.display_name == "BMW M3 (E46)"
    assert len(car.frames) == 12 and len(car.channels) == 45
    for frame in car.frames:
        message = db.get_message_by_frame_id(frame.frame_id)
        assert message.name == frame.message
        assert [ch.signal for ch in frame.channels] == [s.name for s in message.signals]
    rates = {f.frame_id: f.rate_hz for f in car.frames}
    assert rates[0x420] == rates[0x423] == rates[0x450] == 50
    assert rates[0x424] == rates[0x451] == 10 and rates[0x452] == 20 and rates[0x453] == 1
    assert {f.frame_id for f in car.frames if f.core} == set(range(0x420, 0x425))
    canonical = {ch.signal: ch.canonical for ch in car.channels if ch.canonical}
    assert set(canonical.values()) <= set(TELEMETRY)
    assert canonical["speed_mph"] == "speed_kph" and canonical["lat_accel_g"] == "g_lat"
    gear = next(ch for ch in car.channels if ch.signal == "gear")
    assert gear.dead is not None and "MSS54HP" in gear.dead
    assert [ch.signal for ch in car.channels if ch.dead] == ["gear"]
    assert car.drivetrain is not None and car.drivetrain.gear_ratios[0] == 4.23


@pytest.mark.parametrize(
    ("name", "source", "expected"),
    [
        ("mph_to_kph", 100.0, 160.9344),
        ("psi_to_bar", 14.5037738, 1.0),
        ("degf_to_degc", 212.0, 100.0),
        ("degf_to_degc", -40.0, -40.0),
        ("gal_to_l", 1.0, 3.785411784),
    ],
)
def test_unit_conversions_and_their_inverse(name: str, source: float, expected: float) -> None:
    conv = CONVERSIONS[name]
    out = conv.apply(np.array([source]))
    assert out[0] == pytest.approx(expected, rel=1e-8)
    assert conv.invert(out)[0] == pytest.approx(source, rel=1e-12)


def test_to_api_dict_has_exactly_the_cars_contract_shape() -> None:
    d = load_car(CAR).to_api_dict(loaded=True)
    assert list(d) == [
        "id", "loaded", "make", "model", "chassis", "year", "engine", "dash_logger", "can_bus",
        "frame_count", "channel_count", "channels",
    ]  # fmt: skip
    assert d["loaded"] is True and d["year"] == 2003 and d["engine"] == "S54B32 (MSS54HP DME)"
    assert d["dash_logger"] == {
        "make": "AiM",
        "model": "MXP",
        "protocol": "AIM MXP SmartyCam Enhanced CAN Protocol v3.0",
        "total_frames": 20,
        "total_channels": 66,
    }
    assert d["can_bus"] == {
        "name": "SmartyCam output",
        "bitrate_bps": 1000000,
        "frame_format": "MIXED",
        "id_width": 11,
    }
    assert d["frame_count"] == 12 and d["channel_count"] == 45 == len(d["channels"])
    assert d["channels"][0] == {"name": "rpm", "frame_id": "0x420", "rate_hz": 50, "role": "engine"}
    assert isinstance(d["channels"][0]["rate_hz"], int)
    assert {c["role"] for c in d["channels"]} >= {"engine", "driver", "imu", "gps", "tpms", "wheels"}
    assert load_car(CAR).to_api_dict(loaded=False)["loaded"] is False


def test_list_cars_reads_a_directory_and_rejects_bad_files(tmp_path: Path) -> None:
    assert [c.id for c in list_cars(DATA_DIR / "cars")] == ["bmw_e46_m3"]
    (tmp_path / "b_car.yaml").write_text(CAR.read_text())
    (tmp_path / "a_car.yml").write_text(CAR.read_text().replace("year: 2003", "year: 2004"))
    (tmp_path / "notes.txt").write_text("not a car")
    cars = list_cars(tmp_path)
    assert [(c.id, c.year) for c in cars] == [("a_car", 2004), ("b_car", 2003)]
    with pytest.raises(ReadError, match="cars directory not found"):
        list_cars(tmp_path / "nope")


@pytest.mark.parametrize(
    ("old", "new", "message"),
    [
        ("convert: mph_to_kph}", "convert: furlongs}", "unknown conversion 'furlongs'"),
        ("canonical: g_lat}", "canonical: g_sideways}", "'g_sideways' is not a canonical telemetry column"),
        ("make: BMW\n", "", "missing key 'make'"),
        ("rate_hz: 20", "rate_hz: -20", r"frames\[7\].rate_hz: must be > 0"),
        ("  - id: 0x421\n", "  - id: 0x420\n", "a frame id is listed twice"),
        ("[4.23, 2.53,", "[2.53, 4.23,", "must decrease"),
        ("year: 2003", "year: [2003", "not valid YAML"),
    ],
)
def test_bad_car_yaml_is_a_read_error_naming_the_key(
    tmp_path: Path, old: str, new: str, message: str
) -> None:
    text = CAR.read_text()
    assert old in text
    path = tmp_path / "car.yaml"
    path.write_text(text.replace(old, new, 1))
    with pytest.raises(ReadError, match=message) as info:
        load_car(path)
    assert info.value.path == str(path)
