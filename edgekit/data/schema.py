"""The feature schema: what each input column is, inferred from training data and saved in a bundle.

Categorical columns are encoded as float codes (the index in the sorted category list; unknown or
missing -> NaN), so every backend downstream, down to a C function on a microcontroller, sees one
float vector per row with NaN meaning "missing".
"""

from __future__ import annotations

from typing import Literal

import numpy as np
import pandas as pd
from pydantic import BaseModel, ConfigDict

from ..errors import BadInput

SCHEMA_FORMAT = 1
QUANTILES = (0.01, 0.05, 0.25, 0.5, 0.75, 0.95, 0.99)
MAX_CATEGORIES = 50
# A text column whose values are mostly numbers is a typo'd numeric column, not a category.
NUMERIC_SHARE_FOR_TYPO = 0.9


class FeatureSpec(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str
    kind: Literal["numeric", "categorical"]
    dtype: str
    missing_rate: float
    min: float | None = None
    max: float | None = None
    integer: bool = False
    quantiles: dict[str, float] | None = None
    categories: list[str] | None = None


class Schema(BaseModel):
    model_config = ConfigDict(extra="forbid")

    format_version: int = SCHEMA_FORMAT
    label: str
    features: list[FeatureSpec]

    @property
    def feature_names(self) -> list[str]:
        return [feature.name for feature in self.features]

    def encode(self, frame: pd.DataFrame) -> np.ndarray:
        """Rows as the model sees them: float32, categorical codes, NaN for missing or unknown."""
        absent = [name for name in self.feature_names if name not in frame.columns]
        if absent:
            raise BadInput(f"the data lacks feature columns {absent}", "pass rows with every column of the schema")
        columns = []
        for feature in self.features:
            column = frame[feature.name]
            if feature.kind == "categorical":
                codes = pd.Index(feature.categories or []).get_indexer(_as_text(column)).astype("float64")
                codes[codes < 0] = np.nan  # unknown category or missing
                columns.append(codes)
            else:
                columns.append(pd.to_numeric(column, errors="coerce").to_numpy(dtype="float64"))
        return np.column_stack(columns).astype(np.float32) if columns else np.empty((len(frame), 0), np.float32)


def infer_schema(features: pd.DataFrame, label: str, source: str) -> Schema:
    if features.shape[1] == 0:
        raise BadInput(f"{source}: no feature columns besides the label '{label}'", "add input columns")
    return Schema(label=label, features=[_infer_feature(features[name], source) for name in features.columns])


def _infer_feature(column: pd.Series, source: str) -> FeatureSpec:
    name = str(column.name)
    missing_rate = float(column.isna().mean())
    if pd.api.types.is_bool_dtype(column):
        column = column.astype("float64")
    if pd.api.types.is_numeric_dtype(column):
        return _numeric_feature(name, column, missing_rate, source)
    return _categorical_feature(name, column, missing_rate, source)


def _numeric_feature(name: str, column: pd.Series, missing_rate: float, source: str) -> FeatureSpec:
    values = column.to_numpy(dtype="float64")
    infinite = np.flatnonzero(np.isinf(values))
    if infinite.size:
        raise BadInput(
            f"{source}: column '{name}' has an infinite value at data row {infinite[0] + 1}",
            "replace it with a finite number or leave the cell empty for 'missing'",
        )
    present = values[~np.isnan(values)]
    if present.size == 0:
        raise BadInput(f"{source}: column '{name}' has no values at all", "drop the column or fill it")
    quantiles = np.quantile(present, QUANTILES)
    return FeatureSpec(
        name=name,
        kind="numeric",
        dtype=str(column.dtype),
        missing_rate=missing_rate,
        min=float(present.min()),
        max=float(present.max()),
        integer=bool(np.all(present == np.round(present))),
        quantiles={f"{q:g}": float(v) for q, v in zip(QUANTILES, quantiles, strict=True)},
    )


def _categorical_feature(name: str, column: pd.Series, missing_rate: float, source: str) -> FeatureSpec:
    present = column[column.notna()]
    if present.empty:
        raise BadInput(f"{source}: column '{name}' has no values at all", "drop the column or fill it")
    text = _as_text(present)
    numeric = pd.to_numeric(text, errors="coerce")
    if numeric.notna().mean() >= NUMERIC_SHARE_FOR_TYPO:
        bad_row = int(np.flatnonzero(numeric.isna().to_numpy())[0])
        row_number = column.index.get_loc(present.index[bad_row]) + 1
        raise BadInput(
            f"{source}: column '{name}' is numeric but data row {row_number} holds {text.iloc[bad_row]!r}",
            "fix or blank that cell (blank means missing)",
        )
    categories = sorted(text.unique())
    looks_categorical = len(categories) <= MAX_CATEGORIES and len(categories) <= max(2, 0.5 * len(present))
    if not looks_categorical:
        raise BadInput(
            f"{source}: column '{name}' is text with {len(categories)} distinct values in {len(present)} rows, "
            "which does not look categorical",
            f"drop it, or encode it as numbers (at most {MAX_CATEGORIES} categories are accepted)",
        )
    return FeatureSpec(
        name=name, kind="categorical", dtype="string", missing_rate=missing_rate, categories=categories
    )


def _as_text(column: pd.Series) -> pd.Series:
    """Category values as stripped strings; missing stays missing."""
    return column.astype("string").str.strip()
