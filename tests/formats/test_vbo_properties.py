"""Property tests: write_vbo → read_vbo returns what was written; corrupted real files either parse or raise
ReadError, never anything else."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import polars as pl
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from polars.testing import assert_frame_equal, assert_series_equal

from pitwall import schema
from pitwall.analysis.geo import haversine_m
from pitwall.formats.errors import ReadError
from pitwall.formats.vbo import is_canonical_channel, parse_vbo, read_vbo
from pitwall.formats.vbo_writer import write_vbo
from pitwall.track import Gate
from tests.formats.vbo_files import RACEBOX, RUN04, VBOX2

FINITE = st.floats(min_value=-1e9, max_value=1e9, allow_nan=False, allow_infinity=False)
OPTIONAL_CHANNELS: dict[str, st.SearchStrategy[float] | st.SearchStrategy[int]] = {
    "speed_kph": st.floats(0, 400),
    "heading_deg": st.floats(0, 360, exclude_max=True),
    "alt_m": st.floats(-500, 9000),
    "sats": st.integers(0, 63),
    "g_lat": FINITE,
    "g_long": st.floats(-5, 5),
    "g_vert": st.floats(-5, 5),
    "rpm": st.floats(0, 20_000),
    "throttle_pct": st.floats(0, 100),
    "brake_bar": st.floats(0, 200),
    "steering_deg": st.floats(-900, 900),
    "gear": st.integers(0, 8),
    "video_file_idx": st.integers(0, 9999),
    "video_t_ms": st.integers(0, 999_999_999),
}
SIGNAL_NAME = st.from_regex(r"[A-Za-z][A-Za-z0-9_\-]{0,11}", fullmatch=True).filter(
    lambda n: not is_canonical_channel(n)
)


@st.composite
def recordings(draw: st.DrawFn) -> tuple[pl.DataFrame, pl.DataFrame, datetime, bool]:
    """(telemetry, tall signals, created_at, whether the time comes from a ``utc`` column)."""
    n = draw(st.integers(1, 30))
    start = datetime(2020, 1, 1) + timedelta(
        days=draw(st.integers(0, 3650)), milliseconds=draw(st.integers(1, 86_400_000 - 1))
    )
    steps_ms = draw(st.lists(st.integers(1, 5_000), min_size=n - 1, max_size=n - 1))
    t_ms = np.concatenate(([0], np.cumsum(steps_ms, dtype=np.int64)))
    hemisphere = draw(st.sampled_from([-1.0, 1.0]))
    # minutes are told from degrees by |value| > 180 (3°): a file within 3° of 0°N 0°E is ambiguous by design
    lat = draw(st.lists(st.floats(3.01, 80), min_size=n, max_size=n))
    columns: dict[str, object] = {
        "t_s": t_ms / 1000,
        "lat_deg": [hemisphere * v for v in lat],
        "lon_deg": draw(st.lists(st.floats(-179.9, 179.9), min_size=n, max_size=n)),
    }
    for name in draw(st.lists(st.sampled_from(sorted(OPTIONAL_CHANNELS)), unique=True)):
        columns[name] = draw(st.lists(OPTIONAL_CHANNELS[name], min_size=n, max_size=n))
    use_utc = draw(st.booleans())
    telemetry = pl.DataFrame(columns).with_columns(
        pl.col(c).cast(t) for c, t in schema.TELEMETRY.items() if c in columns
    )
    if use_utc:
        utc0 = start.replace(tzinfo=UTC)
        telemetry = telemetry.with_columns(
            utc=pl.Series([utc0 + timedelta(milliseconds=int(v)) for v in t_ms])
        )
    names = draw(st.lists(SIGNAL_NAME, max_size=4, unique_by=str.lower))
    signals = pl.DataFrame(
        {
            "signal_name": [name for name in names for _ in range(n)],
            "t_s": np.tile(t_ms / 1000, len(names)),
            "value": draw(st.lists(FINITE, min_size=n * len(names), max_size=n * len(names))),
        },
        schema={"signal_name": pl.String, "t_s": pl.Float64, "value": pl.Float64},
    )
    return telemetry, signals, start, use_utc


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(recordings())
def test_write_then_read_returns_the_recording(
    tmp_path: Path, drawn: tuple[pl.DataFrame, pl.DataFrame, datetime, bool]
) -> None:
    telemetry, signals, created_at, use_utc = drawn
    path = write_vbo(
        telemetry, tmp_path / "round.vbo", signals=signals, created_at=None if use_utc else created_at
    )
    rec = read_vbo(path)
    tel = rec.telemetry
    assert (rec.rows_in_file, rec.rows_dropped_prefix, rec.rows_dropped_duplicate) == (telemetry.height, 0, 0)
    assert_series_equal(tel["t_s"], telemetry["t_s"], abs_tol=1e-9)
    expected_utc = pl.Series(
        [created_at.replace(tzinfo=UTC) + timedelta(seconds=t) for t in telemetry["t_s"].to_list()],
        dtype=pl.Datetime("us", "UTC"),
    )
    assert (tel["utc"].dt.epoch("us") - expected_utc.dt.epoch("us")).abs().max() <= 1  # type: ignore[operator]
    assert_series_equal(tel["lat_deg"], telemetry["lat_deg"], abs_tol=1e-9)
    assert_series_equal(tel["lon_deg"], telemetry["lon_deg"], abs_tol=1e-9)
    for name, dtype in schema.TELEMETRY.items():
        if name in OPTIONAL_CHANNELS:
            if name in telemetry.columns:
                assert_series_equal(tel[name], telemetry[name].cast(dtype), check_exact=True)
            else:
                assert tel[name].null_count() == tel.height
    lat, lon = telemetry["lat_deg"].to_numpy(), telemetry["lon_deg"].to_numpy()
    expected_distance = np.concatenate(([0.0], np.cumsum(haversine_m(lat[:-1], lon[:-1], lat[1:], lon[1:]))))
    np.testing.assert_allclose(tel["distance_m"].to_numpy(), expected_distance, atol=1e-3)
    got = rec.signals.sort("signal_name", "t_s")
    assert_frame_equal(got, signals.sort("signal_name", "t_s").with_columns(t_s=got["t_s"]), check_exact=True)
    assert_series_equal(got["t_s"], signals.sort("signal_name", "t_s")["t_s"], abs_tol=1e-9)
    assert sorted(rec.registry["signal_name"]) == sorted(signals["signal_name"].unique())


def test_gates_round_trip_with_centre_and_heading(tmp_path: Path) -> None:
    racelogic = read_vbo(RUN04)
    gates = [*racelogic.gates, Gate("T5", "split", 43.80, -87.99, 43.8001, -87.9899, heading_deg=None)]
    path = write_vbo(racelogic.telemetry.head(50), tmp_path / "gates.vbo", gates=gates, log_rate_hz=25.0)
    back = read_vbo(path)
    assert back.log_rate_hz == 25.0
    assert [(g.name, g.kind) for g in back.gates] == [("Start / Finish", "start_finish"), ("T5", "split")]
    for original, read in zip(gates, back.gates, strict=True):
        centre = ((original.lat1_deg + original.lat2_deg) / 2, (original.lon1_deg + original.lon2_deg) / 2)
        assert ((read.lat1_deg + read.lat2_deg) / 2, (read.lon1_deg + read.lon2_deg) / 2) == pytest.approx(
            centre, abs=1e-7
        )
    assert back.gates[0].heading_deg == pytest.approx(racelogic.gates[0].heading_deg, abs=1e-4)
    # no heading: the writer picks the normal to the left of point 1 → point 2
    assert back.gates[1].heading_deg is not None


def test_writer_rejects_what_vbo_cannot_hold(tmp_path: Path) -> None:
    telemetry = pl.DataFrame({"t_s": [0.0, 0.1], "lat_deg": [43.0, None], "lon_deg": [-87.0, -87.0]})
    with pytest.raises(ValueError, match="missing values"):
        write_vbo(telemetry, tmp_path / "a.vbo", created_at=datetime(2025, 1, 1, 12))
    with pytest.raises(ValueError, match="utc"):
        write_vbo(telemetry.drop_nulls(), tmp_path / "b.vbo")
    signals = pl.DataFrame({"signal_name": ["Engine Speed"], "t_s": [0.0], "value": [1.0]})
    with pytest.raises(ValueError, match="cannot be a VBO channel"):
        write_vbo(telemetry.head(1), tmp_path / "c.vbo", signals=signals, created_at=datetime(2025, 1, 1, 12))


# ---------------------------------------------------------------------------------------------------
# Corrupted real files
# ---------------------------------------------------------------------------------------------------


def _excerpt(path: Path, lines: int) -> bytes:
    return b"".join(path.read_bytes().splitlines(keepends=True)[:lines])


BASES = [_excerpt(RUN04, 140), RACEBOX.read_bytes(), VBOX2.read_bytes()]

Mutation = tuple[str, float, int, bytes]
MUTATION = st.tuples(
    st.sampled_from(["flip", "delete", "insert", "truncate", "drop_line", "repeat_line"]),
    st.floats(0, 1, exclude_max=True),
    st.integers(0, 255),
    st.binary(min_size=1, max_size=12),
)


def mutate(data: bytes, mutation: Mutation) -> bytes:
    """Flip a byte, delete up to 255 bytes, insert bytes, truncate, drop or repeat a line, at ``where``."""
    kind, where, number, payload = mutation
    at = int(where * len(data))
    lines = data.splitlines(keepends=True)
    k = int(where * len(lines))
    if kind == "flip":
        return data[:at] + bytes([number]) + data[at + 1 :]
    if kind == "delete":
        return data[:at] + data[at + number :]
    if kind == "insert":
        return data[:at] + payload + data[at:]
    if kind == "truncate":
        return data[:at]
    if kind == "drop_line":
        return b"".join(lines[:k] + lines[k + 1 :])
    return b"".join(lines[: k + 1] + lines[k : k + 1] * (number % 4) + lines[k + 1 :])


@settings(max_examples=400, deadline=None)
@given(st.sampled_from(range(len(BASES))), st.lists(MUTATION, min_size=1, max_size=3))
def test_corrupted_files_parse_or_raise_read_error(base: int, mutations: list[Mutation]) -> None:
    data = BASES[base]
    for mutation in mutations:
        data = mutate(data, mutation)
    try:
        rec = parse_vbo(data, name="fuzz.vbo")
    except ReadError as error:
        assert error.path == "fuzz.vbo" and error.reason
        return
    tel = rec.telemetry
    assert tel.schema == pl.Schema(schema.TELEMETRY)
    assert tel["frame_idx"].to_list() == list(range(tel.height))
    assert (
        tel.height
        == rec.rows_in_file - rec.rows_dropped_prefix - rec.rows_dropped_duplicate - rec.truncated_last_line
    )
    assert tel["t_s"].null_count() == 0


@settings(max_examples=150, deadline=None)
@given(st.binary(max_size=400), st.booleans())
def test_arbitrary_bytes_parse_or_raise_read_error(noise: bytes, with_data_section: bool) -> None:
    data = noise + (b"\r\n[data]\r\n" + noise if with_data_section else b"")
    try:
        parse_vbo(data, name="noise.vbo")
    except ReadError as error:
        assert error.path == "noise.vbo"
