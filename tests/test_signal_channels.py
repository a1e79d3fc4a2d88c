"""A reader's tall channels (:class:`pitwall.schema.SignalChannels`) stand for their tall rows: the same rows in
the same order, the same runs, and the importer refuses the same first implausible sample."""

from __future__ import annotations

import dataclasses
import math
from pathlib import Path

import polars as pl
import pytest
from polars.testing import assert_frame_equal

from pitwall.formats.detect import read_recording
from pitwall.formats.errors import ReadError
from pitwall.importer import refuse_bad_values
from pitwall.schema import SIGNALS_SCHEMA, SignalChannels, signal_runs
from tests.api.conftest import RACECAPTURE, RACECHRONO_LAP9, RUN04

SAMPLES = [RUN04, RACECAPTURE, RACECHRONO_LAP9]  # RaceCapture's channels have gaps


def _channels(path: Path) -> SignalChannels:
    sink = read_recording(path.read_bytes(), name=str(path)).sink
    assert isinstance(sink, SignalChannels)
    return sink


@pytest.mark.parametrize("path", SAMPLES, ids=lambda p: p.name)
def test_channels_give_each_channels_samples_in_row_order(path: Path) -> None:
    channels = _channels(path)
    rows = channels.rows()
    assert rows.schema == pl.Schema(SIGNALS_SCHEMA)
    samples = dict(channels.samples())
    assert list(samples) == [
        name for name in channels.values.columns if channels.values[name].null_count() < len(channels.t_s)
    ]
    assert list(samples) == channels.names()
    assert rows.height == sum(part.height for part in samples.values())
    by_channel = pl.concat(
        part.select(signal_name=pl.lit(name), t_s="t_s", value="value") for name, part in samples.items()
    )
    assert_frame_equal(rows, by_channel)  # channel by channel, in row order
    for name, part in samples.items():
        assert_frame_equal(part, rows.filter(pl.col("signal_name") == name).drop("signal_name"))
        expected = pl.DataFrame({"t_s": channels.t_s, "value": channels.values[name]}).drop_nulls("value")
        assert_frame_equal(part, expected)


@pytest.mark.parametrize("path", SAMPLES, ids=lambda p: p.name)
@pytest.mark.parametrize("backwards", [False, True], ids=["in-order", "time-reversed"])
def test_channels_run_as_their_tall_rows(path: Path, backwards: bool) -> None:
    channels = _channels(path)
    if backwards:  # times out of order: runs from the sorted rows
        channels = SignalChannels(channels.t_s.reverse(), channels.values.reverse())
    expected = signal_runs(channels.rows())
    got = signal_runs(channels)
    assert [name for name, _ in got] == [name for name, _ in expected]
    for (_, rows), (_, want) in zip(got, expected, strict=True):
        assert_frame_equal(rows.select("t_s", "value"), want.select("t_s", "value"))


@pytest.mark.parametrize("channel", [0, 3])
def test_the_first_implausible_sample_is_refused_as_from_the_tall_rows(channel: int) -> None:
    recording = read_recording(RACECAPTURE.read_bytes(), name=str(RACECAPTURE))
    channels = recording.sink
    assert isinstance(channels, SignalChannels)
    name = channels.names()[channel]
    sampled = channels.values[name].is_not_null().arg_true()
    values = channels.values.with_columns(
        pl.when(pl.int_range(pl.len()).is_in([sampled[5], sampled[9]]))
        .then(math.inf)
        .otherwise(pl.col(name))
        .alias(name)
    )
    broken = dataclasses.replace(recording, sink=SignalChannels(channels.t_s, values))
    refusals = []
    for sink in (broken.sink, broken.signals):
        with pytest.raises(ReadError) as refused:
            refuse_bad_values(dataclasses.replace(broken, sink=sink))
        refusals.append(str(refused.value))
    assert refusals[0] == refusals[1]
    assert f"channel {name} = inf at t = {channels.t_s[sampled[5]]} s" in refusals[0]
