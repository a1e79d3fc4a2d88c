"""DuckDB inserts a frame shorter than a row group in slices, inside the caller's transaction: every row, in
order, whatever the frame's length against the slice and the row group."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import duckdb
import polars as pl
import pytest

from pitwall.store.duckdb import INSERT_SLICE_ROWS, ROW_GROUP_ROWS, DuckDBStore, _insert_slices

from .frames import session_import, telemetry

LENGTHS = [
    0,
    1,
    INSERT_SLICE_ROWS - 1,
    INSERT_SLICE_ROWS,
    INSERT_SLICE_ROWS + 1,
    ROW_GROUP_ROWS - 1,
    ROW_GROUP_ROWS,
]


@pytest.mark.parametrize("rows", LENGTHS)
def test_slices_are_the_frame_in_order(rows: int) -> None:
    frame = pl.DataFrame({"i": range(rows)})
    slices = list(_insert_slices(frame))
    assert pl.concat([frame.clear(), *slices]).equals(frame)
    if rows < ROW_GROUP_ROWS:
        assert all(0 < part.height <= INSERT_SLICE_ROWS for part in slices)
    else:
        assert len(slices) == 1  # a row group or more: one statement, which writes full row groups to disk


@pytest.mark.parametrize("rows", [INSERT_SLICE_ROWS + 1, ROW_GROUP_ROWS - 1])
def test_sliced_telemetry_is_stored_whole_and_in_frame_order(tmp_path: Path, rows: int) -> None:
    path = tmp_path / "pitwall.duckdb"
    store = DuckDBStore(path)
    try:
        store.import_session(replace(session_import(), telemetry=telemetry(rows)))
        stored = store.read_telemetry("ra-fp1", columns=["frame_idx", "t_s"])
    finally:
        store.close()
    assert stored["frame_idx"].to_list() == list(range(rows))
    assert stored["t_s"].equals(telemetry(rows)["t_s"])
    with duckdb.connect(str(path)) as con:  # stored in the order written: the export reads pages unsorted
        assert con.sql("SELECT frame_idx FROM telemetry").pl()["frame_idx"].to_list() == list(range(rows))


def test_columns_chunked_differently_are_stored_as_they_are(tmp_path: Path) -> None:
    """An imported frame's CSV columns come in the reader's chunks and its computed ones in one: the insert hands
    DuckDB each column's own chunks (no copy into aligned batches) and every row is stored, in order."""
    rows = INSERT_SLICE_ROWS + 5
    frame = telemetry(rows)
    chunked = frame.with_columns(
        pl.concat([frame["speed_kph"].slice(0, 7), frame["speed_kph"].slice(7)], rechunk=False),
        pl.concat([frame["rpm"].slice(0, 3000), frame["rpm"].slice(3000)], rechunk=False),
    )
    assert chunked["speed_kph"].n_chunks() == 2 and chunked["t_s"].n_chunks() == 1
    store = DuckDBStore(tmp_path / "pitwall.duckdb")
    try:
        store.import_session(replace(session_import(), telemetry=chunked))
        stored = store.read_telemetry("ra-fp1", columns=["t_s", "speed_kph", "rpm"])
    finally:
        store.close()
    assert stored.equals(frame.select("t_s", "speed_kph", "rpm"))
