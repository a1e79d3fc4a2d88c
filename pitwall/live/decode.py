"""Vectorised DBC decoding (and its inverse, encoding) of classic CAN frames with numpy.

cantools loads the DBC; this module precomputes, per message, how to pull each signal out of the 8 payload
bytes viewed as one 64-bit word: little-endian (Intel) signals from the word read little-endian, big-endian
(Motorola) signals from the word read big-endian, then shift, mask, sign-extend (two's complement) or
reinterpret as IEEE float, and scale/offset: ``value = raw * scale + offset`` in float64, exactly as cantools
computes it. Multiplexed signals are returned only for frames whose multiplexer selects them (signals that do
not depend on a multiplexer are decoded even when its value selects nothing, where cantools rejects the frame).
A batch is grouped by message with a table lookup (11-bit ids) or a binary search (29-bit ids) and one O(n)
stable sort. Batches the size of live reads (≤ :data:`SLOT_MAX_FRAMES`) then decode every integer signal of
every frame at once from one table of per-message parameters (:class:`_SlotTable`: a fixed ten or so numpy
calls per batch, the cost that dominates at 160 frames); larger ones message by message, signal by signal.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
from cantools.database.can import Database, Message, Signal

from pitwall.formats.car import CarConfig
from pitwall.live.frames import PAYLOAD_BYTES, FrameBatch

FloatArray = npt.NDArray[np.float64]
U64Array = npt.NDArray[np.uint64]
I64Array = npt.NDArray[np.int64]

Decoded = dict[str, tuple[FloatArray, FloatArray]]
"""Per signal key: ``(t_s, values)`` arrays of equal length, in frame order."""

_ALL_ONES = np.uint64(0xFFFF_FFFF_FFFF_FFFF)
STD_IDS = 0x800
"""Number of 11-bit identifiers."""
_LE_I64 = np.dtype("<i8")
_DLCS = PAYLOAD_BYTES + 1
"""Columns of the frame code tables: DLC 0-8 (larger ones read as 8)."""
_FULL_DLC = bytes([PAYLOAD_BYTES])
SLOT_MAX_FRAMES = 16384
"""Batches up to this many frames decode through the slot table (about ten numpy calls per batch whatever its
mix of messages: the live path reads ~160 frames at a time); larger ones message by message, signal by signal
(fewer operations per frame). Measured on the simulated lap's mix: the two meet at ~20,000 frames."""


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
class _SlotTable:
    """Every integer signal of the slot-decoded messages (no multiplexer, no float or unsigned 64-bit signal)
    as one slot of a per-message column of parameters, so a whole batch decodes in one gather and five numpy
    operations on a ``(slots, frames)`` block whatever its mix of messages.

    A message's little-endian signals take the first :attr:`little` slots (read from the payload as a
    little-endian int64), its big-endian ones the next :attr:`big` (read big-endian). Per slot: ``left`` = 64 −
    shift − length puts the signal's top bit at bit 63 of the word; an arithmetic shift right by ``right`` = 64
    − length brings it back sign-extended; ``mask`` = (1 << length) − 1 for unsigned signals (all ones for
    signed ones) drops the copied sign bits; then ``value = raw * scale + offset`` in float64, exactly as
    cantools computes it (the addition is skipped when every offset is 0 and every scale positive: adding +0.0
    then changes no value). Unused slots (and the extra column, for codes that are not messages) are all zero
    and decode to 0.0, which nobody reads."""

    little: int
    big: int
    params: I64Array  # (5, slots, messages + 1): left; right; mask; the bits of the float64 scale; of the
    # offset (no offset row when it is skipped)
    outputs: tuple[tuple[tuple[int, str], ...] | None, ...]  # per message: (slot, output key) per signal, in
    # signal order; None when the message is decoded signal by signal

    @classmethod
    def of(cls, plans: Sequence[MessagePlan]) -> _SlotTable:
        fast = [not p.muxers and all(_slot_fits(s) for s in p.signals) for p in plans]
        chosen = [p.signals if ok else () for p, ok in zip(plans, fast, strict=True)]
        big = max((sum(s.big_endian for s in signals) for signals in chosen), default=0)
        little = max((sum(not s.big_endian for s in signals) for signals in chosen), default=0)
        params = np.zeros((5, little + big, len(plans) + 1), np.int64)
        outputs: list[tuple[tuple[int, str], ...] | None] = []
        for m, (signals, ok) in enumerate(zip(chosen, fast, strict=True)):
            free = [0, little]  # the next slot of each byte order
            entries = []
            for sig in signals:
                j = free[sig.big_endian]
                free[sig.big_endian] += 1
                mask = -1 if sig.signed else (1 << sig.length) - 1
                linear = np.array([sig.scale, sig.offset], np.float64).view(np.int64)
                params[:, j, m] = (64 - sig.shift - sig.length, 64 - sig.length, mask, *linear)
                entries.append((j, sig.key))
            outputs.append(tuple(entries) if ok else None)
        if not params[4].any() and all(s.scale > 0 for signals in chosen for s in signals):
            params = params[:4].copy()
        return cls(little, big, params, tuple(outputs))

    def values(self, code: npt.NDArray[np.int16], le: I64Array, be: I64Array) -> FloatArray:
        """``(slots, frames)`` physical values of the frames whose message indices are ``code`` (all less than
        the number of messages) and payload words ``le`` / ``be`` (the 8 bytes read as a little-endian /
        big-endian int64): row ``j`` holds each frame's ``j``-th slot."""
        if not self.big:
            word = le
        elif not self.little:
            word = be
        else:
            word = np.concatenate(
                [np.broadcast_to(le, (self.little, le.size)), np.broadcast_to(be, (self.big, be.size))]
            )
        params = self.params.take(code, axis=2)
        raw = np.left_shift(word, params[0])
        np.right_shift(raw, params[1], out=raw)
        np.bitwise_and(raw, params[2], out=raw)
        value = raw.astype(np.float64)
        np.multiply(value, params[3].view(np.float64), out=value)
        if len(params) == 5:
            np.add(value, params[4].view(np.float64), out=value)
        return value


class Decoder:
    """Decode :class:`FrameBatch` es per a cantools database.

    With ``car``, the car's frames must exist in the database (same message names and signals); their dead
    channels are not decoded. Every message is decoded. Output keys are DBC signal names; a name used by
    several messages becomes ``"<message>.<signal>"`` for each of them.

    ``slot_max_frames``: see :data:`SLOT_MAX_FRAMES` (both ways give identical values).

    Counters (cumulative): ``frames_total``, ``unknown_frames`` and ``unknown_ids`` (frames whose id is in
    no message: counted, not fatal), ``short_frames`` (DLC shorter than the message: dropped).

    Each frame gets one code from a table lookup on (id, DLC): ``m`` for a frame of message ``m`` (the index in
    :attr:`plans`), ``len(plans)`` for an unknown id, ``len(plans) + 1 + m`` for a frame of message ``m`` too
    short for it; one stable sort by code then groups the frames to decode by message, in frame order, ahead of
    the ones to drop.
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
        n_plans = len(plans)
        if 2 * n_plans + 1 > np.iinfo(np.int16).max:
            raise ValueError(f"too many messages ({n_plans}) for one decoder")
        self._keys = np.array([p.key for p in plans], np.int64)
        # (message code, DLC) → frame code; the last row is for unknown ids
        self._by_dlc = np.full((n_plans + 1, _DLCS), n_plans, np.int16)
        for code, plan in enumerate(plans):
            self._by_dlc[code, : plan.length] = n_plans + 1 + code
            self._by_dlc[code, plan.length :] = code
        # 11-bit identifiers: one lookup per frame in (id, DLC); 29-bit ones: a binary search in the sorted keys
        self._std_table = np.full(STD_IDS + 1, n_plans, np.int16)  # the last entry: ids out of range
        for code, plan in enumerate(plans):
            if not plan.is_extended and plan.frame_id < STD_IDS:
                self._std_table[plan.frame_id] = code
        self._std_codes = self._by_dlc[self._std_table].ravel()  # index: id * 9 + DLC
        self._std_last = np.array(STD_IDS, np.uint64)
        self._clip_ids = bool(self._std_table[0] == n_plans)  # no message has the 11-bit id 0
        self._big_endian = any(s.big_endian for p in plans for s in (*p.signals, *p.muxers))
        self._slots = _SlotTable.of(plans)
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
        n_plans = len(self.plans)
        code = self._codes(batch)
        counts: list[int] = np.bincount(code, minlength=2 * n_plans + 1).tolist()
        if counts[n_plans]:
            self.unknown_frames += counts[n_plans]
            ids, id_counts = np.unique(batch.arbitration_id[code == n_plans], return_counts=True)
            self.unknown_ids.update(dict(zip(ids.tolist(), id_counts.tolist(), strict=True)))
        known = sum(counts[:n_plans])
        self.short_frames += n - known - counts[n_plans]
        if not known:
            return out
        order = code.argsort(kind="stable")[:known]  # the frames to decode, by message, each in frame order
        t = batch.t_s[order]
        le = batch.data.view(_LE_I64).ravel()[order]
        be = le.byteswap() if self._big_endian else le
        values = self._slots.values(code[order], le, be) if known <= self.slot_max_frames else None
        outputs = self._slots.outputs
        start = 0
        for m, count in enumerate(counts[:n_plans]):
            if not count:
                continue
            stop = start + count
            entries = outputs[m]
            if values is None or entries is None:
                self._decode_slow(
                    self.plans[m],
                    t[start:stop],
                    le[start:stop].view(np.uint64),
                    be[start:stop].view(np.uint64),
                    out,
                )
            else:
                times = t[start:stop]
                rows = values[:, start:stop]
                for j, key in entries:
                    out[key] = (times, rows[j])
            start = stop
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
        """Per frame: its code (see the class docstring)."""
        ids, ext, dlc = batch.arbitration_id, batch.is_extended, batch.dlc
        if dlc.dtype != np.uint8:
            dlc = np.clip(dlc, 0, PAYLOAD_BYTES).astype(np.uint8)
        full = dlc.tobytes() == _FULL_DLC * dlc.size  # only 8-byte frames (the usual bus): none is short
        if not np.count_nonzero(ext):  # only 11-bit ids (the usual bus)
            if full and self._clip_ids:  # ids past the table read its last entry, negative ones id 0: unknown
                return self._std_table.take(ids, mode="clip")
            row = np.minimum(ids.view(np.uint64), self._std_last).view(np.int64)  # negative: past the table
            if full:
                return self._std_table.take(row)
            np.multiply(row, _DLCS, out=row)
            np.add(row, np.minimum(dlc, PAYLOAD_BYTES), out=row)
            return self._std_codes.take(row)
        std = ~ext & (ids >= 0) & (ids < STD_IDS)
        code = np.full(ids.shape[0], len(self.plans), np.intp)
        code[std] = self._std_table[ids[std]]
        other = np.flatnonzero(ext)
        if other.size and self._keys.size:
            keys = frame_key(ids[other], True)
            pos = np.minimum(np.searchsorted(self._keys, keys), self._keys.size - 1)
            hit = self._keys[pos] == keys
            code[other[hit]] = pos[hit]
        return self._by_dlc[code, np.minimum(dlc, PAYLOAD_BYTES)]

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
