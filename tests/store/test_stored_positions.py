"""Track positions stored by the import: a view of an imported session reuses them while the track is unchanged
and positions the samples again when it changes (a moved start line re-bases ``s_m``); either way the numbers
are those of positioning the samples afresh."""

from __future__ import annotations

import numpy as np
import pytest

from pitwall.analysis.position import add_track_position, line_fingerprint
from pitwall.formats.track import TrackLibrary
from pitwall.learned_tracks import with_start_at
from pitwall.session_view import SessionView
from pitwall.store import Store


def test_imported_positions_are_stored_reused_and_renewed(
    imported_run04: tuple[Store, str, TrackLibrary],
) -> None:
    store, sid, library = imported_run04
    row = store.get_session(sid)
    frames = store.read_telemetry(sid)
    track = library.get("road-america")
    assert row.meta["positioned_on"] == line_fingerprint(track)
    fresh = add_track_position(frames.drop("s_m", "offset_m").lazy(), track).collect()
    assert frames["s_m"].null_count() < frames.height  # stored, not left for the view
    for column in ("s_m", "offset_m"):
        assert frames[column].to_list() == pytest.approx(fresh[column].to_list(), nan_ok=True)
    view = SessionView.from_frames(row, frames, library, None)
    moved = with_start_at(
        track, float(track.reference_line.lat_deg[500]), float(track.reference_line.lon_deg[500])
    )
    assert line_fingerprint(moved) != line_fingerprint(track)

    class Moved:
        def get(self, track_id: str) -> object:
            return moved

    renewed = SessionView.from_frames(row, frames, Moved(), None)  # type: ignore[arg-type]
    before = view.telemetry.collect()["s_m"].to_numpy()
    after = renewed.telemetry.collect()["s_m"].to_numpy()
    again = add_track_position(frames.lazy(), moved).collect()["s_m"].to_numpy()
    assert np.allclose(after, again, equal_nan=True)  # positioned on the moved line, not the stored one
    assert not np.allclose(before, after, equal_nan=True)
    assert renewed.laps.height > 0
