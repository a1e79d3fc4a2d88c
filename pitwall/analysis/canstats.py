"""Per-identifier statistics of a CAN log (pure Polars).

Input frames carry the CAN log columns of ``pitwall.formats.canlog.CAN_LOG_SCHEMA``: ``t_s`` (s),
``arbitration_id`` (11- or 29-bit identifier), ``is_extended``, ``dlc`` (bytes) and ``data`` (payload), in
log order.
"""

from __future__ import annotations

import polars as pl

_HEX_DIGITS = dict(enumerate("0123456789ABCDEF"))


def _hex_expr(value: pl.Expr, width: int) -> pl.Expr:
    """``value`` (a non-negative integer below ``16**width``) as ``width`` upper-case hex digits."""
    return pl.concat_str(
        [
            ((value // 16**k) % 16).replace_strict(_HEX_DIGITS, return_dtype=pl.String)
            for k in reversed(range(width))
        ]
    )


def can_id_hex_expr() -> pl.Expr:
    """The identifier as text: ``0x`` and 8 hex digits for an extended (29-bit) id, 3 for a standard one."""
    arbitration_id = pl.col("arbitration_id")
    return pl.concat_str(
        pl.lit("0x"),
        pl.when(pl.col("is_extended"))
        .then(_hex_expr(arbitration_id, 8))
        .otherwise(_hex_expr(arbitration_id, 3)),
    )


def id_frame_rates(frames: pl.LazyFrame) -> pl.LazyFrame:
    """One row per identifier, sorted by ``arbitration_id`` then ``is_extended``: ``id_hex``
    (:func:`can_id_hex_expr`), ``arbitration_id``, ``is_extended``, ``n_frames`` (UInt32), ``t_first_s``,
    ``t_last_s`` (s), ``rate_hz`` (frames − 1 over the span between the first and last frame, Hz; null with
    one frame or a zero span), ``dlc`` (the largest, bytes) and ``last_payload_hex`` (the last frame's
    payload, lower-case hex)."""
    n = pl.col("n_frames")
    span = pl.col("t_last_s") - pl.col("t_first_s")
    return (
        frames.group_by("arbitration_id", "is_extended")
        .agg(
            pl.len().alias("n_frames"),
            pl.col("t_s").min().alias("t_first_s"),
            pl.col("t_s").max().alias("t_last_s"),
            pl.col("dlc").max().alias("dlc"),
            pl.col("data").last().bin.encode("hex").alias("last_payload_hex"),
        )
        .with_columns(pl.when((n > 1) & (span > 0)).then((n - 1) / span).alias("rate_hz"))
        .sort("arbitration_id", "is_extended")
        .select(
            can_id_hex_expr().alias("id_hex"),
            "arbitration_id",
            "is_extended",
            "n_frames",
            "t_first_s",
            "t_last_s",
            "rate_hz",
            "dlc",
            "last_payload_hex",
        )
    )
