"""CAN log reading/writing against python-can's own readers and writers, and the real FSAE capture."""

from __future__ import annotations

from pathlib import Path

import can
import numpy as np
import polars as pl
import pytest

from pitwall import DATA_DIR
from pitwall.formats.canlog import CAN_LOG_SCHEMA, read_can_log, write_can_log
from pitwall.formats.errors import ReadError
from pitwall.live.frames import FrameBatch

FSAE = DATA_DIR / "samples" / "fsae-pe3-ecu-capture.csv"


def _assert_same_frames(a: FrameBatch, b: FrameBatch, *, t_tol: float = 0.0) -> None:
    assert len(a) == len(b)
    for name in ("arbitration_id", "is_extended", "dlc", "data"):
        np.testing.assert_array_equal(getattr(a, name), getattr(b, name), err_msg=name)
    np.testing.assert_allclose(a.t_s, b.t_s, rtol=0, atol=t_tol)


def _messages(n: int, seed: int = 5) -> list[can.Message]:
    rng = np.random.default_rng(seed)
    out = []
    t = 1_721_152_433.0
    for _ in range(n):
        t += float(rng.uniform(1e-4, 5e-3))
        ext = bool(rng.integers(2))
        dlc = int(rng.integers(0, 9))
        out.append(
            can.Message(
                timestamp=round(t, 6),
                arbitration_id=int(rng.integers(0, 0x1FFFFFFF if ext else 0x7FF)),
                is_extended_id=ext,
                data=bytes(rng.integers(0, 256, dlc, dtype=np.uint8)),
                channel=0,
            )
        )
    return out


def test_reads_the_real_fsae_capture_like_python_can() -> None:
    df = read_can_log(FSAE)
    assert df.schema == pl.Schema(CAN_LOG_SCHEMA)
    reference = list(can.CSVReader(FSAE))
    assert len(reference) == 49_446
    assert sum(m.is_error_frame for m in reference) == 4  # four bus-error frames carry no data: skipped
    assert df.height == 49_442
    _assert_same_frames(FrameBatch.from_frame(df), FrameBatch.from_messages(reference))
    ids = df.get_column("arbitration_id").to_numpy()
    assert ids.min() == 0x0CFFF048 and ids.max() == 0x0CFFFC48 and df.get_column("is_extended").all()
    t = df.get_column("t_s").to_numpy()
    assert t.max() - t.min() == pytest.approx(548, abs=1)


@pytest.mark.parametrize("suffix", [".log", ".asc", ".csv"])
def test_reads_what_python_can_writes(tmp_path: Path, suffix: str) -> None:
    messages = _messages(3000)
    path = tmp_path / f"capture{suffix}"
    with can.Logger(path) as logger:
        for msg in messages:
            logger(msg)
    ours = FrameBatch.from_frame(read_can_log(path))
    theirs = FrameBatch.from_messages(list(can.LogReader(path)))
    _assert_same_frames(ours, theirs)
    expected = FrameBatch.from_messages(messages)
    if suffix == ".asc":  # ASC times are relative to the first frame
        expected = FrameBatch(
            expected.t_s - expected.t_s[0],
            *(getattr(expected, f) for f in ("arbitration_id", "is_extended", "dlc", "data")),
        )
    _assert_same_frames(ours, expected, t_tol=2e-6)


@pytest.mark.parametrize("suffix", [".log", ".csv"])
def test_python_can_reads_what_we_write_and_append_continues_the_file(tmp_path: Path, suffix: str) -> None:
    frames = FrameBatch.from_messages(_messages(2000, seed=9))
    path = tmp_path / f"out{suffix}"
    write_can_log(frames.take(slice(0, 1200)).to_frame(), path)
    write_can_log(frames.take(slice(1200, None)).to_frame(), path, append=True)
    _assert_same_frames(FrameBatch.from_messages(list(can.LogReader(path))), frames, t_tol=1e-6)
    _assert_same_frames(FrameBatch.from_frame(read_can_log(path)), frames, t_tol=1e-6)


def test_asc_in_decimal_base_with_events_and_remote_frames(tmp_path: Path) -> None:
    path = tmp_path / "dec.asc"
    path.write_text(
        "date Wed Jul 17 10:00:00.000 am 2024\n"
        "base dec  timestamps absolute\n"
        "internal events logged\n"
        "Begin Triggerblock Wed Jul 17 10:00:00.000 am 2024\n"
        "   0.000000 Start of measurement\n"
        "   0.010000 1  1056            Rx   d 8 43 26 172 3 0 0 12 3\n"
        "   0.020000 1  Statistic: D 0 R 0 XD 0 XR 0 E 0 O 0 B 0.00%\n"
        "   0.030000 1  217056256x      Rx   d 3 1 2 255\n"
        "   0.040000 1  1057            Rx   r 8\n"
        "   0.050000 2  1106            Tx   d 8 0 0 0 0 0 0 0 0  Length = 0 BitCount = 0 ID = 1106\n"
        "End TriggerBlock\n"
    )
    ours = FrameBatch.from_frame(read_can_log(path))
    theirs = FrameBatch.from_messages(list(can.ASCReader(path, relative_timestamp=True)))
    _assert_same_frames(ours, theirs, t_tol=1e-9)
    assert ours.arbitration_id.tolist() == [1056, 217056256, 1106]
    assert ours.data[0].tolist() == [43, 26, 172, 3, 0, 0, 12, 3]


@pytest.mark.parametrize(
    ("name", "text", "line", "message"),
    [
        ("bad.log", "(1.0) can0 420#0102\n\n1.1 can0 420 01 02\n", 3, "not a candump -L line"),
        ("hex.log", "(1.0) can0 420#0102\n(1.1) can0 420#01Z2\n", 2, "payload must be 0-8 bytes"),
        ("fd.log", "(1.0) can0 420#0102\n(1.1) can0 420##1AABB\n", 2, "CAN FD frame"),
        ("long.log", "(1.0) can0 420#010203040506070809\n", 1, "payload must be 0-8 bytes"),
        ("odd.log", "(1.0) can0 420#010\n", 1, "payload must be 0-8 bytes"),
        ("hdr.csv", "time,id,data\n1,0x1,AA==\n", 1, "not a python-can CSV"),
        (
            "b64.csv",
            "timestamp,arbitration_id,extended,remote,error,dlc,data\n1.0,0x420,0,0,0,2,AQI=\n1.1,0x420,0,0,0,2,!!\n",
            3,
            "not valid base64",
        ),
        (
            "id.csv",
            "timestamp,arbitration_id,extended,remote,error,dlc,data\n1.0,0xZZ,0,0,0,2,AQI=\n",
            2,
            "bad arbitration_id",
        ),
        (
            "flag.csv",
            "timestamp,arbitration_id,extended,remote,error,dlc,data\n1.0,0x1,2,0,0,2,AQI=\n",
            2,
            "must be 0 or 1",
        ),
        ("nohdr.asc", "   0.01 1  420  Rx   d 8 01 02 03 04 05 06 07 08\n", 1, "no 'base hex|dec' header"),
        (
            "short.asc",
            "base hex  timestamps absolute\n   0.01 1  420  Rx   d 8 01 02 03\n",
            2,
            "fewer data bytes",
        ),
        (
            "fd.asc",
            "base hex  timestamps absolute\n   0.01 1  420  Rx   d C 01 02 03\n",
            2,
            "DLC must be 0-8",
        ),
    ],
)
def test_bad_logs_are_read_errors_with_file_and_line(
    tmp_path: Path, name: str, text: str, line: int, message: str
) -> None:
    path = tmp_path / name
    path.write_text(text)
    with pytest.raises(ReadError, match=message) as info:
        read_can_log(path)
    assert info.value.path == str(path)
    assert info.value.line == line


def test_other_read_errors(tmp_path: Path) -> None:
    with pytest.raises(ReadError, match=r"unknown CAN log type '\.blf'"):
        read_can_log(tmp_path / "x.blf")
    with pytest.raises(ReadError, match="CAN log not found"):
        read_can_log(tmp_path / "missing.log")
    (tmp_path / "empty.log").write_text("\n\n")
    with pytest.raises(ReadError, match="no CAN data frames"):
        read_can_log(tmp_path / "empty.log")
    (tmp_path / "bin.log").write_bytes(b"(1.0) can0 420#01\n\xff\xfe\n")
    with pytest.raises(ReadError, match="invalid UTF-8") as info:
        read_can_log(tmp_path / "bin.log")
    assert info.value.line == 2
    with pytest.raises(ValueError, match=r"can only write \.log or \.csv"):
        write_can_log(read_can_log(FSAE).head(3), tmp_path / "out.asc")
