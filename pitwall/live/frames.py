"""``FrameBatch``: a block of classic CAN frames as parallel numpy arrays (the decoder's input).

Payloads are stored zero-padded in an ``(n, 8)`` uint8 array so the decoder can view each row as one 64-bit
word. Classic CAN only: payload bytes beyond the 8th (CAN FD) are dropped and ``dlc`` is capped at 8.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import can
import numpy as np
import numpy.typing as npt
import polars as pl
import pyarrow as pa

from pitwall.formats.canlog import CAN_LOG_SCHEMA, binary_series

PAYLOAD_BYTES = 8


@dataclass(frozen=True, eq=False)
class FrameBatch:
    """``n`` CAN frames: timestamps (s), identifiers, id width, data length and zero-padded payloads."""

    t_s: npt.NDArray[np.float64]
    arbitration_id: npt.NDArray[np.int64]
    is_extended: npt.NDArray[np.bool_]
    dlc: npt.NDArray[np.uint8]
    data: npt.NDArray[np.uint8]  # shape (n, 8), C-contiguous

    def __post_init__(self) -> None:
        n = self.t_s.shape[0]
        if self.data.shape != (n, PAYLOAD_BYTES) or not self.data.flags.c_contiguous:
            raise ValueError(f"data must be a C-contiguous ({n}, {PAYLOAD_BYTES}) uint8 array")
        for name in ("arbitration_id", "is_extended", "dlc"):
            if getattr(self, name).shape != (n,):
                raise ValueError(f"{name} must have shape ({n},)")

    def __len__(self) -> int:
        return int(self.t_s.shape[0])

    @classmethod
    def empty(cls) -> FrameBatch:
        return cls(
            t_s=np.empty(0, np.float64),
            arbitration_id=np.empty(0, np.int64),
            is_extended=np.empty(0, np.bool_),
            dlc=np.empty(0, np.uint8),
            data=np.empty((0, PAYLOAD_BYTES), np.uint8),
        )

    @classmethod
    def from_messages(cls, messages: Sequence[can.Message]) -> FrameBatch:
        """Build from python-can messages (remote and error frames are skipped: they carry no signal data)."""
        msgs = [m for m in messages if not (m.is_remote_frame or m.is_error_frame)]
        if not msgs:
            return cls.empty()
        payload = b"".join(bytes(m.data[:PAYLOAD_BYTES]).ljust(PAYLOAD_BYTES, b"\0") for m in msgs)
        return cls(
            t_s=np.fromiter((m.timestamp for m in msgs), np.float64, len(msgs)),
            arbitration_id=np.fromiter((m.arbitration_id for m in msgs), np.int64, len(msgs)),
            is_extended=np.fromiter((m.is_extended_id for m in msgs), np.bool_, len(msgs)),
            dlc=np.fromiter((min(len(m.data), PAYLOAD_BYTES) for m in msgs), np.uint8, len(msgs)),
            data=np.frombuffer(payload, np.uint8).reshape(len(msgs), PAYLOAD_BYTES).copy(),
        )

    @classmethod
    def from_frame(cls, df: pl.DataFrame) -> FrameBatch:
        """Build from a CAN-log frame with the :data:`CAN_LOG_SCHEMA` columns (vectorised, no Python loop)."""
        n = df.height
        if n == 0:
            return cls.empty()
        chunk = df.get_column("data").cast(pl.Binary).to_arrow()
        arr = chunk.combine_chunks() if isinstance(chunk, pa.ChunkedArray) else chunk
        arr = arr.cast(pa.large_binary())
        validity, offsets_buf, values_buf = arr.buffers()
        offsets = np.frombuffer(offsets_buf, np.int64)[arr.offset : arr.offset + n + 1]
        values = np.frombuffer(values_buf, np.uint8) if values_buf is not None else np.empty(0, np.uint8)
        lengths = np.diff(offsets)
        if validity is not None:
            lengths = np.where(arr.is_null().to_numpy(zero_copy_only=False), 0, lengths)
        take = np.minimum(lengths, PAYLOAD_BYTES)
        rows = np.repeat(np.arange(n), take)
        cols = np.arange(int(take.sum())) - np.repeat(np.cumsum(take) - take, take)
        data = np.zeros((n, PAYLOAD_BYTES), np.uint8)
        data[rows, cols] = values[np.repeat(offsets[:-1], take) + cols]
        return cls(
            t_s=df.get_column("t_s").cast(pl.Float64).to_numpy().astype(np.float64, copy=True),
            arbitration_id=df.get_column("arbitration_id")
            .cast(pl.Int64)
            .to_numpy()
            .astype(np.int64, copy=True),
            is_extended=df.get_column("is_extended").cast(pl.Boolean).to_numpy().astype(np.bool_, copy=True),
            dlc=take.astype(np.uint8),
            data=data,
        )

    def to_frame(self) -> pl.DataFrame:
        """The batch as a CAN-log frame (:data:`CAN_LOG_SCHEMA`), payloads cut to ``dlc`` bytes."""
        dlc = np.minimum(self.dlc, PAYLOAD_BYTES).astype(np.int64)
        keep = np.arange(PAYLOAD_BYTES)[None, :] < dlc[:, None]
        payload = binary_series("data", dlc, self.data[keep])
        return pl.DataFrame(
            {
                "t_s": self.t_s,
                "arbitration_id": self.arbitration_id,
                "is_extended": self.is_extended,
                "dlc": self.dlc.astype(np.int8),
                "data": payload,
            },
            schema=CAN_LOG_SCHEMA,
        )

    def to_messages(self, *, channel: str | None = None) -> list[can.Message]:
        """The frames as python-can messages (timestamps kept)."""
        return [
            can.Message(
                timestamp=float(t),
                arbitration_id=int(i),
                is_extended_id=bool(x),
                dlc=int(d),
                data=bytes(row[: int(d)]),
                channel=channel,
            )
            for t, i, x, d, row in zip(
                self.t_s, self.arbitration_id, self.is_extended, self.dlc, self.data, strict=True
            )
        ]

    def take(self, index: npt.NDArray[np.intp] | npt.NDArray[np.bool_] | slice) -> FrameBatch:
        """The frames at ``index`` (integer positions, a boolean mask or a slice)."""
        return FrameBatch(
            t_s=self.t_s[index],
            arbitration_id=self.arbitration_id[index],
            is_extended=self.is_extended[index],
            dlc=self.dlc[index],
            data=np.ascontiguousarray(self.data[index]),
        )
