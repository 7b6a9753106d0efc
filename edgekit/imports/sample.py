"""The sample of data an imported model comes with, matched to the model's features.

Names the model stored are matched to the sample's columns by name (and put in the model's order);
a model without names takes the columns as they stand, and their count must match. The label
column is optional: without it the bundle has no metrics, everything else is the same.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from ..data.dataset import Dataset, fingerprint
from ..data.schema import infer_schema
from ..data.sources import Table
from ..errors import BadInput
from .model import ImportedModel

_LABEL_NAMES = ("label", "target")


def sample_dataset(table: Table, imported: ImportedModel, label: str | None = None) -> Dataset:
    frame = table.frame
    if len(frame) == 0:
        raise BadInput(f"{table.source}: the sample has no rows", "pass rows of the data the model was trained on")
    columns = [str(column) for column in frame.columns]
    frame = frame.set_axis(columns, axis=1)
    label = _choose_label(table, columns, imported, label)
    feature_columns = [column for column in columns if column != label]
    names = _match_features(feature_columns, imported, table.source, label)
    features = frame[names]
    text = [name for name in names if not (pd.api.types.is_numeric_dtype(features[name]) or pd.api.types.is_bool_dtype(features[name]))]
    if text:
        raise BadInput(f"{table.source}: column '{text[0]}' holds text, and the model takes numbers",
                       "pass the sample encoded as the model saw it in training")
    schema = infer_schema(features, label or "", table.source)
    X = schema.encode(features)
    y = _labels(frame[label], imported, table.source) if label else np.full(len(frame), np.nan)
    return Dataset(name=table.name, source=table.source, schema=schema, task=imported.task,  # type: ignore[arg-type]
                   classes=imported.classes, X=X, y=y, fingerprint=fingerprint(frame))


def _choose_label(table: Table, columns: list[str], imported: ImportedModel, label: str | None) -> str | None:
    if label is not None:
        if label not in columns:
            raise BadInput(f"{table.source}: label column '{label}' not found", f"columns are: {', '.join(columns[:12])}")
        return label
    model_names = set(imported.feature_names or ())
    if table.default_label in columns and table.default_label not in model_names:
        return table.default_label
    if imported.feature_names is None and len(columns) == imported.n_features:
        return None  # every column is a feature
    for column in columns:
        if column.lower() in _LABEL_NAMES and column not in model_names:
            return column
    return None


def _match_features(columns: list[str], imported: ImportedModel, source: str, label: str | None) -> list[str]:
    if imported.feature_names is None:
        if len(columns) != imported.n_features:
            hint = "pass --label COL for the label column" if len(columns) == imported.n_features + 1 and label is None \
                else "pass exactly the model's input columns, in training order (plus the label)"
            raise BadInput(f"{source}: the model takes {imported.n_features} features, the sample has {len(columns)} "
                           f"columns{' besides the label' if label else ''}", hint)
        return columns
    missing = [name for name in imported.feature_names if name not in columns]
    if missing:
        raise BadInput(f"{source}: the sample lacks feature '{missing[0]}' the model was trained on"
                       + (f" ({len(missing)} missing)" if len(missing) > 1 else ""),
                       "pass a sample with every feature column the model takes")
    extra = [column for column in columns if column not in imported.feature_names]
    if extra:
        raise BadInput(f"{source}: column '{extra[0]}' is not a feature of the model",
                       f"drop it from the sample, or pass --label {extra[0]} if it is the label")
    return list(imported.feature_names)


def _labels(target: pd.Series, imported: ImportedModel, source: str) -> np.ndarray:
    missing = np.flatnonzero(target.isna().to_numpy())
    if missing.size:
        raise BadInput(f"{source}: label '{target.name}' is empty at data row {missing[0] + 1}",
                       "fill in or drop the rows without a label, or import without --label")
    if imported.task == "regression":
        if not pd.api.types.is_numeric_dtype(target):
            raise BadInput(f"{source}: label '{target.name}' is text, and the model is a regressor", "pass the numeric target")
        return target.to_numpy(dtype=np.float64)
    classes = imported.classes or []
    index = {_class_key(value): position for position, value in enumerate(classes)}
    keys = [_class_key(value) for value in target.to_numpy()]
    unknown = next((value for value, key in zip(target.to_numpy(), keys, strict=True) if key not in index), None)
    if unknown is not None:
        raise BadInput(f"{source}: label value {unknown!r} is not one of the model's classes {classes[:10]}",
                       "pass the label as the model was trained on it (encoded the same way)")
    return np.asarray([index[key] for key in keys], dtype=np.int64)


def _class_key(value: Any) -> Any:
    """Class values compared across file types: 1, 1.0, True and "1" are one class; text as text."""
    if isinstance(value, bool | np.bool_):
        return float(value)
    if isinstance(value, int | float | np.integer | np.floating):
        return float(value)
    text = str(value).strip()
    try:
        return float(text)
    except ValueError:
        return text
