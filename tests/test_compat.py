"""The alias table (data/compat/frame_aliases.yaml) and the pure conversions of :mod:`pitwall.compat`."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import polars as pl
import pytest

from pitwall import schema
from pitwall.api.schemas import INGEST_COLUMNS
from pitwall.compat import AliasError, default_aliases, load_aliases, rebase_epoch, split_frames, stream_exprs


def test_the_bundled_table_covers_the_original_wide_frame() -> None:
    table = default_aliases()
    original = [
        "timestamp",
        "distance",
        "speed",
        "lat",
        "lon",
        "heading",
        "altitude",
        "g_lat",
        "g_long",
        "combo_g",
        "brake_pressure",
        "brake_position",
        "throttle",
        "steering",
        "rpm",
        "coolant_temp",
        "oil_temp",
        "fuel_level",
        "avitime",
        "lap",
        "lap_time",
        "distance_to_corner",
        "corner_name",
        "corner_severity",
    ]
    assert sorted(table.frame) == sorted(original)
    assert table.frame["speed"].column == "speed_kph" and table.frame["speed"].scale == 3.6
    assert all(a.column in schema.TELEMETRY for a in table.frame.values() if a.column is not None)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("frame: {speed: {column: speed_mps}}", "not a canonical column"),
        ("frame: {speed: {column: speed_kph, signal: speed}}", "exactly one of"),
        ("stream: {speed: nope}", "stream.speed"),
    ],
)
def test_a_bad_table_is_refused_naming_the_entry(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "aliases.yaml"
    path.write_text(text)
    with pytest.raises(ValueError, match=message):
        load_aliases(path)


def test_split_converts_aliases_keeps_canonical_names_and_sinks_unknown_numbers() -> None:
    frames = [
        {
            "timestamp": 1.0,
            "speed": 10.0,
            "speed_kph": 99.0,
            "Boost_bar": 1.2,
            "corner_name": "T1",
            "tag": "x",
        },
        {"t_s": 2.0, "throttle": 55, "frame_idx": 7, "flag": True, "oil_temp": None},
    ]
    split = split_frames(frames, INGEST_COLUMNS, default_aliases())
    assert split.wide == [{"speed_kph": 99.0, "t_s": 1.0}, {"t_s": 2.0, "throttle_pct": 55}]
    assert split.tall == [("Boost_bar", 0, 1.2)]
    assert split.ignored == ["corner_name", "flag", "frame_idx", "tag"]
    with pytest.raises(AliasError, match="frame 0: speed"):
        split_frames([{"t_s": 0.0, "speed": "fast"}], INGEST_COLUMNS, default_aliases())


def test_epoch_frames_are_rebased_and_stream_keys_invert_the_conversion() -> None:
    start = datetime(2026, 5, 26, 17, 0, tzinfo=UTC)
    wide = pl.DataFrame({"t_s": [start.timestamp() + 0.25, 3.0], "speed_kph": [36.0, 72.0], "lap": [1, 2]})
    rebased = rebase_epoch(wide, start)
    assert rebased["t_s"].to_list() == [0.25, 3.0]
    assert rebased["utc"].to_list() == [datetime(2026, 5, 26, 17, 0, 0, 250_000, tzinfo=UTC), None]
    out = schema.conform(rebased, schema.TELEMETRY).with_columns(stream_exprs(default_aliases()))
    assert out["speed"].to_list() == pytest.approx([10.0, 20.0]) and out["lap_number"].to_list() == [1, 2]
    assert out["timestamp"].to_list() == [0.25, 3.0] and out["combo_g"].to_list() == [None, None]
