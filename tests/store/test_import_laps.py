"""The laps an import stores are sliced from the rows it handed the store, with the values the store keeps
(:func:`pitwall.store.prepare`), not from the rows read back: the same laps either way, on both backends."""

from __future__ import annotations

from polars.testing import assert_frame_equal

from pitwall.analysis.laps import LAP_COLUMNS
from pitwall.formats.track import TrackLibrary
from pitwall.session_view import session_laps
from pitwall.store import Store


def test_imported_laps_are_those_of_the_rows_read_back(
    imported_run04: tuple[Store, str, TrackLibrary],
) -> None:
    store, sid, library = imported_run04
    imported = store.list_laps(session_id=sid, limit=1_000)
    assert imported.height > 2
    rows = store.read_telemetry(sid, columns=["session_id", *LAP_COLUMNS])
    store.replace_laps(sid, session_laps(rows, library.get("road-america"), store.get_session(sid).meta))
    assert_frame_equal(store.list_laps(session_id=sid, limit=1_000), imported)
