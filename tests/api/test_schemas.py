"""pitwall.api.schemas.float_rows_json and json_array: written by Polars, byte for byte what msgspec writes."""

from __future__ import annotations

import math

import msgspec
import polars as pl
import pytest

from pitwall.api.schemas import float_rows_json, json_array

AWKWARD = [
    0.0,
    -0.0,
    0.1,
    0.30000000000000004,
    1e-7,
    5e-324,
    123456.789,
    -2.5e-300,
    1e15,
    None,
    math.nan,
    math.inf,
]


def _msgspec(frame: pl.DataFrame) -> bytes:
    return msgspec.json.encode(frame.to_dicts())


def test_rows_are_msgspec_byte_for_byte() -> None:
    names = ["t", 'quo"te', "back\\slash", "ctl\x01\n\t", "é€😀", "</script>", "\u2028"]
    frame = pl.DataFrame(
        {name: AWKWARD[k:] + AWKWARD[:k] for k, name in enumerate(names)},
        schema=dict.fromkeys(names, pl.Float64),
    )
    raw = float_rows_json(frame)
    assert bytes(raw) == _msgspec(frame)
    assert msgspec.json.encode({"rows": raw}) == b'{"rows":' + _msgspec(frame) + b"}"


@pytest.mark.parametrize(
    "columns",
    [
        {"t": [1e16, 2.5e300, -1e22]},  # positive exponents: Polars writes 1e+16, msgspec 1e16
        {"Pulse+": [1.0, 2.0, None]},  # "e+" in a name only
    ],
)
def test_rows_with_e_plus_are_msgspec_byte_for_byte(columns: dict[str, list[float | None]]) -> None:
    frame = pl.DataFrame(columns, schema=dict.fromkeys(columns, pl.Float64))
    assert bytes(float_rows_json(frame)) == _msgspec(frame)


def test_empty_frame_and_float64_only() -> None:
    assert bytes(float_rows_json(pl.DataFrame(schema={"t": pl.Float64}))) == b"[]"
    with pytest.raises(TypeError, match="Float64"):
        float_rows_json(pl.DataFrame({"n": [1]}))


@pytest.mark.parametrize(
    "series",
    [
        pl.Series(AWKWARD, dtype=pl.Float64),
        pl.Series([1e16, -2.5e300, None], dtype=pl.Float64),  # positive exponents: msgspec's own encoding
        pl.Series(["measured", None, "interpolated", 'quo"te', "é\n\x01", "e+"]),
        pl.Series([], dtype=pl.Float64),
    ],
)
def test_json_array_is_msgspec_byte_for_byte(series: pl.Series) -> None:
    assert bytes(json_array(series)) == msgspec.json.encode(series.to_list())


def test_json_array_takes_float64_or_string_only() -> None:
    with pytest.raises(TypeError, match="Float64 or String"):
        json_array(pl.Series([1, 2]))
