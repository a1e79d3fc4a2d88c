"""Vectorised DBC decoding (and its inverse, encoding) of classic CAN frames with numpy.

cantools loads the DBC; this module precomputes, per message, how to pull each signal out of the 8 payload
bytes viewed as one 64-bit word: little-endian (Intel) signals from the word read little-endian, big-endian
(Motorola) signals from the word read big-endian, then shift, mask, sign-extend (two's complement) or
reinterpret as IEEE float, and scale/offset: ``value = raw * scale + offset`` in float64, exactly as cantools
computes it. Multiplexed signals are returned only for frames whose multiplexer selects them (signals that do
not depend on a multiplexer are decoded even when its value selects nothing, where cantools rejects the frame).
A batch is grouped by message with a table lookup (11-bit ids) or a binary search (29-bit ids) and one O(n)
stable sort, so the per-frame cost is a few numpy operations.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
from cantools.database.can import Database, Message, Signal

from pitwall.formats.car import CarConfig
from pitwall.live.frames import PAYLOAD_BYTES, FrameBatch

FloatArray = npt.NDArray[np.float64]
U64Array = npt.NDArray[np.uint64]

Decoded = dict[str, tuple[FloatArray, FloatArray]]
"""Per signal key: ``(t_s, values)`` arrays of equal length, in frame order."""

_ALL_ONES = np.uint64(0xFFFF_FFFF_FFFF_FFFF)
STD_IDS = 0x800
"""Number of 11-bit identifiers."""
_LE_WORD = np.dtype("<u8")
SLOT_MAX_FRAMES = 4096
"""Batches up to this many frames decode through the slot tables (a dozen numpy calls per batch: the live path
reads ~160 frames at a time); larger ones message by message, signal by signal (fewer operations per frame)."""


def frame_key(
    arbitration_id: int | npt.NDArray[np.int64], is_extended: bool | npt.NDArray[np.bool_]
) -> npt.NDArray[np.int64]:
    """One int64 per (identifier, id width): 29-bit extended and 11-bit standard ids never collide."""
    return np.asarray(arbitration_id, np.int64) + (np.asarray(is_extended, np.int64) << 32)


@dataclass(frozen=True)
class SignalPlan:
    """How to extract one signal from a payload word (see the module docstring)."""

    key: str  # name in the decoder output
    signal: str  # DBC signal name
    big_endian: bool
    shift: int
    length: int
    signed: bool
    float_bits: int  # 0 = integer signal, 32 / 64 = IEEE float
    scale: float
    offset: float
    minimum_raw: int
    maximum_raw: int
    mux_signal: str | None  # DBC name of the multiplexer selecting this signal
    mux_ids: tuple[int, ...]

    @property
    def mask(self) -> np.uint64:
        return _ALL_ONES if self.length == 64 else np.uint64((1 << self.length) - 1)

    def raw(self, word: U64Array) -> U64Array:
        """The unsigned raw bits of the signal for each payload word."""
        return (word >> np.uint64(self.shift)) & self.mask

    def scaled(self, raw: U64Array) -> FloatArray:
        """Raw bits → physical value (float64)."""
        if self.float_bits == 32:
            value = raw.astype(np.uint32).view(np.float32).astype(np.float64)
        elif self.float_bits == 64:
            value = raw.view(np.float64)
        elif self.signed:
            spare = np.uint64(64 - self.length)
            value = ((raw << spare).view(np.int64) >> spare.astype(np.int64)).astype(np.float64)
        else:
            value = raw.astype(np.float64)
        return value * self.scale + self.offset

    def to_raw(self, values: FloatArray) -> U64Array:
        """Physical value → raw bits (rounded half-to-even like cantools, clipped to the field)."""
        if self.float_bits == 32:
            return values.astype(np.float32).view(np.uint32).astype(np.uint64)
        if self.float_bits == 64:
            return np.ascontiguousarray(values, np.float64).view(np.uint64)
        raw = np.rint((values - self.offset) / self.scale)
        raw = np.clip(raw, self.minimum_raw, self.maximum_raw)
        return raw.astype(np.int64).view(np.uint64) & self.mask


def _plan(signal: Signal, key: str) -> SignalPlan:
    if signal.byte_order == "little_endian":
        big, shift = False, int(signal.start)
    else:
        msb = (7 - signal.start // 8) * 8 + signal.start % 8
        big, shift = True, msb - signal.length + 1
    if shift < 0 or shift + signal.length > 64:
        raise ValueError(f"signal {signal.name} does not fit in 8 bytes")
    float_bits = signal.length if signal.is_float else 0
    if signal.is_float and signal.length not in (32, 64):
        raise ValueError(f"float signal {signal.name} must be 32 or 64 bits")
    lo = -(1 << (signal.length - 1)) if signal.is_signed else 0
    hi = (1 << (signal.length - 1)) - 1 if signal.is_signed else (1 << signal.length) - 1
    return SignalPlan(
        key=key,
        signal=signal.name,
        big_endian=big,
        shift=shift,
        length=int(signal.length),
        signed=bool(signal.is_signed),
        float_bits=float_bits,
        scale=float(signal.scale),
        offset=float(signal.offset),
        minimum_raw=lo,
        maximum_raw=hi,
        mux_signal=signal.multiplexer_signal,
        mux_ids=tuple(signal.multiplexer_ids or ()),
    )


@dataclass(frozen=True)
class MessagePlan:
    frame_id: int
    is_extended: bool
    name: str
    length: int
    signals: tuple[SignalPlan, ...]
    muxers: tuple[SignalPlan, ...]  # multiplexer signals needed to select signals (also in ``signals``
    # when decoded)

    @property
    def key(self) -> int:
        return int(frame_key(self.frame_id, self.is_extended))


def _message_plan(message: Message, keys: Mapping[str, str], wanted: set[str] | None) -> MessagePlan:
    if message.length > PAYLOAD_BYTES:
        raise ValueError(
            f"message {message.name} is {message.length} bytes: only classic CAN (<= 8) is supported"
        )
    by_name = {s.name: s for s in message.signals}
    chosen = [s for s in message.signals if wanted is None or s.name in wanted]
    needed_muxers: dict[str, Signal] = {}
    todo = [s for s in chosen if s.multiplexer_signal]
    while todo:
        mux = by_name[todo.pop().multiplexer_signal]  # type: ignore[index]
        if mux.name not in needed_muxers:
            needed_muxers[mux.name] = mux
            if mux.multiplexer_signal:
                todo.append(mux)
    return MessagePlan(
        frame_id=int(message.frame_id),
        is_extended=bool(message.is_extended_frame),
        name=message.name,
        length=int(message.length),
        signals=tuple(_plan(s, keys[s.name]) for s in chosen),
        muxers=tuple(_plan(s, keys[s.name]) for s in needed_muxers.values()),
    )


def _slot_fits(sig: SignalPlan) -> bool:
    """Integer signals whose raw bits are exact as int64 (all but unsigned 64-bit ones)."""
    return sig.float_bits == 0 and (sig.signed or sig.length < 64)


@dataclass(frozen=True)
class _SlotTables:
    """Every integer signal of every non-multiplexed message as one slot of a ``(6, slots, messages + 1)`` table,
    so a whole batch decodes in a dozen numpy operations whatever its mix of messages: per frame, gather its
    message's column of shifts, masks, sign bits, byte orders, scales and offsets (one gather), and compute
    every slot at once (messages with multiplexers, float or unsigned 64-bit signals are decoded signal by signal
    instead; the extra column is for unknown frames and decodes to zeros that nobody reads)."""

    fast: npt.NDArray[np.bool_]  # per message: decoded through the tables
    keys: tuple[tuple[str, ...], ...]  # per message: the output key of each slot
    length: npt.NDArray[np.int64]  # per message (+ unknown): payload bytes the frame must carry
    table: U64Array  # (6, slots, messages + 1): shift; mask; 64 - length for signed signals (else 0); all
    # ones where the big-endian word is read (else 0); the bits of the float64 scale; those of the offset

    @classmethod
    def of(cls, plans: list[MessagePlan]) -> _SlotTables:
        fast = np.array([not p.muxers and all(_slot_fits(s) for s in p.signals) for p in plans], np.bool_)
        slots = max([len(p.signals) for p, f in zip(plans, fast, strict=True) if f] or [0])
        table = np.zeros((6, slots, len(plans) + 1), np.uint64)
        for m, plan in enumerate(plans):
            for j, sig in enumerate(plan.signals if fast[m] else ()):
                big = _ALL_ONES if sig.big_endian else np.uint64(0)
                linear = np.array([sig.scale, sig.offset], np.float64).view(np.uint64)
                table[:, j, m] = (sig.shift, sig.mask, 64 - sig.length if sig.signed else 0, big, *linear)
        keys = tuple(tuple(s.key for s in p.signals) for p in plans)
        length = np.array([p.length for p in plans] + [0], np.int64)
        return cls(fast, keys, length, table)

    def values(self, code: npt.NDArray[np.int16], le: U64Array, be: U64Array) -> FloatArray:
        """``(slots, frames)`` physical values of frames whose message indices are ``code``; row ``j`` of a
        message's frames is its ``j``-th signal (exactly :meth:`SignalPlan.scaled` of :meth:`SignalPlan.raw`)."""
        shift, mask, spare, big, scale, offset = self.table[:, :, code]
        raw = ((le ^ ((le ^ be) & big)) >> shift) & mask  # the big-endian word where ``big``, else the other
        signed = (raw << spare).view(np.int64) >> spare.view(np.int64)
        return signed.astype(np.float64) * scale.view(np.float64) + offset.view(np.float64)


class Decoder:
    """Decode :class:`FrameBatch` es per a cantools database.

    With ``car``, the car's frames must exist in the database (same message names and signals); their dead
    channels are not decoded. Every message is decoded. Output keys are DBC signal names; a name used by
    several messages becomes ``"<message>.<signal>"`` for each of them.

    ``slot_max_frames``: see :data:`SLOT_MAX_FRAMES` (both ways give identical values).

    Counters (cumulative): ``frames_total``, ``unknown_frames`` and ``unknown_ids`` (frames whose id is in
    no message: counted, not fatal), ``short_frames`` (DLC shorter than the message: dropped).
    """

    def __init__(
        self, db: Database, *, car: CarConfig | None = None, slot_max_frames: int = SLOT_MAX_FRAMES
    ) -> None:
        self.slot_max_frames = slot_max_frames
        names = Counter(s.name for m in db.messages for s in m.signals)
        dead: dict[int, set[str]] = {}
        if car is not None:
            for frame in car.frames:
                try:
                    message = db.get_message_by_frame_id(frame.frame_id)
                except KeyError:
                    raise ValueError(f"car {car.id}: frame 0x{frame.frame_id:X} is not in the DBC") from None
                if message.name != frame.message:
                    raise ValueError(
                        f"car {car.id}: frame 0x{frame.frame_id:X} is {message.name} in the DBC, not {frame.message}"
                    )
                signals = {s.name for s in message.signals}
                for ch in frame.channels:
                    if ch.signal not in signals:
                        raise ValueError(f"car {car.id}: {frame.message} has no signal {ch.signal}")
                dead[frame.frame_id] = {ch.signal for ch in frame.channels if ch.dead is not None}
        plans = []
        for message in db.messages:
            keys = {
                s.name: (s.name if names[s.name] == 1 else f"{message.name}.{s.name}")
                for s in message.signals
            }
            skip = dead.get(int(message.frame_id), set())
            wanted = {s.name for s in message.signals} - skip
            plans.append(_message_plan(message, keys, wanted))
        plans.sort(key=lambda p: p.key)
        self.plans: tuple[MessagePlan, ...] = tuple(plans)
        if len(plans) >= np.iinfo(np.int16).max:
            raise ValueError(f"too many messages ({len(plans)}) for one decoder")
        self._keys = np.array([p.key for p in plans], np.int64)
        # 11-bit identifiers: one table lookup per frame; 29-bit ones: binary search in the sorted keys
        self._std_table = np.full(STD_IDS + 1, len(plans), np.int16)  # the last entry: unknown
        for code, plan in enumerate(plans):
            if not plan.is_extended and plan.frame_id < STD_IDS:
                self._std_table[plan.frame_id] = code
        self._slots = _SlotTables.of(plans)
        self.frames_total = 0
        self.unknown_frames = 0
        self.short_frames = 0
        self.unknown_ids: Counter[int] = Counter()

    @property
    def signal_keys(self) -> list[str]:
        """Every output key this decoder can produce."""
        return [s.key for p in self.plans for s in p.signals]

    def decode(self, batch: FrameBatch) -> Decoded:
        """Decode every known frame of ``batch``: per signal key, ``(t_s, values)`` in frame order."""
        n = len(batch)
        self.frames_total += n
        out: Decoded = {}
        if n == 0:
            return out
        code = self._codes(batch)
        known = code < len(self.plans)
        counts = np.bincount(code, minlength=len(self._keys) + 1)
        if counts[-1]:
            self.unknown_frames += int(counts[-1])
            ids, id_counts = np.unique(batch.arbitration_id[~known], return_counts=True)
            self.unknown_ids.update(dict(zip(ids.tolist(), id_counts.tolist(), strict=True)))
        short = batch.dlc < self._slots.length[code]
        any_short = bool(short.any())
        order = np.argsort(code, kind="stable")
        sorted_code = code[order]
        t = batch.t_s[order]
        le = batch.data.view(_LE_WORD).reshape(n)[order]
        be = le.byteswap()
        if any_short:
            short = short[order]
        values = self._slots.values(sorted_code, le, be) if n <= self.slot_max_frames else None
        start = 0
        for m, count in enumerate(counts[:-1].tolist()):
            if not count:
                continue
            block = slice(start, start + count)
            start += count
            keep: slice | npt.NDArray[np.intp] = block
            if any_short and short[block].any():
                self.short_frames += int(short[block].sum())
                keep = np.flatnonzero(~short[block]) + block.start
            if values is not None and self._slots.fast[m]:
                times = t[keep]
                # a message's keys name its first slots; the rows past them are padding
                for key, row in zip(self._slots.keys[m], values[:, keep], strict=False):
                    out[key] = (times, row)
            else:
                self._decode_slow(self.plans[m], t[keep], le[keep], be[keep], out)
        return out

    def _decode_slow(
        self, plan: MessagePlan, t: FloatArray, le: U64Array, be: U64Array, out: Decoded
    ) -> None:
        """Signal by signal: multiplexed messages, float and unsigned 64-bit signals, and every message of a
        batch larger than :attr:`slot_max_frames` (where a column per signal beats a row per slot)."""
        raw_mux = {m.signal: m.raw(be if m.big_endian else le) for m in plan.muxers}
        active = {m.signal: self._active(m, raw_mux, plan) for m in plan.muxers}
        for sig in plan.signals:
            raw = sig.raw(be if sig.big_endian else le)
            if sig.mux_signal is None:
                out[sig.key] = (t, sig.scaled(raw))
            else:
                sel = active[sig.mux_signal] & np.isin(raw_mux[sig.mux_signal], sig.mux_ids)
                out[sig.key] = (t[sel], sig.scaled(raw[sel]))

    def _codes(self, batch: FrameBatch) -> npt.NDArray[np.int16]:
        """Per frame: the index of its message plan, or ``len(plans)`` when no message has its id."""
        ids, ext = batch.arbitration_id, batch.is_extended
        if not ext.any():  # all 11-bit (the usual bus): ids out of range (or negative) read the unknown entry
            return self._std_table[np.minimum(ids.view(np.uint64), STD_IDS)]
        std = ~ext & (ids >= 0) & (ids < STD_IDS)
        code = np.full(ids.shape[0], len(self.plans), np.int16)
        code[std] = self._std_table[ids[std]]
        other = np.flatnonzero(ext)
        if other.size and self._keys.size:
            keys = frame_key(ids[other], True)
            pos = np.minimum(np.searchsorted(self._keys, keys), self._keys.size - 1)
            hit = self._keys[pos] == keys
            code[other[hit]] = pos[hit]
        return code

    @staticmethod
    def _active(mux: SignalPlan, raw_mux: Mapping[str, U64Array], plan: MessagePlan) -> npt.NDArray[np.bool_]:
        """Rows where the multiplexer ``mux`` itself is present (nested multiplexing)."""
        if mux.mux_signal is None:
            return np.ones(raw_mux[mux.signal].shape, np.bool_)
        parent = next(m for m in plan.muxers if m.signal == mux.mux_signal)
        return Decoder._active(parent, raw_mux, plan) & np.isin(raw_mux[parent.signal], mux.mux_ids)


class Encoder:
    """The decoder's inverse: physical values → payload bytes, vectorised (used by the simulator)."""

    def __init__(self, db: Database) -> None:
        self._plans: dict[int, MessagePlan] = {}
        for message in db.messages:
            plan = _message_plan(message, {s.name: s.name for s in message.signals}, None)
            self._plans[plan.key] = plan

    def encode(
        self, frame_id: int, values: Mapping[str, FloatArray], *, is_extended: bool = False
    ) -> npt.NDArray[np.uint8]:
        """Payloads ``(n, 8)`` for one message; ``values`` maps DBC signal names to equal-length arrays of
        physical values (signals not given encode as raw 0). Multiplexed messages are not supported."""
        plan = self._plans[int(frame_key(frame_id, is_extended))]
        if plan.muxers:
            raise ValueError(f"{plan.name} is multiplexed: encode it with cantools")
        unknown = set(values) - {s.signal for s in plan.signals}
        if unknown:
            raise KeyError(f"{plan.name} has no signals {sorted(unknown)}")
        n = len(next(iter(values.values()))) if values else 0
        le = np.zeros(n, np.uint64)
        be = np.zeros(n, np.uint64)
        for sig in plan.signals:
            if sig.signal in values:
                bits = sig.to_raw(np.asarray(values[sig.signal], np.float64)) << np.uint64(sig.shift)
                if sig.big_endian:
                    be |= bits
                else:
                    le |= bits
        out = le.astype("<u8").view(np.uint8).reshape(n, PAYLOAD_BYTES)
        if be.any():
            out = out | be.astype(">u8").view(np.uint8).reshape(n, PAYLOAD_BYTES)
        return np.ascontiguousarray(out)
