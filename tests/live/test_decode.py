"""The vectorised decoder and encoder against cantools on thousands of random frames."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import cantools
import numpy as np
import numpy.typing as npt
import pytest
from cantools.database.can import Database, Message, Signal
from cantools.database.conversion import BaseConversion

from pitwall import DATA_DIR
from pitwall.formats.car import load_car
from pitwall.formats.dbc import load_dbc
from pitwall.live.decode import Decoder, Encoder
from pitwall.live.frames import FrameBatch

PITWALL_DBC = DATA_DIR / "dbc" / "pitwall.dbc"
CAR = DATA_DIR / "cars" / "bmw_e46_m3.yaml"

MUX_DBC = """VERSION ""

NS_ :

BS_:

BU_: ECU LOGGER

BO_ 2566844926 MuxedExt: 8 ECU
 SG_ page M : 0|4@1+ (1,0) [0|15] "" LOGGER
 SG_ sub m1M : 4|4@1+ (1,0) [0|15] "" LOGGER
 SG_ coolant m0 : 8|16@1- (0.1,-40) [-3316.8|3236.7] "degC" LOGGER
 SG_ boost m1 : 15|12@0+ (0.01,0) [0|40.95] "bar" LOGGER
 SG_ lambda_deep m3 : 24|16@1+ (0.001,0) [0|65.535] "" LOGGER
 SG_ always : 56|8@1+ (1,0) [0|255] "" LOGGER

SG_MUL_VAL_ 2566844926 sub page 1-1;
SG_MUL_VAL_ 2566844926 coolant page 0-0;
SG_MUL_VAL_ 2566844926 boost page 1-1;
SG_MUL_VAL_ 2566844926 lambda_deep sub 3-3;
"""
MUX_ID = 0x18FEF1FE  # 2566844926 in the DBC is this 29-bit id with the extended-frame flag (bit 31) set


def _random_dbc(rng: np.random.Generator, n_messages: int) -> Database:
    """Messages filled with random non-overlapping signals: both byte orders, signed and unsigned, odd start
    bits and lengths, odd scales and offsets, a float32, a 64-bit word and a short (5-byte) message."""
    messages = []
    for m in range(n_messages):
        length = 5 if m == 1 else 8
        used = np.zeros(length * 8, bool)
        signals: list[Signal] = []
        if m == 2:  # one whole-word unsigned 64-bit signal
            signals.append(Signal("word64", 0, 64, "little_endian", False, minimum=0, maximum=2**64 - 1))
            used[:] = True
        if m == 3:  # an IEEE float32 at byte 2
            signals.append(Signal("f32", 16, 32, "little_endian", False, minimum=None, maximum=None))
            signals[-1].conversion = BaseConversion.factory(scale=1, offset=0, is_float=True)
            used[16:48] = True
        for attempt in range(400):
            if len(signals) >= 9:
                break
            bits = int(rng.integers(1, 33))
            big = bool(rng.integers(2))
            start = int(rng.integers(0, length * 8))
            if big:
                msb = (7 - start // 8) * 8 + start % 8 - (8 - length) * 8  # in a `length`-byte BE word
                lsb = msb - bits + 1
                if lsb < 0 or msb >= length * 8:
                    continue
                positions = np.arange(lsb, msb + 1)
                phys = (length - 1 - positions // 8) * 8 + positions % 8
            else:
                if start + bits > length * 8:
                    continue
                phys = np.arange(start, start + bits)
            if used[phys].any():
                continue
            used[phys] = True
            signed = bool(rng.integers(2)) and bits > 1
            scale = float(rng.choice([1, 0.5, 0.1, 0.25, 0.01, 3, 1e-7]))
            offset = float(rng.choice([0, -40, 12.5, 1000]))
            lo = -(2 ** (bits - 1)) if signed else 0
            hi = 2 ** (bits - 1) - 1 if signed else 2**bits - 1
            signals.append(
                Signal(
                    f"s{m}_{attempt}",
                    start,
                    bits,
                    "big_endian" if big else "little_endian",
                    signed,
                    conversion=BaseConversion.factory(scale=scale, offset=offset),
                    minimum=min(lo * scale + offset, hi * scale + offset),
                    maximum=max(lo * scale + offset, hi * scale + offset),
                )
            )
        extended = m == 4
        messages.append(
            Message(
                frame_id=(0x1234567 + m) if extended else (0x100 + 7 * m),
                name=f"Random{m}",
                length=length,
                signals=signals,
                is_extended_frame=extended,
                strict=True,
            )
        )
    return Database(messages=messages, strict=True)


def _random_frames(
    rng: np.random.Generator, db: Database, per_message: int, extra_ids: tuple[int, ...] = ()
) -> FrameBatch:
    keys = [(m.frame_id, m.is_extended_frame, m.length) for m in db.messages]
    keys += [(i, False, 8) for i in extra_ids]
    choice = rng.permutation(np.repeat(np.arange(len(keys)), per_message))
    n = choice.size
    return FrameBatch(
        t_s=np.cumsum(rng.uniform(1e-5, 1e-3, n)),
        arbitration_id=np.array([keys[c][0] for c in choice], np.int64),
        is_extended=np.array([keys[c][1] for c in choice], np.bool_),
        dlc=np.array([keys[c][2] for c in choice], np.uint8),
        data=rng.integers(0, 256, (n, 8), dtype=np.uint8),
    )


def _assert_matches_cantools(db: Database, batch: FrameBatch, decoder: Decoder) -> int:
    """Decode with both; every signal's (t, value) series must be identical. Returns the signals compared."""
    decoded = decoder.decode(batch)
    expected: dict[str, tuple[list[float], list[float]]] = {}
    for t, aid, ext, dlc, row in zip(
        batch.t_s, batch.arbitration_id, batch.is_extended, batch.dlc, batch.data, strict=True
    ):
        try:
            message = db.get_message_by_frame_id(int(aid))
        except KeyError:
            continue
        if message.is_extended_frame != bool(ext):
            continue
        decoded_ref: dict[str, Any] = message.decode(bytes(row[: int(dlc)]), decode_choices=False)  # type: ignore[assignment]
        for name, value in decoded_ref.items():
            key = name if name in decoder.signal_keys else f"{message.name}.{name}"
            ts, vs = expected.setdefault(key, ([], []))
            ts.append(float(t))
            vs.append(float(value))
    assert set(decoded) == set(expected)
    for key, (ts, vs) in expected.items():
        np.testing.assert_array_equal(decoded[key][0], np.array(ts), err_msg=key)
        np.testing.assert_array_equal(decoded[key][1], np.array(vs), err_msg=key)
    return len(expected)


SLOT_PATHS = pytest.mark.parametrize("slot_max_frames", [0, 1 << 30], ids=["by-message", "slot-tables"])
"""Both decoding paths: message by message (large batches) and through the slot tables (live-sized reads)."""


@SLOT_PATHS
def test_every_pitwall_signal_matches_cantools_on_random_frames(slot_max_frames: int) -> None:
    db = load_dbc([PITWALL_DBC])
    batch = _random_frames(np.random.default_rng(7), db, per_message=400)
    compared = _assert_matches_cantools(db, batch, Decoder(db, slot_max_frames=slot_max_frames))
    assert compared == sum(len(m.signals) for m in db.messages) == 45


@SLOT_PATHS
def test_random_dbc_big_endian_signed_odd_positions_and_multiplexing_match_cantools(
    tmp_path: Path, slot_max_frames: int
) -> None:
    rng = np.random.default_rng(20240717)
    random_db = _random_dbc(rng, 6)
    (tmp_path / "random.dbc").write_text(random_db.as_dbc_string(), encoding="utf-8")
    (tmp_path / "mux.dbc").write_text(MUX_DBC, encoding="utf-8")
    db = load_dbc([tmp_path / "random.dbc", tmp_path / "mux.dbc"])
    kinds = {(s.byte_order, s.is_signed) for m in db.messages for s in m.signals}
    assert kinds == {
        ("big_endian", True),
        ("big_endian", False),
        ("little_endian", True),
        ("little_endian", False),
    }
    assert any(s.is_float for m in db.messages for s in m.signals)
    batch = _random_frames(rng, db, per_message=700)
    # cantools rejects a frame whose multiplexer value selects nothing: keep page in {0, 1} and, when page 1
    # selects `sub`, sub = 3. With page 0 the sub nibble is random, so `lambda_deep` must vanish even when it
    # reads 3 (nested multiplexing).
    rows = np.flatnonzero(batch.arbitration_id == MUX_ID)
    page = rng.integers(0, 2, rows.size)
    sub = np.where(page == 1, 3, rng.integers(0, 16, rows.size))
    batch.data[rows, 0] = (sub << 4 | page).astype(np.uint8)
    compared = _assert_matches_cantools(db, batch, Decoder(db, slot_max_frames=slot_max_frames))
    assert compared >= 30


def test_multiplexer_value_selecting_nothing_keeps_the_plain_signals(tmp_path: Path) -> None:
    (tmp_path / "mux.dbc").write_text(MUX_DBC, encoding="utf-8")
    db = load_dbc([tmp_path / "mux.dbc"])
    data = np.array(
        [[0x02, 1, 2, 3, 4, 5, 6, 7], [0x51, 1, 2, 3, 4, 5, 6, 7], [0x31, 1, 2, 3, 4, 5, 6, 7]], np.uint8
    )
    batch = FrameBatch(
        t_s=np.array([0.0, 1.0, 2.0]),
        arbitration_id=np.full(3, MUX_ID, np.int64),
        is_extended=np.ones(3, np.bool_),
        dlc=np.full(3, 8, np.uint8),
        data=data,
    )
    out = Decoder(db).decode(batch)
    assert out["page"][1].tolist() == [2, 1, 1]
    assert out["always"][1].tolist() == [7, 7, 7]
    assert out["sub"][0].tolist() == [1.0, 2.0]  # only where page 1 selects it
    assert out["lambda_deep"][0].tolist() == [2.0]  # only where sub is 3
    assert out["boost"][0].tolist() == [1.0, 2.0]
    assert out["coolant"][0].size == 0


def test_unknown_ids_are_counted_and_short_frames_dropped() -> None:
    db = load_dbc([PITWALL_DBC])
    rng = np.random.default_rng(3)
    batch = _random_frames(rng, db, per_message=50, extra_ids=(0x7DF, 0x100))
    dlc = batch.dlc.copy()
    dlc[np.flatnonzero(batch.arbitration_id == 0x420)[:7]] = 6  # seven truncated rpm frames
    truncated = FrameBatch(batch.t_s, batch.arbitration_id, batch.is_extended, dlc, batch.data)
    decoder = Decoder(db)
    out = decoder.decode(truncated)
    assert decoder.frames_total == len(batch)
    assert decoder.unknown_frames == 100
    assert decoder.unknown_ids == {0x7DF: 50, 0x100: 50}
    assert decoder.short_frames == 7
    assert out["rpm"][0].size == 43


def test_decoder_for_a_car_skips_dead_channels_and_checks_the_car_against_the_dbc(tmp_path: Path) -> None:
    db = load_dbc([PITWALL_DBC])
    car = load_car(CAR)
    decoder = Decoder(db, car=car)
    assert "gear" not in decoder.signal_keys
    assert {"rpm", "speed_mph", "gps_lat_deg", "tpms_alarm_rr"} <= set(decoder.signal_keys)
    broken = tmp_path / "car.yaml"
    broken.write_text(CAR.read_text().replace("message: MXP_452_Gps", "message: MXP_452_Position"))
    from pitwall.formats.car import load_car as load

    with pytest.raises(ValueError, match="0x452 is MXP_452_Gps in the DBC, not MXP_452_Position"):
        Decoder(db, car=load(broken))


def test_encoder_matches_cantools_encode() -> None:
    rng = np.random.default_rng(11)
    db = load_dbc([PITWALL_DBC])
    encoder = Encoder(db)
    for message in db.messages:
        n = 200
        physical: dict[str, npt.NDArray[np.float64]] = {}
        for s in message.signals:
            lo = -(2 ** (s.length - 1)) if s.is_signed else 0
            hi = 2 ** (s.length - 1) - 1 if s.is_signed else 2**s.length - 1
            raw = rng.integers(lo, hi, n, endpoint=True)
            physical[s.name] = (raw * s.scale + s.offset).astype(np.float64)
        ours = encoder.encode(message.frame_id, physical)
        for i in range(n):
            ref = message.encode({k: float(v[i]) for k, v in physical.items()}, strict=False)
            assert bytes(ours[i]) == ref, message.name


def test_same_signal_name_in_two_messages_is_qualified(tmp_path: Path) -> None:
    text = PITWALL_DBC.read_text().replace("BO_ 1110 MXP_456_TpmsAlarm", "BO_ 1111 MXP_457_Copy")
    text = text.replace("CM_ BO_ 1110", "CM_ BO_ 1111")
    (tmp_path / "copy.dbc").write_text(text)
    db = load_dbc([PITWALL_DBC, tmp_path / "copy.dbc"])
    keys = Decoder(db).signal_keys
    assert "MXP_456_TpmsAlarm.tpms_alarm_fl" in keys and "MXP_457_Copy.tpms_alarm_fl" in keys
    assert "rpm" in keys
    cantools.database.load_string(text)  # the copy is itself a valid DBC


EDGE_DBC = """VERSION ""

NS_ :

BS_:

BU_: ECU

BO_ 0 Zero: 8 ECU
 SG_ z : 0|16@1- (0.5,-3) [-16387|16380.5] "" ECU

BO_ 291 Motorola: 8 ECU
 SG_ a : 7|12@0- (0.1,0) [-204.8|204.7] "" ECU
 SG_ b : 11|20@0+ (1,0) [0|1048575] "" ECU
 SG_ c : 39|32@0+ (0.001,5) [5|4294972.295] "" ECU
"""
BAD_IDS = (-1, -5, 0x800, 0x7FF)
"""11-bit frames no message has: negative and past-the-table ids among them."""


@SLOT_PATHS
@pytest.mark.parametrize("db_name", ["edge", "pitwall"])
def test_out_of_range_ids_are_unknown_and_big_dlcs_full_on_every_lookup(
    tmp_path: Path, slot_max_frames: int, db_name: str
) -> None:
    """Negative and past-the-table 11-bit ids are unknown whether or not a message has the id 0 (the lookup
    differs), DLCs past 8 mean 8 bytes, any integer DLC dtype works, and a message of big-endian signals
    only matches cantools."""
    (tmp_path / "edge.dbc").write_text(EDGE_DBC, encoding="utf-8")
    db = load_dbc([tmp_path / "edge.dbc"] if db_name == "edge" else [PITWALL_DBC])
    batch = _random_frames(np.random.default_rng(5), db, per_message=60, extra_ids=BAD_IDS)
    for dlc in (batch.dlc, np.where(np.arange(len(batch)) % 3 == 0, 15, 8).astype(np.uint8)):
        for dtype in (np.uint8, np.int64):
            frames = FrameBatch(
                batch.t_s, batch.arbitration_id, batch.is_extended, dlc.astype(dtype), batch.data
            )
            decoder = Decoder(db, slot_max_frames=slot_max_frames)
            _assert_matches_cantools(db, frames, decoder)
            assert decoder.unknown_frames == 60 * len(BAD_IDS)
            assert decoder.unknown_ids == dict.fromkeys(BAD_IDS, 60)
            assert decoder.short_frames == 0
