"""Wide telemetry, tall signals and video frames: canonical dtypes in and out, appends, filters (both backends)."""

from __future__ import annotations

import math
import threading

import polars as pl
import pytest
from polars.testing import assert_frame_equal

from pitwall import schema
from pitwall.store import Store, prepare

from .frames import session_import, session_row, stored_telemetry, telemetry


def test_read_telemetry_round_trips_canonical_dtypes(store: Store) -> None:
    store.import_session(session_import())
    got = store.read_telemetry("ra-fp1")
    assert got.schema == pl.Schema(schema.TELEMETRY)
    assert_frame_equal(got, stored_telemetry("ra-fp1", telemetry()))
    assert store.get_session("ra-fp1").n_frames == telemetry().height


def test_read_telemetry_columns_and_time_window(store: Store) -> None:
    store.import_session(session_import())
    got = store.read_telemetry("ra-fp1", columns=["speed_kph", "t_s", "utc"], t_from=0.3, t_to=0.5)
    expected = stored_telemetry("ra-fp1", telemetry()).filter(pl.col("t_s").is_between(0.3, 0.5))
    assert_frame_equal(got, expected.select("speed_kph", "t_s", "utc"))
    assert got.height == 3
    with pytest.raises(ValueError, match="unknown telemetry columns"):
        store.read_telemetry("ra-fp1", columns=["speed"])


def test_unknown_session_reads_empty_frames(store: Store) -> None:
    assert store.read_telemetry("nope").schema == pl.Schema(schema.TELEMETRY)
    assert store.read_telemetry("nope").is_empty()
    assert store.read_signals("nope").schema == pl.Schema(schema.TELEMETRY_SIGNALS)
    assert store.count_telemetry("nope") == 0


def test_append_telemetry_continues_frame_idx_and_accepts_subsets(store: Store) -> None:
    store.create_session(session_row())
    first = store.append_telemetry("ra-fp1", telemetry(4))
    assert first.to_list() == [0, 1, 2, 3]
    subset = pl.DataFrame({"t_s": [0.4, 0.5], "speed_kph": [99.0, 98.0], "frame_idx": [0, 0]})
    assert store.append_telemetry("ra-fp1", subset).to_list() == [4, 5]
    assert store.append_telemetry("ra-fp1", pl.DataFrame()).to_list() == []

    got = store.read_telemetry("ra-fp1")
    assert got["frame_idx"].to_list() == list(range(6))
    tail = got.filter(pl.col("frame_idx") >= 4)
    assert tail["speed_kph"].to_list() == [99.0, 98.0]
    given = {"session_id", "frame_idx", "t_s", "speed_kph"}
    assert all(tail[name].null_count() == 2 for name in schema.TELEMETRY if name not in given)
    assert store.get_session("ra-fp1").n_frames == 6


def test_append_telemetry_rejects_bad_frames_and_writes_nothing(store: Store) -> None:
    store.create_session(session_row())
    with pytest.raises(ValueError, match="unknown columns"):
        store.append_telemetry("ra-fp1", pl.DataFrame({"t_s": [0.0], "oil_temp_c": [90.0]}))
    with pytest.raises(ValueError, match="t_s must be set"):
        store.append_telemetry("ra-fp1", pl.DataFrame({"speed_kph": [10.0]}))
    with pytest.raises(ValueError, match="canonical dtypes"):
        store.append_telemetry("ra-fp1", pl.DataFrame({"t_s": [0.0], "gear": ["third"]}))
    assert store.count_telemetry("ra-fp1") == 0
    assert store.get_session("ra-fp1").n_frames == 0


def test_append_telemetry_with_signals_is_one_transaction(store: Store) -> None:
    store.create_session(session_row())
    tall = pl.DataFrame({"signal_name": ["oil_p_bar", "oil_p_bar"], "t_s": [0.0, 0.1], "value": [3.1, 3.2]})
    assert store.append_telemetry("ra-fp1", telemetry(2), signals=tall).to_list() == [0, 1]
    assert store.read_signals("ra-fp1")["value"].to_list() == [3.1, 3.2]
    assert "oil_p_bar" in store.list_registry()["signal_name"].to_list()
    # a bad tall row takes the telemetry of the same call with it: nothing half-written
    with pytest.raises(ValueError, match="signal_name must be set"):
        store.append_telemetry("ra-fp1", telemetry(3), signals=pl.DataFrame({"t_s": [0.2], "value": [1.0]}))
    assert store.count_telemetry("ra-fp1") == 2 and store.get_session("ra-fp1").n_frames == 2
    assert store.read_signals("ra-fp1").height == 2


def test_nan_is_stored_as_null_on_both_backends(store: Store) -> None:
    store.create_session(session_row())
    store.append_telemetry("ra-fp1", pl.DataFrame({"t_s": [0.0, 0.1], "rpm": [math.nan, 5000.0]}))
    assert store.read_telemetry("ra-fp1", columns=["rpm"])["rpm"].to_list() == [None, 5000.0]


def test_prepare_gives_the_values_reading_back_gives(store: Store) -> None:
    """What :func:`pitwall.store.prepare` makes of frames is what the store gives back for them (NaN and
    -0.0 normalised, a missing column null), so rows just written need not be read back."""
    store.create_session(session_row())
    frames = pl.DataFrame(
        {"t_s": [0.0, 0.1, 0.2, 0.3], "lon_deg": [-0.0, float("nan"), None, -87.9], "speed_kph": [0, 1, 2, 3]}
    )
    store.append_telemetry("ra-fp1", frames)
    columns = ["session_id", "t_s", "lon_deg", "speed_kph", "heading_deg"]
    expected = store.read_telemetry("ra-fp1", columns=columns)
    got = prepare(frames.with_columns(session_id=pl.lit("ra-fp1")), {c: schema.TELEMETRY[c] for c in columns})
    assert_frame_equal(got, expected, check_exact=True)
    assert math.copysign(1.0, got["lon_deg"][0]) == 1.0


def test_prepare_keeps_clean_float_columns_without_a_copy() -> None:
    """A float column prepare would not change (no NaN, no -0.0; +0.0 and nulls allowed) is the caller's own
    buffer; one holding NaN or -0.0 is normalised as ever."""
    frames = pl.DataFrame(
        {
            "t_s": [0.0, 0.1, 0.2],
            "g_lat": [0.5, None, -0.25],
            "lon_deg": [-87.9, -0.0, -87.8],
            "alt_m": [1.0, float("nan"), 2.0],
        }
    )
    got = prepare(frames, {name: schema.TELEMETRY[name] for name in frames.columns})
    for kept in ("t_s", "g_lat"):  # the same values buffer (Arrow exports it without a copy)
        assert got[kept].to_arrow().buffers()[1].address == frames[kept].to_arrow().buffers()[1].address
    assert got["lon_deg"].to_list() == [-87.9, 0.0, -87.8]
    assert math.copysign(1.0, got["lon_deg"][1]) == 1.0
    assert got["alt_m"].to_list() == [1.0, None, 2.0]


def test_concurrent_appends_from_threads_get_unique_contiguous_frame_idx(store: Store) -> None:
    store.create_session(session_row())
    errors: list[BaseException] = []

    def ingest(offset: float) -> None:
        try:
            for i in range(20):
                batch = pl.DataFrame(
                    {"t_s": [offset + i + k / 10 for k in range(10)], "speed_kph": [offset] * 10}
                )
                store.append_telemetry("ra-fp1", batch)
                store.read_telemetry("ra-fp1", columns=["frame_idx"])
        except BaseException as exc:  # surfaced below: a thread's failure must fail the test
            errors.append(exc)

    threads = [threading.Thread(target=ingest, args=(1000.0 * k,)) for k in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    got = store.read_telemetry("ra-fp1", columns=["frame_idx", "speed_kph"])
    assert got["frame_idx"].to_list() == list(range(800))
    assert got.group_by("speed_kph").len()["len"].to_list() == [200] * 4
    assert store.get_session("ra-fp1").n_frames == 800


def test_signals_append_read_and_auto_register(store: Store) -> None:
    store.create_session(session_row())
    rows = pl.DataFrame(
        {
            "signal_name": ["tyre_fl_c", "tyre_fl_c", "oil_p_bar"],
            "t_s": [1.0, 0.5, 0.2],
            "value": [80.0, 79.0, None],
        }
    )
    assert store.append_signals("ra-fp1", rows) == 3
    got = store.read_signals("ra-fp1")
    assert got.schema == pl.Schema(schema.TELEMETRY_SIGNALS)
    assert got.rows() == [
        ("ra-fp1", "oil_p_bar", 0.2, None),
        ("ra-fp1", "tyre_fl_c", 0.5, 79.0),
        ("ra-fp1", "tyre_fl_c", 1.0, 80.0),
    ]
    assert store.read_signals("ra-fp1", ["tyre_fl_c"]).height == 2
    assert store.read_signals("ra-fp1", []).is_empty()
    registry = store.list_registry().filter(pl.col("signal_name").is_in(["tyre_fl_c", "oil_p_bar"]))
    assert registry.select("signal_name", "unit", "source").rows() == [
        ("oil_p_bar", "", "api"),
        ("tyre_fl_c", "", "api"),
    ]
    with pytest.raises(ValueError, match="signal_name, t_s must be set"):
        store.append_signals("ra-fp1", pl.DataFrame({"value": [1.0]}))


def test_signal_names_of_any_length_and_script_round_trip(store: Store) -> None:
    """Names shorter and longer than an Arrow string view's 12 inline bytes, and not ASCII, come back as given
    (the DuckDB backend inserts text as string views)."""
    store.create_session(session_row())
    names = ["a", "exactly_12_b", "a_name_longer_than_twelve_bytes", "Öltemperatur_°C", "油温"]
    rows = pl.DataFrame({"signal_name": names, "t_s": [0.0] * len(names), "value": [1.0] * len(names)})
    store.append_signals("ra-fp1", rows)
    assert sorted(store.read_signals("ra-fp1")["signal_name"].to_list()) == sorted(names)


def test_video_frames(store: Store) -> None:
    store.create_session(session_row())
    rows = pl.DataFrame(
        {"t_s": [0.04, 0.0], "video_file": ["a.mp4", "a.mp4"], "video_t_ms": [40, 0], "frame_no": [1, 0]}
    )
    assert store.append_video_frames("ra-fp1", rows) == 2
    got = store.read_video_frames("ra-fp1")
    assert got.schema == pl.Schema(schema.VIDEO_FRAMES)
    assert got["frame_no"].to_list() == [0, 1]
