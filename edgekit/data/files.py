"""Reading a user's CSV or Parquet file into a DataFrame, with one clear error per way it can fail."""

from __future__ import annotations

import csv
import io
from collections import Counter
from pathlib import Path

import pandas as pd

from ..errors import BadInput

PARQUET_SUFFIXES = {".parquet", ".pq"}
_PARQUET_MAGIC = b"PAR1"


def read_table_file(path: Path) -> pd.DataFrame:
    if not path.exists():
        raise BadInput(f"{path}: no such file", "check the path, or use bundled:NAME / synthetic:sensors")
    if path.is_dir():
        raise BadInput(f"{path}: is a directory, not a data file", "pass a .csv or .parquet file")
    if path.stat().st_size == 0:
        raise BadInput(f"{path}: file is empty", "pass a file with a header row and data rows")
    with open(path, "rb") as handle:
        magic = handle.read(4)
    if path.suffix.lower() in PARQUET_SUFFIXES or magic == _PARQUET_MAGIC:
        frame = _read_parquet(path)
    else:
        frame = _read_csv(path)
    if len(frame) == 0:
        raise BadInput(f"{path}: has a header but no data rows", "add rows to the file")
    return frame


def _read_csv(path: Path) -> pd.DataFrame:
    raw = path.read_bytes()
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        raise BadInput(
            f"{path}: not UTF-8 text (byte 0x{raw[exc.start]:02x} on line {line})",
            "re-save the file as UTF-8 CSV",
        ) from exc
    if "\x00" in text:
        raise BadInput(f"{path}: contains NUL bytes, so it is not a text CSV", "pass a CSV or Parquet file")
    header = next(csv.reader(io.StringIO(text)), [])
    header = [name.strip() for name in header]
    if not any(header):
        raise BadInput(f"{path}: the first line is empty; expected a header row", "put the column names on line 1")
    _reject_duplicates(path, header)
    try:
        frame = pd.read_csv(io.StringIO(text), skipinitialspace=True)
    except (pd.errors.ParserError, ValueError) as exc:
        detail = " ".join(str(exc).split())
        raise BadInput(f"{path}: not a well-formed CSV ({detail})", "fix the line it names") from exc
    frame.columns = [str(name).strip() for name in frame.columns]
    return frame


def _read_parquet(path: Path) -> pd.DataFrame:
    import pyarrow as pa
    import pyarrow.parquet as pq

    try:
        parquet = pq.ParquetFile(path)
        _reject_duplicates(path, parquet.schema_arrow.names)
        return parquet.read().to_pandas()
    except (pa.ArrowException, OSError) as exc:
        detail = " ".join(str(exc).split())
        raise BadInput(f"{path}: not a readable Parquet file ({detail})", "re-export the file") from exc


def _reject_duplicates(path: Path, names: list[str]) -> None:
    duplicated = sorted(name for name, count in Counter(names).items() if count > 1)
    if duplicated:
        shown = ", ".join(repr(name) for name in duplicated)
        raise BadInput(f"{path}: duplicate column names {shown}", "give every column a unique name")
