"""CanReader: virtual bus, an slcan adapter on a pseudo-terminal that is unplugged and replugged, log replay."""

from __future__ import annotations

import os
import time
import uuid
from collections.abc import Callable
from pathlib import Path

import can
import numpy as np
import polars as pl
import pytest

from pitwall import DATA_DIR
from pitwall.formats.car import load_car
from pitwall.formats.dbc import load_dbc
from pitwall.live.batches import WideBatcher, WideWindow
from pitwall.live.can_reader import CanReader
from pitwall.live.decode import Decoder
from tests.live import wait_for

CAR = load_car(DATA_DIR / "cars" / "bmw_e46_m3.yaml")
DB = load_dbc([DATA_DIR / "dbc" / "pitwall.dbc"])


def _reader(
    interface: str, channel: str, on_window: Callable[[WideWindow], None], **kwargs: object
) -> CanReader:
    return CanReader(
        interface=interface,
        channel=channel,
        bitrate=1_000_000,
        decoder=Decoder(DB, car=CAR),
        batcher=WideBatcher(CAR),
        on_window=on_window,
        **kwargs,  # type: ignore[arg-type]
    )


def _rpm_frame(rpm: int) -> bytes:
    return int(rpm).to_bytes(2, "little") + bytes(6)


class PtyAdapter:
    """A CANable-style slcan adapter behind a pseudo-terminal, reachable through a stable symlink (as udev
    gives /dev/serial/by-id/...). Speaks the slcan ASCII protocol python-can's ``slcan`` driver reads."""

    def __init__(self, link: Path) -> None:
        self.master, slave = os.openpty()
        tmp = link.with_suffix(".new")
        tmp.symlink_to(os.ttyname(slave))
        os.replace(tmp, link)
        os.close(slave)

    def send(self, frame_id: int, payload: bytes) -> None:
        os.write(self.master, f"t{frame_id:03X}{len(payload)}{payload.hex().upper()}\r".encode())

    def unplug(self) -> None:
        os.close(self.master)


def test_virtual_bus_decodes_counts_unknown_ids_and_survives_a_failing_consumer() -> None:
    channel = f"vbus-{uuid.uuid4().hex}"
    windows: list[WideWindow] = []

    def consume(window: WideWindow) -> None:
        windows.append(window)
        if len(windows) == 1:
            raise RuntimeError("subscriber exploded")

    reader = _reader("virtual", channel, consume)
    reader.start()
    assert reader.wait_connected(5.0)
    t0 = time.time()
    with can.Bus(interface="virtual", channel=channel, preserve_timestamps=True) as bus:
        for i in range(100):
            bus.send(
                can.Message(
                    timestamp=t0 + i * 0.02,
                    arbitration_id=0x420,
                    is_extended_id=False,
                    data=_rpm_frame(1000 + i),
                )
            )
            if i % 10 == 0:
                bus.send(
                    can.Message(
                        timestamp=t0 + i * 0.02 + 0.001,
                        arbitration_id=0x7E8,
                        is_extended_id=False,
                        data=bytes(8),
                    )
                )
        bus.send(
            can.Message(
                timestamp=t0 + 2.5, arbitration_id=0x420, is_extended_id=False, data=_rpm_frame(5000)[:4]
            )
        )
    assert wait_for(lambda: reader.frames_total == 111)
    reader.stop()
    stats = reader.stats()
    assert stats["unknown_frames"] == 10 and stats["short_frames"] == 1
    assert reader.decoder.unknown_ids == {0x7E8: 10}
    assert stats["last_error"] == "on_window: RuntimeError: subscriber exploded"
    wide = pl.concat([w.wide for w in windows])
    assert wide["rpm"].to_list() == [float(1000 + i) for i in range(100)]  # the reader kept going
    assert wide["utc"][0].timestamp() == pytest.approx(t0, abs=1e-6)
    assert set(stats) >= {
        "interface",
        "channel",
        "bitrate",
        "connected",
        "fps",
        "frames_total",
        "unknown_frames",
        "last_error",
    }


def test_slcan_adapter_unplugged_and_replugged_reconnects_with_backoff(tmp_path: Path) -> None:
    link = tmp_path / "ttyACM0"
    adapter = PtyAdapter(link)
    windows: list[WideWindow] = []
    reader = _reader(
        "slcan",
        str(link),
        windows.append,
        backoff_initial_s=0.05,
        backoff_max_s=0.2,
        bus_kwargs={"sleep_after_open": 0},
    )
    reader.start()
    try:
        assert reader.wait_connected(5.0)
        for i in range(50):
            adapter.send(0x420, _rpm_frame(2000 + i))
        assert wait_for(lambda: reader.frames_total == 50)

        adapter.unplug()
        assert wait_for(lambda: not reader.connected and reader.last_error is not None)
        time.sleep(0.4)  # several reopen attempts fail while the adapter is away
        assert not reader.connected and reader.connects == 1 and reader.running

        adapter = PtyAdapter(link)
        assert wait_for(lambda: reader.connected and reader.connects == 2)
        for i in range(30):
            adapter.send(0x420, _rpm_frame(3000 + i))
        assert wait_for(lambda: reader.frames_total == 80)
    finally:
        reader.stop()
        adapter.unplug()
    rpm = pl.concat([w.wide for w in windows])["rpm"].to_list()
    assert rpm == [float(2000 + i) for i in range(50)] + [float(3000 + i) for i in range(30)]


def test_unopenable_adapter_keeps_retrying_and_stops_promptly(tmp_path: Path) -> None:
    reader = _reader(
        "slcan", str(tmp_path / "no-such-tty"), lambda w: None, backoff_initial_s=0.02, backoff_max_s=0.05
    )
    reader.start()
    assert wait_for(lambda: reader.last_error is not None)
    time.sleep(0.2)
    assert reader.running and not reader.connected and reader.connects == 0
    started = time.monotonic()
    reader.stop()
    assert time.monotonic() - started < 1.0 and not reader.running


def test_replaying_a_real_capture_counts_every_frame_as_unknown() -> None:
    """The FSAE PE3 capture has no DBC: every data frame is counted as unknown, none is fatal."""
    reader = _reader(
        "canlog", str(DATA_DIR / "samples" / "fsae-pe3-ecu-capture.csv"), lambda w: None, replay_speed=0
    )
    reader.start()
    assert wait_for(lambda: not reader.running, 20.0)
    stats = reader.stats()
    assert reader.finished and stats["frames_total"] == 49_442 and stats["unknown_frames"] == 49_442
    assert reader.decoder.unknown_ids == {
        0x0CFFF048: 10866, 0x0CFFF148: 10865, 0x0CFFF248: 5433, 0x0CFFF348: 5433,
        0x0CFFF448: 5434, 0x0CFFF548: 544, 0x0CFFFB48: 5434, 0x0CFFFC48: 5433,
    }  # fmt: skip


def test_paced_replay_follows_the_log_clock(tmp_path: Path) -> None:
    from pitwall.formats.canlog import write_can_log
    from pitwall.live.frames import FrameBatch

    n = 40  # 0.8 s of 0x420 at 50 Hz, replayed at 2x: ≈ 0.4 s
    batch = FrameBatch(
        t_s=100.0 + np.arange(n, dtype=np.float64) * 0.02,
        arbitration_id=np.full(n, 0x420, np.int64),
        is_extended=np.zeros(n, np.bool_),
        dlc=np.full(n, 8, np.uint8),
        data=np.frombuffer(b"".join(_rpm_frame(4000 + i) for i in range(n)), np.uint8).reshape(n, 8).copy(),
    )
    log = tmp_path / "short.log"
    write_can_log(batch.to_frame(), log)
    windows: list[WideWindow] = []
    reader = _reader("canlog", str(log), windows.append, replay_speed=2.0)
    started = time.monotonic()
    reader.start()
    assert wait_for(lambda: not reader.running, 5.0)
    assert 0.3 < time.monotonic() - started < 1.5
    assert pl.concat([w.wide for w in windows])["rpm"].to_list() == [float(4000 + i) for i in range(n)]


def test_unreadable_log_is_reported_not_retried(tmp_path: Path) -> None:
    bad = tmp_path / "bad.log"
    bad.write_text("this is not candump\n")
    reader = _reader("canlog", str(bad), lambda w: None)
    reader.start()
    assert wait_for(lambda: not reader.running)
    assert reader.last_error is not None and "not a candump -L line" in reader.last_error
