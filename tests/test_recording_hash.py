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
from numpy._core._multiarray_umath import __cpu_features__ as NUMPY_CPU_FEATURES

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
from pitwall.schema import SignalChannels
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

TALL_ROWS_GOLDEN = {
    **GOLDEN,
    SAMPLES
    / "25IR05_RdAm_FP1_Run04_KO.vbo": "8dfedbaf455025b291b5a3f923117d93a35e558598ff019395bf616936b26640",
    SAMPLES
    / "25IR05_RdAm_FP1_Run05_TL.vbo": "5cc3899a6e64b4333207c4b852c65f69676c83e546f3bf6d0e77fc8b141f1944",
    SAMPLES / "rc_mk2_test.log": "3b9de23224c858865fb7ad2f9b1870c52b5f032f436945a8ac1d144845844a18",
    SAMPLES / "session_20251231_111959_tianma_lap13_v3.csv": (
        "72330c06b2df943978b20308e8523d502f91c03aa5a6bc6ca977dd8c1db93191"
    ),
    SAMPLES / "sloth-at-lemans.gpx": "159fd078fe1993f24bc85118591e4531f1b2d8ebbc52796878ac33746b0a173b",
    SAMPLES
    / "vbox2-user-guide-sample.vbo": "b5bbd994ae1e8bc739c99405b71bfa5469ca6b080a89199869c4d5e779cdff9d",
}
"""Every readable sample's hash as the importer computes it from the readers' tall rows (``main`` before the
readers kept their tall channels wide, :class:`pitwall.schema.SignalChannels`; 2026-12-06)."""

LEGACY_GOLDEN = {
    RUN01: "956ee973c05f1f47de2a646eb19b6cf1b5784949aaa00af260acce8451c3be5f",
    RACECHRONO_LAP9: "a6dc15a425f57e857a514e21ba1291f3cf5fb95b3ac3a2dc8d5c769d05362587",
    SAMPLES / "racebox-sample.vbo": "8d81522e5f11ba8d4c25785783a7be9cf988c62a1a8f0816f879a88f0d27103c",
    SAMPLES
    / "25IR05_RdAm_FP1_Run04_KO.vbo": "7f815a594e1f92871761b2ab7be97badec7087b694fc33dab5308a456a22aa3f",
    SAMPLES / "rc_mk2_test.log": "db32928e0b7fc6fe072913451fb673699995b498dfe69540b2ca3afca654fc9a",
    SAMPLES / "sloth-at-lemans.gpx": "83198250d302a818819c1c15a1157c9d8b9a974277ebc4a2f9035686c47c7989",
}
"""The hashes databases stored before migration 6 (with the distance as it was then computed), as an AVX2
machine computed them (2026-12-05): numpy takes other trigonometry kernels where it finds AVX-512."""


@pytest.mark.parametrize("path", list(GOLDEN), ids=lambda p: p.name)
def test_a_recording_hashes_as_it_always_did_in_any_row_order(path: Path) -> None:
    recording = read_recording(path.read_bytes(), name=str(path))
    assert recording.signals.height > 0  # the tall rows take part
    assert recording_hash(recording) == GOLDEN[path]
    shuffled = recording.signals.sample(fraction=1.0, shuffle=True, seed=7)
    assert not shuffled.equals(recording.signals)
    assert recording_hash(dataclasses.replace(recording, sink=shuffled)) == GOLDEN[path]
    changed = recording.signals.with_columns(value=recording.signals["value"] + 1e-9)
    assert recording_hash(dataclasses.replace(recording, sink=changed)) != GOLDEN[path]


@pytest.mark.parametrize("path", list(TALL_ROWS_GOLDEN), ids=lambda p: p.name)
def test_a_readers_channels_hash_as_their_tall_rows_did(path: Path) -> None:
    recording = read_recording(path.read_bytes(), name=str(path))
    assert isinstance(recording.sink, SignalChannels)
    assert recording_hash(recording) == TALL_ROWS_GOLDEN[path]
    assert recording_hash(dataclasses.replace(recording, sink=recording.signals)) == TALL_ROWS_GOLDEN[path]


@pytest.mark.parametrize(
    "sizes", [[1], [0, 3], [NAME_BLOCK_ROWS], [NAME_BLOCK_ROWS + 1, 0, 2 * NAME_BLOCK_ROWS + 5]]
)
def test_the_row_names_are_hashed_as_one_nul_joined_text_in_small_pieces(sizes: list[int]) -> None:
    runs = [(f"chan_{i}_é", pl.DataFrame({"t_s": [0.0] * n})) for i, n in enumerate(sizes)]
    pieces = list(_row_names_utf8(runs))
    assert b"".join(pieces) == "\x00".join(name for name, rows in runs for _ in range(rows.height)).encode()
    assert max(len(piece) for piece in pieces) <= NAME_BLOCK_ROWS * len(b"\x00chan_0_\xc3\xa9")


@pytest.mark.parametrize("path", list(GOLDEN), ids=lambda p: p.name)
def test_the_computed_distance_takes_no_part_and_the_legacy_hash_recomputes_its_own(path: Path) -> None:
    recording = read_recording(path.read_bytes(), name=str(path))
    telemetry = recording.telemetry
    other = dataclasses.replace(  # the distance a CPU with other trigonometry kernels might compute
        recording, telemetry=telemetry.with_columns(distance_m=telemetry["distance_m"] * (1 + 2**-52))
    )
    assert not other.telemetry["distance_m"].equals(telemetry["distance_m"])
    assert recording_hash(other) == recording_hash(recording) == GOLDEN[path]
    # the legacy hash takes in the distance the readers computed then, from the positions, not the column
    assert recording_hash(other, legacy=True) == recording_hash(recording, legacy=True) != GOLDEN[path]
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


@pytest.mark.skipif(
    bool(NUMPY_CPU_FEATURES.get("AVX512_SKX")), reason="numpy's AVX-512 trigonometry gave other legacy hashes"
)
@pytest.mark.parametrize("path", list(LEGACY_GOLDEN), ids=lambda p: p.name)
def test_the_legacy_hash_is_what_databases_stored_before_migration_6(path: Path) -> None:
    recording = read_recording(path.read_bytes(), name=str(path))
    assert recording_hash(recording, legacy=True) == LEGACY_GOLDEN[path]
