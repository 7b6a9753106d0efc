"""The model's inputs as the bundle's schema describes them (``schema.json``, copied into every
artifact): feature names and order, ranges seen in training, categories, whether values may be missing.

It turns named records (JSON objects, CSV columns) into the float rows every predictor takes, the
same way edgekit encoded the training data: a category becomes its index in the sorted category
list, an unknown category or an empty cell becomes NaN ("missing").
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import InvalidInput

SCHEMA_FILE = "schema.json"
MISSING_TEXT = frozenset({"", "nan", "NaN", "NA", "N/A", "null", "None"})


class RowError(InvalidInput):
    """One input row cannot be turned into model input; the other rows are unaffected."""


@dataclass(frozen=True)
class InputSchema:
    names: tuple[str, ...]
    low: np.ndarray  # float32 [features]; a category column's lowest code, 0
    high: np.ndarray  # float32 [features]; a category column's highest code
    missing_seen: np.ndarray  # bool [features]: training data had missing values here
    categories: dict[int, tuple[str, ...]]  # column index -> sorted categories

    @staticmethod
    def from_document(document: dict[str, Any]) -> InputSchema:
        try:
            features = document["features"]
            low, high, categories = [], [], {}
            for index, feature in enumerate(features):
                if feature["kind"] == "categorical":
                    categories[index] = tuple(feature["categories"] or ())
                    low.append(0.0)
                    high.append(max(len(categories[index]) - 1, 0))
                else:
                    low.append(-math.inf if feature.get("min") is None else feature["min"])
                    high.append(math.inf if feature.get("max") is None else feature["max"])
            return InputSchema(
                names=tuple(str(feature["name"]) for feature in features),
                # float32 like the rows: the bounds are the training extremes as the model saw them
                low=np.asarray(low, dtype=np.float32),
                high=np.asarray(high, dtype=np.float32),
                missing_seen=np.asarray([float(feature.get("missing_rate") or 0) > 0 for feature in features]),
                categories=categories,
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise InvalidInput(f"schema.json is malformed ({exc.__class__.__name__}: {exc})", "recompile the artifact") from exc

    @staticmethod
    def load(path: str | Path) -> InputSchema:
        return InputSchema.from_document(json.loads(Path(path).read_text(encoding="utf-8")))

    @property
    def features(self) -> int:
        return len(self.names)

    def encode_record(self, record: Any) -> tuple[np.ndarray, np.ndarray]:
        """One JSON record (an object by feature name, or an array in feature order) as a float32
        row, and the cells whose category was unknown (bool). Raises RowError for anything else."""
        if isinstance(record, dict):
            absent = [name for name in self.names if name not in record]
            if absent:
                shown = ", ".join(absent[:3]) + (f" and {len(absent) - 3} more" if len(absent) > 3 else "")
                raise RowError(f"the row lacks feature {shown}", "send every feature of the schema (null for missing)")
            values = [record[name] for name in self.names]
        elif isinstance(record, list):
            if len(record) != self.features:
                raise RowError(f"expected {self.features} values, got {len(record)}", "send one value per feature, in schema order")
            values = record
        else:
            raise RowError(f"a row must be a JSON object or array, not {type(record).__name__}", "send {\"feature\": value, ...}")
        row = np.empty(self.features, dtype=np.float32)
        unknown = np.zeros(self.features, dtype=bool)
        codes = []
        for index, value in enumerate(values):
            code = self._encode_value(index, value)
            if code is None:
                unknown[index] = True
                code = math.nan
            codes.append(code)
        with np.errstate(over="ignore"):  # beyond float32 is +-inf, as the model gets it: no warning
            row[:] = codes
        return row, unknown

    def _encode_value(self, index: int, value: Any) -> float | None:
        """A value as the model's float; None for an unknown category."""
        name = self.names[index]
        if value is None:
            return math.nan
        if isinstance(value, bool) or not isinstance(value, int | float | str):
            raise RowError(f"feature {name} holds {type(value).__name__} {value!r}", "send a number, a category or null")
        if index in self.categories:
            text = str(value).strip()
            if text in MISSING_TEXT:
                return math.nan
            categories = self.categories[index]
            position = _find(categories, text)
            if position is None and isinstance(value, int | float) and float(value).is_integer():
                position = _find(categories, str(int(value)))  # 3 for the category "3"
            return None if position is None else float(position)
        if isinstance(value, str):
            text = value.strip()
            if text in MISSING_TEXT:
                return math.nan
            try:
                return float(text)
            except ValueError:
                raise RowError(f"feature {name} is numeric but holds {value!r}", "send a number or null") from None
        return float(value)

    def encode_columns(self, columns: dict[str, np.ndarray], count: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Columns by name (text cells, or numbers) as float32 rows [count, features].

        Returns (rows, unknown-category cells [count, features], error per row: '' when fine).
        Columns not in the schema are ignored; a feature without a column is an error for the file.
        Vectorised per column; only a column holding an unparsable number is walked cell by cell.
        """
        absent = [name for name in self.names if name not in columns]
        if absent:
            raise InvalidInput(
                f"the input has no column for feature {', '.join(absent[:3])}" + (f" and {len(absent) - 3} more" if len(absent) > 3 else ""),
                f"the header must name every feature: {', '.join(self.names[:5])}{', ...' if self.features > 5 else ''}",
            )
        rows = np.empty((count, self.features), dtype=np.float32)
        unknown = np.zeros((count, self.features), dtype=bool)
        errors = np.full(count, "", dtype=object)
        with np.errstate(over="ignore"):  # beyond float32 is +-inf, as the model gets it: no warning
            self._encode_columns(columns, rows, unknown, errors)
        return rows, unknown, errors

    def _encode_columns(self, columns: dict[str, np.ndarray], rows: np.ndarray, unknown: np.ndarray, errors: np.ndarray) -> None:
        count = len(rows)
        for index, name in enumerate(self.names):
            column = np.asarray(columns[name])
            if column.dtype.kind in "fiub" and index not in self.categories:
                rows[:, index] = column
                continue
            text = np.char.strip(column.astype(str))
            missing = np.isin(text, list(MISSING_TEXT))
            if index in self.categories:
                codes = _codes(self.categories[index], text)
                unknown[:, index] = (codes < 0) & ~missing
                rows[:, index] = np.where(codes < 0, np.float32(np.nan), codes)
                continue
            numbers = np.where(missing, "nan", text)
            try:
                rows[:, index] = numbers.astype(np.float64)
            except ValueError:
                for row in range(count):  # the error path: find which cells are not numbers
                    try:
                        rows[row, index] = float(numbers[row])
                    except ValueError:
                        rows[row, index] = np.nan
                        if not errors[row]:
                            errors[row] = f"feature {name} is numeric but holds {str(numbers[row])[:40]!r}"


def _find(categories: tuple[str, ...], text: str) -> int | None:
    position = int(np.searchsorted(categories, text)) if categories else 0
    return position if position < len(categories) and categories[position] == text else None


def _codes(categories: tuple[str, ...], text: np.ndarray) -> np.ndarray:
    """Index of each text in the sorted categories, -1 when absent."""
    if not categories:
        return np.full(text.shape, -1.0, dtype=np.float32)
    known = np.asarray(categories)
    position = np.searchsorted(known, text).clip(0, len(known) - 1)
    return np.where(known[position] == text, position, -1).astype(np.float32)
