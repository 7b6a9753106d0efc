"""Batch deployment: a CSV or Parquet file of rows in, a CSV file of predictions out.

Every input row gets one output line, in order. A row that cannot be read (wrong number of
fields, text in a numeric column) gets an empty prediction and the reason in the ``error`` column;
the others are predicted in one call, and a row whose output is NaN or infinite is refused the
same way. The output is written beside its final name and renamed into place, so an interrupted
run leaves no half-written file.
"""

from __future__ import annotations

import csv
import io
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ..atomic import write_atomically
from ..errors import InvalidInput, MissingRuntime
from ..loader import LoadedModel, non_finite_rows
from .predictions import NO_FINITE_OUTPUT, output_columns, schema_of


@dataclass
class BatchResult:
    rows: int
    rejected: int
    first_error: str  # "row N: reason", or ""


def read_table(path: Path) -> tuple[dict[str, np.ndarray], int, np.ndarray]:
    """Columns by name, the row count, and per row the reason it is malformed ('' when fine)."""
    if not path.is_file():
        raise InvalidInput(f"{path}: no such file", "pass --input rows.csv or rows.parquet")
    if path.suffix.lower() in (".parquet", ".pq"):
        return _read_parquet(path)
    return _read_csv(path)


def _read_csv(path: Path) -> tuple[dict[str, np.ndarray], int, np.ndarray]:
    try:
        with path.open(newline="", encoding="utf-8") as handle:
            lines = list(csv.reader(handle))
    except (UnicodeDecodeError, csv.Error) as exc:
        raise InvalidInput(f"{path}: not a readable CSV file ({exc})", "write UTF-8 CSV with a header row") from exc
    if not lines:
        raise InvalidInput(f"{path}: is empty", "write a header row naming the features, then one row per line")
    header, body = [name.strip() for name in lines[0]], lines[1:]
    width = len(header)
    lengths = np.fromiter(map(len, body), dtype=np.int64, count=len(body))
    errors = np.full(len(body), "", dtype=object)
    bad = np.flatnonzero(lengths != width)
    for index in bad:  # only malformed rows are visited one by one
        errors[index] = f"has {lengths[index]} fields, the header has {width}"
        body[index] = [""] * width
    cells = np.array(body, dtype=str).reshape(len(body), width)
    return {name: cells[:, column] for column, name in enumerate(header)}, len(body), errors


def _read_parquet(path: Path) -> tuple[dict[str, np.ndarray], int, np.ndarray]:
    try:
        from pyarrow import parquet
    except ImportError as exc:
        raise MissingRuntime("reading Parquet needs pyarrow", "pip install pyarrow, or pass a CSV file") from exc
    try:
        table = parquet.read_table(path)
    except Exception as exc:  # pyarrow raises its own tree of errors for damaged files
        raise InvalidInput(f"{path}: not a readable Parquet file ({exc.__class__.__name__})", "rewrite the file") from exc
    columns = {}
    for name in table.column_names:
        column = table.column(name)
        values = column.to_numpy(zero_copy_only=False)
        columns[str(name)] = values.astype(np.float64) if values.dtype.kind in "fiub" else np.where(
            column.is_null().to_numpy(zero_copy_only=False), "", values.astype(str))
    return columns, table.num_rows, np.full(table.num_rows, "", dtype=object)


def predict_file(model: LoadedModel, source: Path, destination: Path | None) -> BatchResult:
    """Predict every row of ``source``; write the predictions CSV to ``destination`` (stdout if None)."""
    columns, count, errors = read_table(source)
    rows, unknown, cell_errors = schema_of(model).encode_columns(columns, count)
    errors = np.where(errors != "", errors, cell_errors)
    good = errors == ""
    outputs = model.predict_encoded(np.ascontiguousarray(rows[good]), unknown[good]) if good.any() else None
    if outputs is not None and (bad := non_finite_rows(outputs)).size:
        refused = np.flatnonzero(good)[bad]
        errors[refused], good[refused] = NO_FINITE_OUTPUT, False
        outputs = np.delete(outputs, bad, axis=0)
    text = _predictions_csv(model, count, good, outputs, errors)
    if destination is None:
        sys.stdout.write(text)
    else:
        _write_atomically(destination, text)
    rejected = np.flatnonzero(~good)
    first = f"row {rejected[0] + 1}: {errors[rejected[0]]}" if rejected.size else ""
    return BatchResult(rows=count, rejected=int(rejected.size), first_error=first)


def _predictions_csv(model: LoadedModel, count: int, good: np.ndarray, outputs: np.ndarray | None, errors: np.ndarray) -> str:
    names = output_columns(model)
    table = np.full((count, len(names)), "", dtype=object)
    if outputs is not None:
        if model.task == "classification":
            classes = np.asarray(model.classes or [str(index) for index in range(outputs.shape[1])], dtype=object)
            table[good, 0] = classes[np.argmax(outputs, axis=1)]
            table[good, 1:] = np.char.mod("%.7g", outputs)
        else:
            table[good, 0] = np.char.mod("%.9g", outputs.reshape(-1))
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow([*names, "error"])
    writer.writerows(np.column_stack([table, errors]).tolist())
    return buffer.getvalue()


def _write_atomically(destination: Path, text: str) -> None:
    if not destination.parent.is_dir():
        raise InvalidInput(f"{destination.parent}: directory does not exist", "create it or choose another --output")
    write_atomically(destination, text)


def summary(result: BatchResult, model: LoadedModel) -> dict[str, Any]:
    return {"rows": result.rows, "rejected": result.rejected, "first_error": result.first_error, "inputs": model.input_report()}
