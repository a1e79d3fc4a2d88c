"""pitwall.validate: the first refused tall-sink value."""

from __future__ import annotations

import polars as pl
import pytest

from pitwall.validate import SIGNAL_LIMIT, first_bad_signal


@pytest.mark.parametrize(
    ("values", "row"),
    [
        ([1.0, -2.5, 0.0, -0.0, None, SIGNAL_LIMIT, -SIGNAL_LIMIT], None),  # the limit itself is allowed
        ([1.0, SIGNAL_LIMIT * 2], 1),
        ([1.0, 2.0, -SIGNAL_LIMIT * 2, float("nan")], 2),
        ([None, float("nan"), float("inf")], 1),
        ([1.0, float("-inf")], 1),
        ([], None),
    ],
)
def test_first_bad_signal_names_the_first_non_finite_or_too_large_value(
    values: list[float | None], row: int | None
) -> None:
    assert first_bad_signal(pl.Series(values, dtype=pl.Float64)) == row


def test_integer_values_are_checked_too() -> None:
    assert first_bad_signal(pl.Series([1, 2, 3])) is None
    assert first_bad_signal(pl.Series([1, 2 * 10**15, -(2 * 10**15)])) == 1
