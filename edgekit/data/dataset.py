"""From a raw table to a model-ready dataset: pick the label, infer the task, encode features."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Literal

import numpy as np
import pandas as pd

from ..errors import BadInput
from .schema import Schema, infer_schema
from .sources import Table

Task = Literal["classification", "regression"]
TASKS: tuple[Task, ...] = ("classification", "regression")
_LABEL_NAMES = ("label", "target")
# An integer label with at most this many distinct values is read as classes, not quantities.
MAX_INFERRED_CLASSES = 20
MAX_CLASSES = 200


@dataclass(frozen=True)
class Dataset:
    name: str
    source: str
    schema: Schema
    task: Task
    classes: list | None  # class values in index order (JSON-native); None for regression
    X: np.ndarray  # float32, categorical codes, NaN = missing
    y: np.ndarray  # int64 class index, or float64 target
    fingerprint: str

    @property
    def label(self) -> str:
        return self.schema.label


def prepare_dataset(table: Table, label: str | None = None, task: str | None = None) -> Dataset:
    frame = table.frame
    label = choose_label(table, label)
    target = frame[label]
    missing = np.flatnonzero(target.isna().to_numpy())
    if missing.size:
        raise BadInput(
            f"{table.source}: label '{label}' is empty at data row {missing[0] + 1} ({missing.size} rows in all)",
            "fill in or drop the rows without a label",
        )
    task = _choose_task(target, task, table.source)
    features = frame.drop(columns=[label])
    schema = infer_schema(features, label, table.source)
    classes, y = _encode_target(target, task, table.source)
    return Dataset(
        name=table.name,
        source=table.source,
        schema=schema,
        task=task,
        classes=classes,
        X=schema.encode(features),
        y=y,
        fingerprint=fingerprint(frame),
    )


def fingerprint(frame: pd.DataFrame) -> str:
    """sha256 of the table's column names and cell values, independent of the file format."""
    digest = hashlib.sha256("\x1f".join(map(str, frame.columns)).encode())
    digest.update(pd.util.hash_pandas_object(frame, index=False).to_numpy().tobytes())
    return digest.hexdigest()


def choose_label(table: Table, label: str | None) -> str:
    columns = [str(column) for column in table.frame.columns]
    shown = ", ".join(columns[:12]) + (", …" if len(columns) > 12 else "")
    if label is not None:
        if label not in columns:
            raise BadInput(f"{table.source}: label column '{label}' not found", f"columns are: {shown}")
        return label
    if table.default_label in columns:
        return table.default_label
    for column in columns:
        if column.lower() in _LABEL_NAMES:
            return column
    raise BadInput(f"{table.source}: no label column named 'label' or 'target'", f"pass --label COL (columns: {shown})")


def _choose_task(target: pd.Series, task: str | None, source: str) -> Task:
    if task is not None:
        if task not in TASKS:
            raise BadInput(f"unknown task '{task}'", f"choose one of: {', '.join(TASKS)}")
        if task == "regression" and not pd.api.types.is_numeric_dtype(target):
            raise BadInput(f"{source}: regression needs a numeric label, '{target.name}' is text", "use --task classification")
        return task  # type: ignore[return-value]
    if pd.api.types.is_bool_dtype(target) or not pd.api.types.is_numeric_dtype(target):
        return "classification"
    values = target.to_numpy(dtype="float64")
    integral = bool(np.all(values == np.round(values)))
    if integral and target.nunique() <= MAX_INFERRED_CLASSES:
        return "classification"
    return "regression"


def _encode_target(target: pd.Series, task: Task, source: str) -> tuple[list | None, np.ndarray]:
    if task == "regression":
        values = target.to_numpy(dtype="float64")
        if np.isinf(values).any():
            raise BadInput(f"{source}: label '{target.name}' has infinite values", "replace them with finite numbers")
        if np.all(values == values[0]):
            raise BadInput(f"{source}: label '{target.name}' has a single value", "a model needs a varying target")
        return None, values
    if pd.api.types.is_numeric_dtype(target) and not pd.api.types.is_bool_dtype(target):
        values = target.to_numpy(dtype="float64")
        uniques, y = np.unique(values, return_inverse=True)
        classes = [int(v) if v == round(v) else float(v) for v in uniques]
    else:
        uniques, y = np.unique(target.astype(str).to_numpy(), return_inverse=True)
        classes = [str(v) for v in uniques]
    if len(classes) < 2:
        raise BadInput(
            f"{source}: label '{target.name}' has a single class ({classes[0]!r})",
            "a classifier needs rows of at least two classes",
        )
    if len(classes) > MAX_CLASSES:
        raise BadInput(
            f"{source}: label '{target.name}' has {len(classes)} classes (limit {MAX_CLASSES})",
            "use --task regression for a numeric quantity",
        )
    return classes, y.astype(np.int64)
