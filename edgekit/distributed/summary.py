"""From merged partition statistics to what a local run infers from its whole table: the task, the
classes and the feature schema, with the same one-line errors (row numbers aside: a distributed pass
names the column and a value instead)."""

from __future__ import annotations

import numpy as np

from ..data.dataset import MAX_CLASSES, MAX_INFERRED_CLASSES, TASKS, Task
from ..data.schema import MAX_CATEGORIES, NUMERIC_SHARE_FOR_TYPO, QUANTILES, FeatureSpec, Schema
from ..data.split import MIN_PER_CLASS, MIN_ROWS
from ..errors import BadInput
from . import sketch
from .stats import ColumnStats, LabelStats, PartitionStats


def choose_task(label: str, stats: LabelStats, task: str | None, source: str) -> Task:
    if stats.missing:
        raise BadInput(f"{source}: label '{label}' is empty in {stats.missing} rows", "fill in or drop the rows without a label")
    if task is not None:
        if task not in TASKS:
            raise BadInput(f"unknown task '{task}'", f"choose one of: {', '.join(TASKS)}")
        if task == "regression" and not stats.numeric:
            raise BadInput(f"{source}: regression needs a numeric label, '{label}' is text", "use --task classification")
        return task  # type: ignore[return-value]
    if not stats.numeric:
        return "classification"
    distinct = _all_counts(stats)
    if stats.integer and distinct is not None and len(distinct) <= MAX_INFERRED_CLASSES:
        return "classification"
    return "regression"


def _all_counts(stats: LabelStats) -> dict | None:
    if any(part is None for part in stats.counts):
        return None
    merged: dict = {}
    for part in stats.counts:
        for value, number in part.items():  # type: ignore[union-attr]
            merged[value] = merged.get(value, 0) + number
    return merged


def classes_of(label: str, stats: LabelStats, task: Task, rows: int, source: str) -> list | None:
    """The class values in index order (JSON-native), after the same checks as a local split."""
    if rows < MIN_ROWS:
        raise BadInput(f"{source}: has {rows} rows; a train/validation/test split needs at least {MIN_ROWS}", "add rows")
    if task == "regression":
        if stats.infinite:
            raise BadInput(f"{source}: label '{label}' has infinite values", "replace them with finite numbers")
        count, _, m2 = stats.moments[0]
        if count == 0 or m2 == 0:
            raise BadInput(f"{source}: label '{label}' has a single value in the train split", "a model needs a varying target")
        return None
    distinct = _all_counts(stats)
    if distinct is None or len(distinct) > MAX_CLASSES:
        raise BadInput(f"{source}: label '{label}' has more than {MAX_CLASSES} classes", "use --task regression for a numeric quantity")
    values = sorted(distinct)
    classes = [int(v) if v == round(v) else float(v) for v in values] if stats.numeric else [str(v) for v in values]
    if len(classes) < 2:
        raise BadInput(f"{source}: label '{label}' has a single class ({classes[0]!r})", "a classifier needs rows of at least two classes")
    for value, name in zip(values, classes, strict=True):
        if distinct[value] < MIN_PER_CLASS:
            raise BadInput(f"{source}: class {name!r} has {distinct[value]} rows; the split needs at least {MIN_PER_CLASS}",
                           "add rows of that class or drop it")
        if not stats.counts[0].get(value):  # type: ignore[union-attr]
            raise BadInput(f"{source}: no row of class {name!r} fell in the train split", "add rows of that class")
    return classes


def schema_of(stats: PartitionStats, label: str, dtypes: dict[str, str], source: str) -> Schema:
    if not stats.features:
        raise BadInput(f"{source}: no feature columns besides the label '{label}'", "add input columns")
    return Schema(label=label, features=[_feature(name, column, dtypes.get(name, 'float64'), source) for name, column in stats.features.items()])


def _feature(name: str, column: ColumnStats, dtype: str, source: str) -> FeatureSpec:
    missing_rate = column.missing / column.rows if column.rows else 0.0
    if column.numeric:
        if column.infinite:
            raise BadInput(f"{source}: column '{name}' has {column.infinite} infinite values",
                           "replace them with finite numbers or leave the cells empty for 'missing'")
        if column.values.count == 0:
            raise BadInput(f"{source}: column '{name}' has no values at all", "drop the column or fill it")
        values = sketch.quantiles(column.values, QUANTILES)
        return FeatureSpec(
            name=name, kind="numeric", dtype=dtype, missing_rate=missing_rate, min=column.minimum,
            max=column.maximum, integer=column.integer,
            # Clipped: an interpolated quantile never leaves the exact range.
            quantiles={f"{q:g}": float(np.clip(v, column.minimum, column.maximum)) for q, v in zip(QUANTILES, values, strict=True)},
        )
    present = column.rows - column.missing
    if present == 0:
        raise BadInput(f"{source}: column '{name}' has no values at all", "drop the column or fill it")
    if column.numeric_texts / present >= NUMERIC_SHARE_FOR_TYPO:
        raise BadInput(f"{source}: column '{name}' is numeric but holds {column.text_example!r}",
                       "fix or blank those cells (blank means missing)")
    categories = sorted(column.categories)
    if len(categories) > MAX_CATEGORIES or len(categories) > max(2, 0.5 * present):
        raise BadInput(
            f"{source}: column '{name}' is text with {len(categories)}{'+' if len(categories) > MAX_CATEGORIES else ''} "
            f"distinct values in {present} rows, which does not look categorical",
            f"drop it, or encode it as numbers (at most {MAX_CATEGORIES} categories are accepted)",
        )
    return FeatureSpec(name=name, kind="categorical", dtype="string", missing_rate=missing_rate, categories=categories)
