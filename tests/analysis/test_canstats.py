from __future__ import annotations

import polars as pl
from polars.testing import assert_frame_equal

from pitwall.analysis.canstats import id_frame_rates


def test_frame_rate_per_identifier_over_the_span_between_first_and_last() -> None:
    frames = pl.LazyFrame(
        {
            "t_s": [10.0, 10.1, 10.05, 10.2, 10.3, 11.0, 12.5],
            "arbitration_id": [0x420, 0x420, 0x0CFFF048, 0x420, 0x420, 0x7FF, 0x0CFFF048],
            "is_extended": [False, False, True, False, False, False, True],
            "dlc": [8, 8, 8, 8, 6, 2, 8],
            "data": [b"\x01", b"\x02", b"\x00", b"\x03", b"\xab\xcd", b"\xff", b"\x10\x0a"],
        },
        schema_overrides={"dlc": pl.Int8},
    )
    expected = pl.DataFrame(
        {
            "id_hex": ["0x420", "0x7FF", "0x0CFFF048"],
            "arbitration_id": [0x420, 0x7FF, 0x0CFFF048],
            "is_extended": [False, False, True],
            "n_frames": pl.Series([4, 1, 2], dtype=pl.UInt32),
            "t_first_s": [10.0, 11.0, 10.05],
            "t_last_s": [10.3, 11.0, 12.5],
            "rate_hz": [3 / (10.3 - 10.0), None, 1 / (12.5 - 10.05)],  # frames − 1 over the span
            "dlc": pl.Series([8, 2, 8], dtype=pl.Int8),
            "last_payload_hex": ["abcd", "ff", "100a"],
        }
    )
    assert_frame_equal(id_frame_rates(frames).collect(), expected)


def test_same_number_standard_and_extended_are_two_identifiers_and_a_zero_span_has_no_rate() -> None:
    frames = pl.LazyFrame(
        {
            "t_s": [0.0, 0.0, 0.5],
            "arbitration_id": [0x100, 0x100, 0x100],
            "is_extended": [True, True, False],
            "dlc": [1, 1, 1],
            "data": [b"\x01", b"\x02", b"\x03"],
        },
        schema_overrides={"dlc": pl.Int8},
    )
    out = id_frame_rates(frames).collect()
    assert out.select("id_hex", "n_frames", "rate_hz").rows() == [("0x100", 1, None), ("0x00000100", 2, None)]
