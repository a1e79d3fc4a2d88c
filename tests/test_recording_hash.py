"""The import's idempotency key: :func:`pitwall.importer.recording_hash` of a recording is the value it has
always had (databases hold these hashes; a new value would import the same file twice) and does not depend on
the order of the tall rows."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import polars as pl
import pytest

from pitwall.formats.detect import read_recording
from pitwall.importer import NAME_BLOCK_ROWS, _row_names_utf8, recording_hash
from pitwall.schema import SignalChannels
from tests.api.conftest import RACECHRONO_LAP9, RUN01, SAMPLES

GOLDEN = {
    RUN01: "956ee973c05f1f47de2a646eb19b6cf1b5784949aaa00af260acce8451c3be5f",
    RACECHRONO_LAP9: "a6dc15a425f57e857a514e21ba1291f3cf5fb95b3ac3a2dc8d5c769d05362587",
    SAMPLES / "racebox-sample.vbo": "8d81522e5f11ba8d4c25785783a7be9cf988c62a1a8f0816f879a88f0d27103c",
}
"""Hashes computed by the importer before its tall rows were hashed without a sorted copy (2026-12-05)."""

TALL_ROWS_GOLDEN = {
    **GOLDEN,
    SAMPLES
    / "25IR05_RdAm_FP1_Run04_KO.vbo": "7f815a594e1f92871761b2ab7be97badec7087b694fc33dab5308a456a22aa3f",
    SAMPLES
    / "25IR05_RdAm_FP1_Run05_TL.vbo": "88263a59ab2677e5794caa2843a5970542a97d33f5dd22a7871e86c4d328bfc7",
    SAMPLES / "rc_mk2_test.log": "db32928e0b7fc6fe072913451fb673699995b498dfe69540b2ca3afca654fc9a",
    SAMPLES / "session_20251231_111959_tianma_lap13_v3.csv": (
        "f9b54479f931bf0204ad96fd13fb19867f00ed3a6b7b6816933020d2b8a3d8cd"
    ),
    SAMPLES / "sloth-at-lemans.gpx": "83198250d302a818819c1c15a1157c9d8b9a974277ebc4a2f9035686c47c7989",
    SAMPLES
    / "vbox2-user-guide-sample.vbo": "0fdb1a1f2cf5726be49004499e6efdb9d85dbde1685f256103512f5509725b4f",
}
"""Every readable sample's hash as the importer computed it from the readers' tall rows, before the readers
kept their tall channels wide (:class:`pitwall.schema.SignalChannels`; 2026-12-06)."""


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
