"""RaceChrono CSV v3 and RaceCapture .log readers, and detection by content, on real public files."""

from __future__ import annotations

from pathlib import Path

import polars as pl
import pytest

from pitwall.formats.detect import detect_format, read_recording
from pitwall.formats.errors import ReadError
from tests.api.conftest import RACECAPTURE, RACECHRONO_LAP9, RACECHRONO_LAP13, RUN04

# The loggers' own lap lists: RaceChrono's boundary rows (elapsed_time where lap_number steps), RaceCapture's
# LapTime channel (minutes) for the laps completed inside the file.
RACECHRONO_LAP_S = {RACECHRONO_LAP9: 1229.39379 - 1153.06491, RACECHRONO_LAP13: 1630.01506 - 1554.08101}
RACECAPTURE_LAPS_MIN = (2.593, 2.6423)


@pytest.mark.parametrize(
    ("path", "name"), [(RACECHRONO_LAP9, "racechrono"), (RACECAPTURE, "racecapture"), (RUN04, "vbo")]
)
def test_detection_is_by_content_not_extension(path: Path, name: str, tmp_path: Path) -> None:
    disguised = tmp_path / "upload.bin"
    disguised.write_bytes(path.read_bytes())
    assert detect_format(disguised.read_bytes()[:65536]) == name
    assert read_recording(disguised.read_bytes(), name=str(disguised)).source_format == name


@pytest.mark.parametrize(
    ("data", "looks_like"),
    [
        (b"", "an empty file"),
        (b"PK\x03\x04\x14\x00rest", "a zip archive"),
        (b"\x00\x01binary", "binary data"),
        (b'{"laps": []}', "JSON"),
        (b"<?xml version='1.0'?><kml><Document/></kml>", "XML (not GPX)"),
        (b"a,b,c\n1,2,3\n", "a CSV file of unknown layout starting 'a,b,c'"),
    ],
)
def test_unsupported_files_say_what_they_look_like(data: bytes, looks_like: str) -> None:
    with pytest.raises(ReadError) as caught:
        read_recording(data, name="/x/mystery.dat")
    assert str(caught.value).startswith("/x/mystery.dat: unsupported format (looks like ")
    assert looks_like in str(caught.value)


@pytest.mark.parametrize("path", sorted(RACECHRONO_LAP_S))
def test_racechrono_channels_units_and_lap_marks(path: Path) -> None:
    rec = read_recording(path.read_bytes(), name=str(path))
    t = rec.telemetry
    assert t.height == sum(1 for _ in path.open()) - 12  # 9 preamble lines, blank, 3 header rows … minus 1
    assert rec.session_data["track"] == "Tianma" and rec.session_data["device"] == "RaceChrono Pro v9.1.3"
    assert rec.lap_marks_s[1] - rec.lap_marks_s[0] == pytest.approx(RACECHRONO_LAP_S[path], abs=1e-9)
    raw = pl.read_csv(path, skip_rows=9, skip_rows_after_header=2, infer_schema_length=0)
    # GPS speed in m/s → km/h; OBD throttle_pos → throttle_pct; rpm as logged; latitude unchanged
    assert t["speed_kph"][100] == pytest.approx(float(raw["speed"][100]) * 3.6)
    assert t["throttle_pct"][100] == pytest.approx(float(raw["throttle_pos"][100]))
    assert t["rpm"][100] == pytest.approx(float(raw["rpm"][100]))
    assert t["lat_deg"][100] == pytest.approx(float(raw["latitude"][100]))
    assert t["brake_bar"].null_count() == t.height  # not logged: null, never 0
    assert {"speed (calc)", "speed (200: obd)", "engine_load"} <= set(rec.registry["signal_name"])
    assert t["utc"][0].year == 2025 and t["t_s"][0] == 0.0


def test_racecapture_sparse_rows_units_and_lap_marks() -> None:
    rec = read_recording(RACECAPTURE.read_bytes(), name=str(RACECAPTURE))
    t = rec.telemetry
    assert t.height == 24872
    raw = pl.read_csv(RACECAPTURE, has_header=False, skip_rows=1, infer_schema_length=0)
    assert t["speed_kph"][1] == pytest.approx(float(raw[1, 11]) * 1.609344)  # MPH → km/h
    assert t["sats"][1] == int(raw[1, 13])
    accel = rec.signals.filter(pl.col("signal_name") == "AccelX")
    assert 0 < accel.height < t.height  # sparse: only the IMU's own rows, no zeros filled in
    laps = [b - a for a, b in zip(rec.lap_marks_s, rec.lap_marks_s[1:], strict=False)]
    assert laps == pytest.approx([m * 60 for m in RACECAPTURE_LAPS_MIN], abs=0.05)


def test_racechrono_header_damage_names_the_line(tmp_path: Path) -> None:
    lines = RACECHRONO_LAP9.read_text().split("\n")
    lines[11] = lines[11].rsplit(",", 3)[0]  # the source row loses three cells
    with pytest.raises(ReadError) as caught:
        read_recording("\n".join(lines).encode(), name="bad.csv")
    assert "bad.csv:12" in str(caught.value)


GPX = RUN04.parent / "sloth-at-lemans.gpx"


def test_gpx_track_points_with_time() -> None:
    """gpxpy's "sloth at Le Mans" test file (GPX 1.0): 17 timed points round the Circuit de la Sarthe."""
    rec = read_recording(GPX.read_bytes(), name=str(GPX))
    t = rec.telemetry
    assert rec.source_format == "gpx" and t.height == 17
    assert rec.session_data == {"device": "GPSBabel - http://www.gpsbabel.org", "track": "SlothLeMans"}
    assert (t["lat_deg"][0], t["lon_deg"][0]) == (47.951649874, 0.206558027)
    assert t["t_s"][-1] == pytest.approx(86_420.0)  # 2013-06-25T18:06:40Z → 2013-06-26T18:07:00Z
    assert 12_500 < t["distance_m"][-1] < 13_700  # the 13.6 km circuit, corners cut by 17 points
    assert t["speed_kph"].null_count() == t.height  # no speed logged: null, not 0


@pytest.mark.parametrize(
    ("xml", "reason"),
    [
        (b"<gpx><trk><trkseg><trkpt lat='1' lon='2'/></trkseg></trk></gpx>", "track point 1 has no <time>"),
        (b"<gpx><trk><trkseg></trkseg></trk></gpx>", "no track points"),
        (b"<gpx><trk>", "not well-formed GPX"),
        (
            b"<?xml version='1.0'?><!DOCTYPE gpx [<!ENTITY a 'aaaaaaaaaa'><!ENTITY b '&a;&a;&a;&a;'>]><gpx>&b;</gpx>",
            "not well-formed GPX",
        ),
    ],
)
def test_bad_gpx_is_refused_with_the_reason(xml: bytes, reason: str) -> None:
    with pytest.raises(ReadError) as caught:
        read_recording(xml, name="bad.gpx")
    assert reason in str(caught.value)
