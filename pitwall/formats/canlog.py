"""CAN log files: candump ``.log``, Vector ``.asc`` and python-can ``.csv``, parsed vectorised with Polars.

Every reader returns a frame with :data:`CAN_LOG_SCHEMA`. Remote and error frames carry no signal data and are
skipped; CAN FD frames are refused with a clear error (Pitwall decodes classic CAN). Anything else that does
not parse is a :class:`ReadError` naming the file and the 1-based line.
"""

from __future__ import annotations

from pathlib import Path
from typing import Final

import numpy as np
import numpy.typing as npt
import polars as pl
import pyarrow as pa

from pitwall.formats.errors import ReadError

CAN_LOG_SCHEMA: Final[dict[str, pl.DataType]] = {
    "t_s": pl.Float64(),
    "arbitration_id": pl.Int64(),
    "is_extended": pl.Boolean(),
    "dlc": pl.Int8(),
    "data": pl.Binary(),
}
"""A CAN log as a Polars frame: ``t_s`` in seconds (epoch seconds for candump logs and python-can CSV, seconds
since measurement start for Vector ASC), ``arbitration_id`` the 11- or 29-bit identifier, ``dlc`` the payload
length in bytes, ``data`` the payload."""

CAN_ERR_FLAG: Final = 0x20000000  # Linux SocketCAN error-frame flag in candump identifiers
_CSV_HEADER: Final = ("timestamp", "arbitration_id", "extended", "remote", "error", "dlc", "data")
_CANDUMP_RE: Final = (
    r"^\((?P<t>\d+(?:\.\d+)?)\)\s+\S+\s+(?P<id>[0-9A-Fa-f]{3}|[0-9A-Fa-f]{8})#(?P<rest>\S*)(?:\s+[RT])?\s*$"
)
_ASC_BASE_RE: Final = r"^\s*base\s+(hex|dec)\b"
_ASC_FRAME_RE: Final = (
    r"^\s*(?P<t>\d+\.\d+)\s+(?P<ch>\d+)\s+(?P<id>[0-9A-Fa-f]+)(?P<x>x?)\s+(?:Rx|Tx)\s+(?P<kind>[dDrR])"
    r"\s+(?P<dlc>[0-9A-Fa-f]{1,2})(?P<data>(?:\s+[0-9A-Fa-f]{1,3})*)(?:\s+.*)?$"
)


def binary_series(name: str, lengths: npt.NDArray[np.int64], values: npt.NDArray[np.uint8]) -> pl.Series:
    """A Polars Binary series from row lengths and the concatenated bytes of all rows (no Python loop)."""
    offsets = np.concatenate([[0], np.cumsum(lengths)]).astype(np.int64)
    arrow = pa.LargeBinaryArray.from_buffers(
        pa.large_binary(),
        int(lengths.shape[0]),
        [
            None,
            pa.py_buffer(offsets.tobytes()),
            pa.py_buffer(np.ascontiguousarray(values, np.uint8).tobytes()),
        ],
    )
    return pl.Series(name, arrow, dtype=pl.Binary)


def _lines(path: Path) -> pl.Series:
    try:
        text = path.read_text(encoding="utf-8", errors="strict")
    except FileNotFoundError as exc:
        raise ReadError(path, "CAN log not found") from exc
    except UnicodeDecodeError as exc:
        line = path.read_bytes()[: exc.start].count(b"\n") + 1
        raise ReadError(path, "not a text CAN log (invalid UTF-8)", line=line) from exc
    return pl.Series("line", text.splitlines(), dtype=pl.String)


def _first(mask: pl.Series) -> int | None:
    """0-based index of the first true value of a boolean series, or None."""
    hits = mask.fill_null(False).arg_true()
    return int(hits[0]) if hits.len() else None


def _require(df: pl.DataFrame, bad: pl.Expr, path: Path, reason: str, *, row_col: str = "row") -> None:
    """Raise ReadError at the first row where ``bad`` holds; ``row_col`` holds 0-based file line numbers."""
    idx = _first(df.select(bad.alias("bad")).get_column("bad"))
    if idx is not None:
        raise ReadError(path, reason, line=int(df.get_column(row_col)[idx]) + 1)


def _finish(df: pl.DataFrame, path: Path) -> pl.DataFrame:
    if df.height == 0:
        raise ReadError(path, "no CAN data frames in file")
    return df.select(CAN_LOG_SCHEMA.keys()).cast(CAN_LOG_SCHEMA)  # type: ignore[arg-type]


def _read_candump(path: Path) -> pl.DataFrame:
    lines = _lines(path)
    df = (
        pl.DataFrame({"row": pl.int_range(lines.len(), eager=True), "line": lines})
        .filter(pl.col("line").str.strip_chars() != "")
        .with_columns(pl.col("line").str.extract_groups(_CANDUMP_RE).alias("m"))
        .unnest("m")
    )
    _require(
        df, pl.col("t").is_null(), path, "not a candump -L line: expected '(<time>) <iface> <id>#<data>'"
    )
    _require(df, pl.col("rest").str.starts_with("#"), path, "CAN FD frame: only classic CAN is supported")
    df = df.with_columns(pl.col("id").str.to_integer(base=16).alias("arbitration_id")).filter(
        ~pl.col("rest").str.starts_with("R") & ((pl.col("arbitration_id") & CAN_ERR_FLAG) == 0)
    )
    df = df.with_columns(data=pl.col("rest").str.decode("hex", strict=False))
    _require(
        df,
        pl.col("data").is_null() | (pl.col("data").bin.size() > 8),
        path,
        "payload must be 0-8 bytes of hex digits",
    )
    return _finish(
        df.with_columns(
            t_s=pl.col("t").cast(pl.Float64),
            is_extended=pl.col("id").str.len_chars() == 8,
            dlc=pl.col("data").bin.size(),
        ),
        path,
    )


def _read_asc(path: Path) -> pl.DataFrame:
    lines = _lines(path)
    df = pl.DataFrame({"row": pl.int_range(lines.len(), eager=True), "line": lines})
    base_hits = df.filter(pl.col("line").str.contains(_ASC_BASE_RE))
    if base_hits.height == 0:
        raise ReadError(path, "not a Vector ASC file: no 'base hex|dec' header line", line=1)
    base = 16 if base_hits.get_column("line")[0].split()[1] == "hex" else 10
    df = (
        df.with_columns(pl.col("line").str.extract_groups(_ASC_FRAME_RE).alias("m"))
        .unnest("m")
        .filter(pl.col("t").is_not_null() & pl.col("kind").is_in(["d", "D"]))
        .with_columns(
            t_s=pl.col("t").cast(pl.Float64),
            arbitration_id=pl.col("id").str.to_integer(base=base, strict=False),
            is_extended=pl.col("x") == "x",
            dlc=pl.col("dlc").str.to_integer(base=base, strict=False),
            tokens=pl.col("data").str.extract_all(r"[0-9A-Fa-f]+"),
        )
    )
    _require(df, pl.col("arbitration_id").is_null(), path, f"bad identifier for base {base}")
    _require(df, ~pl.col("dlc").is_between(0, 8), path, "DLC must be 0-8 (CAN FD is not supported)")
    _require(df, pl.col("tokens").list.len() < pl.col("dlc"), path, "fewer data bytes than the DLC says")
    tokens = df.select(pl.col("tokens").list.head(pl.col("dlc"))).get_column("tokens")
    flat = tokens.explode().str.to_integer(base=base, strict=False)
    if flat.null_count() or (flat.len() and (flat.max() or 0) > 255):  # type: ignore[operator]
        owner = np.repeat(np.arange(df.height), tokens.list.len().to_numpy())
        bad = int(owner[int((flat.is_null() | (flat > 255)).fill_null(True).arg_true()[0])])
        raise ReadError(path, "data byte out of range", line=int(df.get_column("row")[bad]) + 1)
    data = binary_series(
        "data", tokens.list.len().to_numpy().astype(np.int64), flat.to_numpy().astype(np.uint8)
    )
    return _finish(df.with_columns(data), path)


def _read_csv(path: Path) -> pl.DataFrame:
    if not path.is_file():
        raise ReadError(path, "CAN log not found")
    header = path.open("r", encoding="utf-8", errors="replace").readline().strip().split(",")
    if tuple(header) != _CSV_HEADER:
        raise ReadError(path, f"not a python-can CSV: header must be {','.join(_CSV_HEADER)}", line=1)
    try:
        raw = pl.read_csv(
            path, schema=dict.fromkeys(_CSV_HEADER, pl.String()), has_header=True, quote_char=None
        )
    except (pl.exceptions.ComputeError, pl.exceptions.NoDataError, pl.exceptions.ShapeError) as exc:
        raise ReadError(path, f"malformed CSV: {exc}") from exc
    df = raw.with_columns(
        row=pl.int_range(1, raw.height + 1),  # file line index (0-based; the header is line 0)
        t_s=pl.col("timestamp").cast(pl.Float64, strict=False),
        arbitration_id=pl.col("arbitration_id").str.strip_prefix("0x").str.to_integer(base=16, strict=False),
        dlc=pl.col("dlc").str.to_integer(strict=False),
        payload=pl.col("data").fill_null("").str.decode("base64", strict=False),
    )
    flags = [pl.col(c).is_in(["0", "1"]).not_() for c in ("extended", "remote", "error")]
    _require(df, pl.col("t_s").is_null(), path, "bad timestamp")
    _require(df, pl.col("arbitration_id").is_null(), path, "bad arbitration_id (expected hex like 0x420)")
    _require(df, pl.any_horizontal(flags), path, "extended/remote/error must be 0 or 1")
    df = df.filter((pl.col("remote") == "0") & (pl.col("error") == "0"))
    _require(df, pl.col("payload").is_null(), path, "data is not valid base64")
    _require(
        df,
        ~pl.col("dlc").is_between(0, 8) | (pl.col("payload").bin.size() > 8),
        path,
        "DLC and payload must be 0-8 bytes (CAN FD is not supported)",
    )
    return _finish(df.with_columns(is_extended=pl.col("extended") == "1", data=pl.col("payload")), path)


_READERS: Final = {".log": _read_candump, ".asc": _read_asc, ".csv": _read_csv}


def read_can_log(path: Path) -> pl.DataFrame:
    """Read a candump ``.log`` (``candump -L``), Vector ``.asc`` or python-can ``.csv`` into
    :data:`CAN_LOG_SCHEMA` columns, in file order."""
    path = Path(path)
    reader = _READERS.get(path.suffix.lower())
    if reader is None:
        raise ReadError(path, f"unknown CAN log type {path.suffix!r} (expected .log, .asc or .csv)")
    return reader(path)


def _hex_ids(df: pl.DataFrame, *, prefix: str, ext_width: int, std_width: int, upper: bool) -> pl.Expr:
    """Identifiers as hex text, formatted once per distinct (id, id width) pair."""
    spec = "X" if upper else "x"
    mapping = {
        i + (int(x) << 32): prefix + format(i, f"0{ext_width if x else std_width}{spec}")
        for i, x in df.select("arbitration_id", "is_extended").unique().iter_rows()
    }
    key = pl.col("arbitration_id") + (pl.col("is_extended").cast(pl.Int64) * (1 << 32))
    return key.replace_strict(mapping, return_dtype=pl.String)


def write_can_log(df: pl.DataFrame, path: Path, *, append: bool = False, channel: str = "can0") -> None:
    """Write :data:`CAN_LOG_SCHEMA` rows as a candump ``.log`` (``candump -L`` lines on ``channel``) or a
    python-can ``.csv`` (header written unless appending to a non-empty file). Both read back with
    :func:`read_can_log` and with python-can's ``LogReader``."""
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in {".log", ".csv"}:
        raise ValueError(f"{path}: can only write .log or .csv CAN logs")
    frame = df.select(CAN_LOG_SCHEMA.keys()).cast(CAN_LOG_SCHEMA)  # type: ignore[arg-type]
    if frame.height and (frame.get_column("t_s").min() or 0.0) < 0:  # type: ignore[operator]
        raise ValueError(f"{path}: timestamps must be >= 0")
    has_content = append and path.exists() and path.stat().st_size > 0
    if suffix == ".log":
        micros = (pl.col("t_s") * 1e6).round().cast(pl.Int64)
        lines = frame.select(
            pl.format(
                "({}.{}) {} {}#{}",
                micros // 1_000_000,
                (micros % 1_000_000).cast(pl.String).str.zfill(6),
                pl.lit(channel),
                _hex_ids(frame, prefix="", ext_width=8, std_width=3, upper=True),
                pl.col("data").bin.encode("hex").str.to_uppercase(),
            ).alias("line")
        ).get_column("line")
    else:
        lines = frame.select(
            pl.format(
                "{},{},{},0,0,{},{}",
                pl.col("t_s").cast(pl.String),
                _hex_ids(frame, prefix="0x", ext_width=0, std_width=0, upper=False),
                pl.col("is_extended").cast(pl.Int8),
                pl.col("dlc"),
                pl.col("data").bin.encode("base64"),
            ).alias("line")
        ).get_column("line")
        if not has_content:
            lines = pl.concat([pl.Series("line", [",".join(_CSV_HEADER)]), lines])
    body = "\n".join(lines.to_list())
    with path.open("a" if append else "w", encoding="utf-8") as fh:
        if body:
            fh.write(body + "\n")
