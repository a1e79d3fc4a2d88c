"""The import's idempotency key: :func:`pitwall.importer.recording_hash` of a recording is the value it has
had since migration 6 (databases hold these hashes; a new value would import the same file twice), on any
machine — it takes in the logged samples only, not the distance numpy's CPU-dependent trigonometry computes —
and does not depend on the order of the tall rows. Sessions stored with the older hash (which took in the
distance) are recognised by it on re-import, a clock-repaired file included, and given the current one."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import polars as pl
import pytest

from pipelines.import_vbo import FileOutcome, import_into_store
from pitwall import schema
from pitwall.formats.detect import read_recording
from pitwall.importer import (
    NAME_BLOCK_ROWS,
    _row_names_utf8,
    import_vbo_file,
    parse_for_import,
    recording_hash,
)
from pitwall.store._sql_store import SqlStore
from pitwall.store.migrations import migrate
from tests.api.conftest import BACKENDS, RACECHRONO_LAP9, RUN01, RUN04, SAMPLES
from tests.conftest import new_store
from tests.test_clock_faults import FAULT_ROW, shifted_clock

GOLDEN = {
    RUN01: "67bd76379ff011bce11e38c10253a762566091f2225b93eafb80a697a42af5d6",
    RACECHRONO_LAP9: "96e6ed9074c41ea5989fc0f812a8f8b60b9290c92c21fbc05b8dd5180158d133",
    SAMPLES / "racebox-sample.vbo": "b02728194882a92cda142fba25be49c4855fff23be59454d39acba54c443dda4",
}
"""Hashes of the logged samples (migration 6, 2026-12-06)."""


@pytest.mark.parametrize("path", list(GOLDEN), ids=lambda p: p.name)
def test_a_recording_hashes_as_it_always_did_in_any_row_order(path: Path) -> None:
    recording = read_recording(path.read_bytes(), name=str(path))
    assert recording.signals.height > 0  # the tall rows take part
    assert recording_hash(recording) == GOLDEN[path]
    shuffled = recording.signals.sample(fraction=1.0, shuffle=True, seed=7)
    assert not shuffled.equals(recording.signals)
    assert recording_hash(dataclasses.replace(recording, signals=shuffled)) == GOLDEN[path]
    changed = recording.signals.with_columns(value=recording.signals["value"] + 1e-9)
    assert recording_hash(dataclasses.replace(recording, signals=changed)) != GOLDEN[path]


@pytest.mark.parametrize(
    "sizes", [[1], [0, 3], [NAME_BLOCK_ROWS], [NAME_BLOCK_ROWS + 1, 0, 2 * NAME_BLOCK_ROWS + 5]]
)
def test_the_row_names_are_hashed_as_one_nul_joined_text_in_small_pieces(sizes: list[int]) -> None:
    runs = [(f"chan_{i}_é", pl.DataFrame({"t_s": [0.0] * n})) for i, n in enumerate(sizes)]
    pieces = list(_row_names_utf8(runs))
    assert b"".join(pieces) == "\x00".join(name for name, rows in runs for _ in range(rows.height)).encode()
    assert max(len(piece) for piece in pieces) <= NAME_BLOCK_ROWS * len(b"\x00chan_0_\xc3\xa9")


@pytest.mark.parametrize("path", list(GOLDEN), ids=lambda p: p.name)
def test_the_computed_columns_take_no_part_but_did_in_the_legacy_hash(path: Path) -> None:
    recording = read_recording(path.read_bytes(), name=str(path))
    telemetry = recording.telemetry
    other = dataclasses.replace(  # the distance a CPU with other trigonometry kernels might compute
        recording, telemetry=telemetry.with_columns(distance_m=telemetry["distance_m"] * (1 + 2**-52))
    )
    assert not other.telemetry["distance_m"].equals(telemetry["distance_m"])
    assert recording_hash(other) == recording_hash(recording) == GOLDEN[path]
    assert recording_hash(other, legacy=True) != recording_hash(recording, legacy=True) != GOLDEN[path]
    logged = next(
        name
        for name in schema.TELEMETRY
        if name not in schema.COMPUTED_TELEMETRY
        and name != "session_id"
        and telemetry[name].null_count() < telemetry.height
    )
    changed = dataclasses.replace(recording, telemetry=telemetry.with_columns(pl.col(logged).reverse()))
    assert recording_hash(changed) != GOLDEN[path]  # a logged column does


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("jobs", [0, 2], ids=["importer", "bulk-2-workers"])
def test_a_session_stored_with_the_legacy_hash_is_skipped_on_reimport_and_rehashed(
    tmp_path: Path, backend: str, jobs: int
) -> None:
    """A version-5 database whose session carries the legacy hash of a file with a clock fault (the hash is of
    the samples as logged, before the repair): migration 6 marks it; importing the file again — by the
    importer, or by the bulk pipeline parsing in worker processes — skips it as that session and stores the
    current hash; another file is still imported."""
    vbo = shifted_clock(RUN04, tmp_path / "faulty.vbo", from_row=FAULT_ROW, step_s=-17.0)
    logged = read_recording(vbo.read_bytes(), name=str(vbo))
    legacy = recording_hash(logged, legacy=True)
    assert legacy != recording_hash(parse_for_import(vbo).recording, legacy=True)  # repaired: another hash
    store = new_store(tmp_path, backend)
    assert isinstance(store, SqlStore)
    try:
        first = import_vbo_file(store, vbo, library=None)
        assert first.status == "imported" and first.clock_repairs == 1
        with store._write() as db:  # back to version 5, the session hashed as it was then
            db.execute("UPDATE sessions SET content_hash = ?", (legacy,))
            db.execute("DELETE FROM schema_version WHERE version >= 6")
        assert not store.holds_legacy_hashes()
        assert migrate(store._write) == 6
        assert store.holds_legacy_hashes()
        assert store.get_session(first.session_id).content_hash == "v1:" + legacy
        if jobs:
            outcomes: list[FileOutcome] = []
            import_into_store(
                store, [RUN01, vbo], library=None, driver="", jobs=jobs, on_outcome=outcomes.append
            )
            other, again = ((o.status, o.session_id) for o in outcomes)
        else:
            other, again = (
                (r.status, r.session_id)
                for r in (import_vbo_file(store, p, library=None) for p in (RUN01, vbo))
            )
        assert other[0] == "imported" and other[1] != first.session_id
        assert again == ("skipped", first.session_id)
        assert store.get_session(first.session_id).content_hash == recording_hash(logged)
        assert not store.holds_legacy_hashes()
        assert store.list_sessions().height == 2
        assert import_vbo_file(store, vbo, library=None).status == "skipped"  # now by the current hash
    finally:
        store.close()
