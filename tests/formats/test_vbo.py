"""The VBO reader on the real sample files and on hand-made files, one per trap of the format."""

from __future__ import annotations

from datetime import UTC, datetime
from functools import cache
from pathlib import Path

import numpy as np
import polars as pl
import pytest
from polars.testing import assert_frame_equal

from pitwall import schema
from pitwall.analysis.geo import haversine_m, segment_crossings, to_local_xy
from pitwall.formats.errors import ReadError
from pitwall.formats.vbo import SIGNALS_SCHEMA, VboRecording, parse_vbo, read_vbo
from tests.formats.vbo_files import (
    COLUMNS,
    RACEBOX,
    RUN01,
    RUN04,
    RUN05,
    VBOX2,
    fix_row,
    fix_rows,
    ticks,
    vbo_bytes,
    vbo_text,
)


@cache
def sample(path: Path) -> VboRecording:
    return read_vbo(path)


def parse(data: bytes) -> VboRecording:
    return parse_vbo(data, name="test.vbo")


def signal(rec: VboRecording, name: str) -> pl.Series:
    return rec.signals.filter(pl.col("signal_name") == name)["value"]


# ---------------------------------------------------------------------------------------------------
# Real files
# ---------------------------------------------------------------------------------------------------


def test_every_result_has_the_canonical_shapes() -> None:
    for path in (RUN01, RUN04, RUN05, RACEBOX, VBOX2):
        rec = sample(path)
        assert rec.telemetry.schema == pl.Schema(schema.TELEMETRY)
        assert rec.signals.schema == pl.Schema(SIGNALS_SCHEMA)
        assert rec.registry.schema == pl.Schema(schema.SIGNAL_REGISTRY)
        assert rec.telemetry["frame_idx"].to_list() == list(range(rec.telemetry.height))
        nulls = rec.telemetry.select(
            pl.sum_horizontal(pl.col("session_id", "s_m", "lap").null_count())
        ).item()
        assert nulls == 3 * rec.telemetry.height
        assert set(rec.signals["signal_name"].unique()) <= set(rec.registry["signal_name"])
        assert rec.registry["source"].unique().to_list() == ["vbo"]


def test_road_america_run04() -> None:
    rec = sample(RUN04)
    tel = rec.telemetry
    assert rec.rows_in_file == 10_401
    assert (rec.rows_dropped_prefix, rec.rows_dropped_duplicate, rec.truncated_last_line) == (0, 0, False)
    assert tel.height == 10_401
    first = tel.row(0, named=True)
    assert first["lat_deg"] == pytest.approx(43.79663, abs=1e-5)
    assert first["lon_deg"] == pytest.approx(-87.98978, abs=1e-5)  # 5279.38692 minutes WEST
    assert first["utc"] == datetime(2025, 8, 1, 19, 43, 33, 680_000, tzinfo=UTC)
    expected = {
        "t_s": 0.0,
        "alt_m": 331.7,
        "speed_kph": 58.406,
        "heading_deg": 176.488,
        "sats": 12,
        "rpm": 3569.0,
        "throttle_pct": 5.6,
        "brake_bar": 0.0,
        "steering_deg": 1.1,
        "gear": 1,
        "video_file_idx": 1,
        "video_t_ms": 31_066,
        "distance_m": 0.0,
    }
    assert {k: first[k] for k in expected} == expected
    assert tel["t_s"][-1] == pytest.approx(416.04)
    assert tel["t_s"].diff().median() == pytest.approx(0.04)
    assert (tel["t_s"].diff().drop_nulls() > 0).all()
    assert tel["distance_m"].is_sorted()
    assert 18_500 < tel["distance_m"][-1] < 20_000  # out-lap, flying lap, in-lap of a 6.5 km circuit
    assert rec.created_at == datetime(2025, 8, 1, 14, 43, 32)
    assert rec.log_rate_hz == 25.0  # no "Log Rate" line: the median step of the data
    assert rec.comments["device"] == "VBVDHD2-V12 2cam HDMI 25Hz"
    assert (rec.comments["serial"], rec.comments["firmware"][:11]) == ("013449", "01.05.05.03")
    assert rec.video is not None and rec.video.file_name(1) == "25IR05_RdAm_FP1_Run04_KO_0001.mp4"
    assert set(rec.sections) == {"header", "channel units", "comments", "avi", "laptiming", "column names"}


def test_run04_tall_sink_and_registry() -> None:
    rec = sample(RUN04)
    lap_number = rec.signals.filter(pl.col("signal_name") == "Lap_Number")
    assert lap_number.height == 10_401
    steps = lap_number.filter(pl.col("value").diff() == 1)
    assert steps["value"].to_list()[:2] == [2.0, 3.0]
    assert steps["t_s"].to_list()[:2] == pytest.approx([135.24, 250.24])
    units = dict(rec.registry.select("signal_name", "unit").iter_rows())
    assert units["Ambient_Temperature"] == "°C"
    assert units["vert-vel"] == "m/s"  # from the [header] name "vertical velocity m/s"
    assert units["Lap_Number"] == "" and units["Vehicle_Speed"] == "kmh"
    # canonical channels never reach the sink
    assert not {"Engine_Speed", "Gear", "velocity", "lat", "avitime"} & set(units)
    assert signal(rec, "ComboAcc")[0] == pytest.approx(0.08442395)


def test_run04_start_gate_in_degrees_and_direction_of_travel() -> None:
    rec = sample(RUN04)
    (gate,) = rec.gates
    assert (gate.name, gate.kind) == ("Start / Finish", "start_finish")
    centre = ((gate.lat1_deg + gate.lat2_deg) / 2, (gate.lon1_deg + gate.lon2_deg) / 2)
    assert centre == pytest.approx((43.79791, -87.98964), abs=1e-5)
    assert float(haversine_m(gate.lat1_deg, gate.lon1_deg, gate.lat2_deg, gate.lon2_deg)) == pytest.approx(
        30.0, abs=0.01
    )
    # The car crosses this line three times, always heading ≈ 178.5°, i.e. from point 2 towards point 1.
    tel = rec.telemetry
    x, y = to_local_xy(tel["lat_deg"].to_numpy(), tel["lon_deg"].to_numpy(), gate.lat1_deg, gate.lon1_deg)
    bx, by = to_local_xy(gate.lat2_deg, gate.lon2_deg, gate.lat1_deg, gate.lon1_deg)
    idx, _, side = segment_crossings(x, y, 0.0, 0.0, float(bx), float(by))
    assert idx.size == 3 and set(side.tolist()) == {1.0}
    assert gate.heading_deg == pytest.approx(179.21, abs=0.01)
    crossing_heading = tel["heading_deg"].gather(idx).to_numpy()
    assert np.all(np.abs(crossing_heading - gate.heading_deg) < 3.0)


def test_run01_and_run05() -> None:
    run01, run05 = sample(RUN01), sample(RUN05)
    assert run01.rows_in_file == 5_675
    assert run01.rows_dropped_duplicate == 1  # time 190013.120 is logged twice
    assert run01.telemetry.height == 5_674
    assert (run01.telemetry["t_s"].diff().drop_nulls() > 0).all()
    (stale,) = run01.gates  # a Homestead gate left in the logger: far from Road America
    assert stale.lat1_deg == pytest.approx(25.4545, abs=1e-3) and stale.lon1_deg == pytest.approx(
        -80.4154, abs=1e-3
    )
    assert run05.rows_in_file == 5_586 and run05.telemetry.height == 5_586
    assert run05.telemetry["t_s"][-1] == pytest.approx(223.4)


def test_racebox_sample_lat_lon_gates() -> None:
    rec = sample(RACEBOX)
    assert rec.rows_in_file == 3 and rec.telemetry.height == 3
    start, split = rec.gates
    assert (start.name, start.kind, split.name, split.kind) == (
        "Start / Finish",
        "start_finish",
        "S1",
        "split",
    )
    assert (start.lat1_deg, start.lon1_deg) == pytest.approx((3283.51816 / 60, 1520.96398 / 60))
    assert (start.lat2_deg, start.lon2_deg) == pytest.approx((3283.51862 / 60, 1520.94724 / 60))
    assert 15 < float(haversine_m(start.lat1_deg, start.lon1_deg, start.lat2_deg, start.lon2_deg)) < 25
    assert start.heading_deg is None  # three fixes that never cross the line
    tel = rec.telemetry
    assert tel["lon_deg"][0] == pytest.approx(1520.95871 / 60)  # negative (east) minutes → east positive
    assert tel["g_lat"].to_list() == [0.116, 0.217, 0.219]
    assert tel["g_long"][0] == -0.504 and tel["g_vert"][0] == 1.039
    assert tel["sats"].to_list() == [0, 8, 8]
    assert set(rec.registry["signal_name"]) == {
        "x-rotation-gyroscope",
        "y-rotation-gyroscope",
        "z-rotation-gyroscope",
    }
    assert rec.comments["device"] == "RaceBox" and rec.comments["serial"] == "3242708543"
    assert rec.created_at == datetime(2026, 5, 5, 16, 35)


def test_vbox2_user_guide_sample() -> None:
    rec = sample(VBOX2)
    assert rec.log_rate_hz == 10.0
    assert rec.comments["Log Rate (Hz)"] == "10.00"
    tel = rec.telemetry
    assert tel["sats"].to_list() == [9, 9, 9]  # 137 = brake-trigger bit + 9 satellites
    assert tel["lat_deg"][0] == pytest.approx(51.98499, abs=1e-5)
    assert tel["lon_deg"][0] == pytest.approx(-0.97488, abs=1e-5)  # Racelogic, Buckingham: west
    assert tel["speed_kph"].to_list() == [0.14, 0.22, 0.25]
    assert tel["t_s"].to_list() == [0.0, 0.5, 1.0]
    # created 03:11 (local) on 22/01, first fix 16:22 UTC: the nearest UTC day is the 21st
    assert tel["utc"][0] == datetime(2023, 1, 21, 16, 22, 35, 400_000, tzinfo=UTC)
    units = dict(rec.registry.select("signal_name", "unit").iter_rows())
    assert units == {"vertvel": "kmh", "event1": ""}
    assert signal(rec, "vertvel").to_list() == [0.0, 0.0, 0.072]
    assert rec.gates == [] and rec.video is None and rec.sections["channel units"] == []


# ---------------------------------------------------------------------------------------------------
# Hand-made variants
# ---------------------------------------------------------------------------------------------------


def test_crlf_and_lf_read_the_same() -> None:
    rows = fix_rows(ticks(70_000, 5))
    crlf, lf = parse(vbo_bytes(rows)), parse(vbo_bytes(rows, newline="\n"))
    assert_frame_equal(crlf.telemetry, lf.telemetry)
    assert crlf.telemetry.height == 5


def test_latin1_header_with_degree_and_not_signs(tmp_path: Path) -> None:
    rows = [f"{row} +21.5" for row in fix_rows(ticks(70_000, 3))]
    data = vbo_bytes(
        rows,
        columns=f"{COLUMNS} Oil_Temp",
        units=["°C"],
        sections="[laptiming]\nStart  +5279.378270 +2627.874410 +5279.378320 +2627.877020 ¬ Start / Finish",
        encoding="latin-1",
    )
    assert b"\xb0C" in data and b"\xac" in data  # single bytes, not UTF-8
    path = tmp_path / "latin1.vbo"
    path.write_bytes(data)
    rec = read_vbo(path)
    assert dict(rec.registry.select("signal_name", "unit").iter_rows()) == {"Oil_Temp": "°C"}
    assert rec.gates[0].name == "Start / Finish"
    assert signal(rec, "Oil_Temp").to_list() == [21.5] * 3


def test_comma_separated_double_quoted_variant() -> None:
    rows = fix_rows(ticks(70_000, 4))
    quoted = [",".join(f'"{cell}"' for cell in row.split()) for row in rows]
    columns = ",".join(f'"{name}"' for name in COLUMNS.split())
    assert_frame_equal(parse(vbo_bytes(quoted, columns=columns)).telemetry, parse(vbo_bytes(rows)).telemetry)


def test_driftbox_trailing_comma_on_every_row() -> None:
    rows = fix_rows(ticks(70_000, 4))
    trailing = [row.replace(" ", ",") + "," for row in rows]
    columns = COLUMNS.replace(" ", ",")
    assert_frame_equal(
        parse(vbo_bytes(trailing, columns=columns)).telemetry, parse(vbo_bytes(rows)).telemetry
    )


def test_comma_variant_empty_cell_is_missing() -> None:
    rows = [row.replace(" ", ",") + ",1.5" for row in fix_rows(ticks(70_000, 3))]
    rows[1] = rows[1].removesuffix("1.5")
    rec = parse(vbo_bytes(rows, columns=f"{COLUMNS} Boost".replace(" ", ",")))
    assert rec.signals["t_s"].to_list() == [0.0, 0.08]  # the missing value is not in the sink


def test_missing_column_names_uses_header_long_names() -> None:
    header = ["satellites", "time", "latitude", "longitude", "velocity knots", "heading", "height"]
    rec = parse(vbo_bytes(fix_rows(ticks(70_000, 3)), columns=None, header=header))
    assert "column names" not in rec.sections
    tel = rec.telemetry
    assert tel["lat_deg"][0] == pytest.approx(43.79663, abs=1e-5)
    assert tel["speed_kph"][0] == pytest.approx(58.406 * 1.852)  # unit from "velocity knots"
    assert tel["sats"][0] == 12 and rec.signals.height == 0


def test_duplicate_column_names_are_suffixed() -> None:
    rows = [f"{row} +1.0 -2.0" for row in fix_rows(ticks(70_000, 2))]
    rec = parse(vbo_bytes(rows, columns=f"{COLUMNS} SteeringWh SteeringWh "))
    assert rec.registry["signal_name"].to_list() == ["SteeringWh", "SteeringWh_2"]
    assert signal(rec, "SteeringWh").to_list() == [1.0, 1.0]
    assert signal(rec, "SteeringWh_2").to_list() == [-2.0, -2.0]


def test_column_name_with_a_space_is_rejoined() -> None:
    header = [*COLUMNS.split(), "battery voltage", "Oil_Temp"]
    rows = [f"{row} +12.6 +88.0" for row in fix_rows(ticks(70_000, 2))]
    rec = parse(vbo_bytes(rows, columns=f"{COLUMNS} battery vo Oil_Temp", header=header))
    assert rec.registry["signal_name"].to_list() == ["battery vo", "Oil_Temp"]
    assert rec.registry["description"].to_list() == ["battery voltage", "Oil_Temp"]
    assert signal(rec, "battery vo").to_list() == [12.6, 12.6]
    assert signal(rec, "Oil_Temp").to_list() == [88.0, 88.0]


@pytest.mark.parametrize("newline", ["\r\n", "\n"])
def test_truncated_last_line_is_dropped(newline: str) -> None:
    rows = fix_rows(ticks(70_000, 4))
    data = vbo_bytes(rows, newline=newline)
    cut = data[: data.rindex(b"+00331.70") - 10]  # the file ends inside the last row
    rec = parse(cut)
    assert rec.truncated_last_line and rec.rows_in_file == 4 and rec.telemetry.height == 3
    # a last cell shorter than the one above it, and no newline: cut inside the number
    rec = parse(data.rstrip()[:-2])
    assert rec.truncated_last_line and rec.telemetry.height == 3
    # a complete file is untouched
    assert not parse(data).truncated_last_line and not parse(data.rstrip()).truncated_last_line


def test_midnight_rollover() -> None:
    rows = fix_rows(["235959.90", "235959.95", "000000.00", "000000.05"])
    rec = parse(vbo_bytes(rows, created="File created on 31/12/2024 @ 23:59:59"))
    tel = rec.telemetry
    assert tel["t_s"].to_list() == pytest.approx([0.0, 0.05, 0.10, 0.15])
    assert tel["utc"].to_list() == [
        datetime(2024, 12, 31, 23, 59, 59, 900_000, tzinfo=UTC),
        datetime(2024, 12, 31, 23, 59, 59, 950_000, tzinfo=UTC),
        datetime(2025, 1, 1, 0, 0, 0, tzinfo=UTC),
        datetime(2025, 1, 1, 0, 0, 0, 50_000, tzinfo=UTC),
    ]
    assert rec.rows_dropped_prefix == 0


def test_rows_before_gps_lock_are_dropped_and_counted() -> None:
    good = [fix_row(t, i) for i, t in enumerate(ticks(70_000, 5))]
    rows = [
        fix_row("000000.00", lat=0.0, long=0.0),  # logger on, no fix, no time
        fix_row("000000.00"),
        fix_row("193000.00", lat=0.0, long=0.0),  # a time but no position
        fix_row("191500.00"),  # isolated stray row 15 min before the session
        *good,
    ]
    rec = parse(vbo_bytes(rows))
    assert (rec.rows_in_file, rec.rows_dropped_prefix, rec.telemetry.height) == (9, 4, 5)
    assert rec.telemetry["t_s"][0] == 0.0
    assert rec.telemetry["utc"][0] == datetime(2025, 8, 1, 19, 26, 40, tzinfo=UTC)
    # a backwards jump at the start is dropped too
    rec = parse(vbo_bytes([fix_row("194500.00"), *good]))
    assert (rec.rows_dropped_prefix, rec.telemetry.height) == (1, 5)


@pytest.mark.parametrize("long", [0.0, 7240.5])
def test_a_first_row_with_a_missing_latitude_is_kept(long: float) -> None:
    # comma variant, empty latitude cell: null, so the row is neither certainly before lock (0,0) nor
    # certainly after it; a null neither counts nor ends the leading run, so nothing is dropped
    rows = [row.replace(" ", ",") for row in fix_rows(ticks(70_000, 4))]
    cells = rows[0].split(",")
    cells[2], cells[3] = "", f"{long:+.8f}"
    rows[0] = ",".join(cells)
    rec = parse(vbo_bytes(rows, columns=COLUMNS.replace(" ", ",")))
    assert (rec.rows_dropped_prefix, rec.telemetry.height) == (0, 4)
    assert rec.telemetry["lat_deg"].is_null().to_list() == [True, False, False, False]


def test_zero_position_mid_session_is_null_not_dropped() -> None:
    times = ticks(70_000, 4)
    rows = [
        fix_row(times[0]),
        fix_row(times[1], lat=0.0, long=0.0),
        fix_row(times[2], 2),
        fix_row(times[3], 3),
    ]
    tel = parse(vbo_bytes(rows)).telemetry
    assert tel.height == 4
    assert tel["lat_deg"].is_null().to_list() == [False, True, False, False]
    assert tel["distance_m"][3] == pytest.approx(
        float(haversine_m(tel["lat_deg"][2], tel["lon_deg"][2], tel["lat_deg"][3], tel["lon_deg"][3]))
    )


def test_duplicate_timestamps_keep_the_first_row() -> None:
    times = ticks(70_000, 4)
    rows = [
        fix_row(times[0], 0),
        fix_row(times[1], 1),
        fix_row(times[1], 2),
        fix_row(times[1], 3),
        fix_row(times[2], 4),
        fix_row(times[3], 5),
    ]
    rec = parse(vbo_bytes(rows))
    assert (rec.rows_dropped_duplicate, rec.telemetry.height) == (2, 4)
    assert rec.telemetry["lat_deg"][1] == pytest.approx((2627.797836 - 1e-4) / 60)


def test_duplicates_are_counted_after_the_prefix_only() -> None:
    # the no-fix row shares its time with the first good row: one prefix row, no duplicate
    times = ticks(70_000, 3)
    rows = [fix_row(times[0], lat=0.0, long=0.0), *fix_rows(times)]
    rec = parse(vbo_bytes(rows))
    assert (rec.rows_dropped_prefix, rec.rows_dropped_duplicate, rec.telemetry.height) == (1, 0, 3)


def test_velocity_units_from_the_header() -> None:
    rows = fix_rows(ticks(70_000, 2))
    for unit, factor in (("knots", 1.852), ("mph", 1.609344), ("kmh", 1.0)):
        header = ["satellites", "time", "latitude", "longitude", f"velocity {unit}", "heading", "height"]
        assert parse(vbo_bytes(rows, header=header)).telemetry["speed_kph"][0] == pytest.approx(
            58.406 * factor
        )


def test_acceleration_in_metres_per_second_squared() -> None:
    rows = [f"{row} +4.903325 -9.80665" for row in fix_rows(ticks(70_000, 2))]
    rec = parse(vbo_bytes(rows, columns=f"{COLUMNS} LatAcc LongAcc", units=["m/s²", "g"]))
    assert rec.telemetry["g_lat"][0] == pytest.approx(0.5)  # m/s² → g; positive left as logged
    assert rec.telemetry["g_long"][0] == pytest.approx(-9.80665)  # already in g


def test_unconvertible_unit_goes_to_the_sink() -> None:
    rows = [f"{row} +300.0" for row in fix_rows(ticks(70_000, 2))]
    rec = parse(vbo_bytes(rows, columns=f"{COLUMNS} Brake_Pressure_Front", units=["furlongs"]))
    assert rec.telemetry["brake_bar"].null_count() == 2
    assert dict(rec.registry.select("signal_name", "unit").iter_rows()) == {
        "Brake_Pressure_Front": "furlongs"
    }


def test_signed_decimal_degrees() -> None:
    rows = [f"012 {t} +43.7966306 -87.9897820 058.406 176.488 +00331.70" for t in ticks(70_000, 3)]
    tel = parse(vbo_bytes(rows)).telemetry
    assert tel["lat_deg"][0] == 43.7966306
    assert tel["lon_deg"][0] == -87.989782  # signed degrees are standard WGS84: east positive, kept
    assert tel["distance_m"][2] == 0.0


def test_numbers_with_exponent_plus_sign_and_zero_padding() -> None:
    rows = [
        f"0012 {t} +2.62779783600E+03 +005279.38692 +5.8406E+01 0176.488 +00331.70" for t in ticks(70_000, 2)
    ]
    tel = parse(vbo_bytes(rows)).telemetry
    assert tel["sats"][0] == 12
    assert tel["lat_deg"][0] == pytest.approx(2627.797836 / 60)
    assert tel["speed_kph"][0] == pytest.approx(58.406)
    assert tel["heading_deg"][0] == 176.488


def test_padding_tabs_and_blank_lines_in_data() -> None:
    rows = fix_rows(ticks(70_000, 3))
    messy = ["  " + rows[0].replace(" ", "   ") + "  ", "", rows[1].replace(" ", "\t"), "   ", rows[2] + " "]
    rec = parse(vbo_bytes(messy))
    assert_frame_equal(rec.telemetry, parse(vbo_bytes(rows)).telemetry)
    assert rec.rows_in_file == 3


def test_unknown_sections_session_data_and_video() -> None:
    sections = "\n".join(
        [
            "[module Information]",
            "module 1 CAN  v2",
            "[Circuit details]",
            "country USA",
            "[session data]",
            "laps 12",
            "name Megara",
            "driver : A. Driver",
            "[AVI]",
            "clip_",
            "mp4",
        ]
    )
    rows = [f"{row} 0003 000012345" for row in fix_rows(ticks(70_000, 2))]
    rec = parse(vbo_bytes(rows, columns=f"{COLUMNS} avifileindex avitime", sections=sections))
    assert rec.sections["module information"] == ["module 1 CAN  v2"]
    assert rec.sections["circuit details"] == ["country USA"]
    assert rec.session_data == {"laps": "12", "name": "Megara", "driver": "A. Driver"}
    assert rec.video is not None and rec.video.base_name == "clip_" and rec.video.extensions == ["mp4"]
    assert rec.video.file_name(3) == "clip_0003.mp4"
    assert rec.telemetry["video_file_idx"].to_list() == [3, 3]
    assert rec.telemetry["video_t_ms"].to_list() == [12_345, 12_345]


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        ("File created on 01/08/2025 at 14:43", datetime(2025, 8, 1, 14, 43)),
        ("File created on 1/8/2025 @ 9:05:07", datetime(2025, 8, 1, 9, 5, 7)),
        ("File created on 31/02/2025 @ 14:43", None),
        ("Exported by a tool", None),
        # US-locale software: month first with a 12-hour clock
        ("File created on 9/27/2016 at 11:40:06 PM", datetime(2016, 9, 27, 23, 40, 6)),
        ("File created on 11/3/2016 at 10:02:51 AM", datetime(2016, 11, 3, 10, 2, 51)),
        ("File created on 11/3/2016 at 12:15:00 AM", datetime(2016, 11, 3, 0, 15)),
        ("File created on 11/3/2016 at 12:15:00 PM", datetime(2016, 11, 3, 12, 15)),
        ("File created on 11/3/2016 at 13:15:00 PM", None),  # not a 12-hour time
        ("File created on 9/27/2016 @ 23:40:06", datetime(2016, 9, 27, 23, 40, 6)),  # 27 cannot be a month
        ("File created on 11/03/2016 @ 10:02:51", datetime(2016, 3, 11, 10, 2, 51)),  # Racelogic: day first
    ],
)
def test_file_created_line(line: str, expected: datetime | None) -> None:
    rec = parse(vbo_bytes(fix_rows(ticks(70_000, 2)), created=line))
    assert rec.created_at == expected
    assert rec.telemetry["utc"].is_null().all() == (expected is None)


def test_racebox_gate_heading_from_crossings() -> None:
    sections = "[comments]\nGenerated by RaceBox\n[laptiming]\nStart +2627.7970 +5279.3880 +2627.7970 +5279.3860 ¬ Line"
    rows = fix_rows(ticks(70_000, 12))  # the car moves south through latitude 2627.7970
    rec = parse(vbo_bytes(rows, sections=sections))
    (gate,) = rec.gates
    assert gate.lat1_deg == pytest.approx(2627.797 / 60)
    assert gate.heading_deg == pytest.approx(180.0, abs=0.1)


# ---------------------------------------------------------------------------------------------------
# Errors: always ReadError naming the file, the line and the reason
# ---------------------------------------------------------------------------------------------------


def reject(data: bytes) -> ReadError:
    with pytest.raises(ReadError) as caught:
        parse(data)
    assert caught.value.path == "test.vbo"
    return caught.value


def test_error_empty_and_no_data_section() -> None:
    assert reject(b"").reason == "empty file"
    assert reject(b" \r\n\n").reason == "empty file"
    assert reject(vbo_bytes([]).replace(b"[data]", b"[dada]")).reason == "no [data] section"
    error = reject(vbo_bytes([]))
    assert "no rows" in error.reason and error.line == 16


def test_error_binary_garbage() -> None:
    error = reject(b"\x00\x01\x02\xff" * 50)
    assert "binary" in error.reason and error.line == 1
    error = reject(vbo_bytes(fix_rows(ticks(70_000, 2))).replace(b"[header]", b"[hea\x00der]"))
    assert "binary" in error.reason and error.line == 3


def test_error_column_count_mismatch_names_the_line() -> None:
    rows = fix_rows(ticks(70_000, 4))
    rows[1] = rows[1].rsplit(" ", 1)[0]  # a short row in the middle (not the last line)
    error = reject(vbo_bytes(rows))
    assert error.line == 17 and "6 fields" in error.reason and "7 columns" in error.reason
    rows = fix_rows(ticks(70_000, 4))
    rows[2] += " +1.0"
    assert reject(vbo_bytes(rows)).line == 18
    error = reject(vbo_bytes(fix_rows(ticks(70_000, 2)), columns="sats time lat long velocity"))
    assert "column count mismatch" in error.reason and error.line == 14  # the header is 2 lines shorter


def test_error_non_numeric_cell_names_line_and_column() -> None:
    rows = fix_rows(ticks(70_000, 4))
    rows[2] = rows[2].replace("058.406", "58.4x6")
    error = reject(vbo_bytes(rows))
    assert error.line == 18 and "'velocity'" in error.reason and "58.4x6" in error.reason
    assert str(error).startswith("test.vbo:18: ")


def test_error_invalid_time_of_day() -> None:
    rows = fix_rows(ticks(70_000, 3))
    rows[1] = fix_row("196133.00")  # 61 minutes
    error = reject(vbo_bytes(rows))
    assert error.line == 17 and "'time'" in error.reason
    rows[1] = fix_row("-19433.00")
    assert reject(vbo_bytes(rows)).line == 17


def test_error_only_rows_before_gps_lock() -> None:
    error = reject(vbo_bytes([fix_row("000000.00", lat=0.0, long=0.0)] * 3))
    assert error.line == 16 and "all 3 rows were logged before GPS lock" in error.reason


def test_error_without_time_column_or_names() -> None:
    rows = [row.split(" ", 2)[0] + " " + row.split(" ", 2)[2] for row in fix_rows(ticks(70_000, 2))]
    assert "no time column" in reject(vbo_bytes(rows, columns="sats lat long velocity heading height")).reason
    text = vbo_text(fix_rows(ticks(70_000, 2)), columns=None, header=[])
    assert "names the data columns" in reject(text.replace("[header]\r\n", "").encode()).reason


def test_error_unreadable_laptiming_and_missing_file(tmp_path: Path) -> None:
    sections = "[laptiming]\nStart +52x9.37 +2627.87 +5279.37 +2627.87 ¬ S/F"
    error = reject(vbo_bytes(fix_rows(ticks(70_000, 2)), sections=sections))
    assert error.line == 13 and "laptiming" in error.reason
    with pytest.raises(ReadError) as caught:
        read_vbo(tmp_path / "absent.vbo")
    assert "cannot read file" in caught.value.reason
