"""One pass over every partition: what the schema, the label, the split and the fingerprint need,
as small per-partition summaries merged in a tree (``merge``), never the rows themselves.

Counts, sums, minima and maxima are exact; quantiles come from ``sketch`` summaries (approximate,
with a stated rank error). Text columns keep at most MAX_CATEGORIES + 1 distinct values (one more is
already "not categorical"); a label keeps at most MAX_CLASSES + 1 distinct values per part.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np
import pandas as pd

from ..data.dataset import MAX_CLASSES
from ..data.schema import MAX_CATEGORIES
from . import sketch
from .frames import ParquetData
from .rows import TRAIN, assign, content_sums, row_hashes

_CAP_CATEGORIES = MAX_CATEGORIES + 1
_CAP_CLASSES = MAX_CLASSES + 1


@dataclass(frozen=True)
class ColumnStats:
    numeric: bool
    rows: int = 0
    missing: int = 0
    infinite: int = 0
    minimum: float = np.inf
    maximum: float = -np.inf
    integer: bool = True
    values: sketch.QuantileSketch = sketch.EMPTY  # all rows (the schema's quantiles)
    train_values: sketch.QuantileSketch = sketch.EMPTY  # train rows (the drift baseline's bin edges)
    categories: frozenset[str] = frozenset()  # text: distinct stripped values, capped
    numeric_texts: int = 0  # text: present values that read as numbers
    text_example: str | None = None  # text: one value that does not read as a number


@dataclass(frozen=True)
class LabelStats:
    numeric: bool
    # Per part (train, validation, test): rows by label value (None past the cap), and the count, mean
    # and sum of squared deviations of numeric labels.
    counts: tuple[dict | None, ...]
    moments: tuple[tuple[int, float, float], ...]
    missing: int = 0
    infinite: int = 0
    integer: bool = True


@dataclass(frozen=True)
class PartitionStats:
    rows: int
    features: dict[str, ColumnStats]
    label: LabelStats
    fingerprint: tuple[int, int]  # sums of row hashes (mod 2**64)
    decoded_bytes: int  # the partitions' size in memory as pandas holds them


def label_keys(target: pd.Series) -> np.ndarray:
    """Label values as the local trainer reads them: numbers as float64, anything else (booleans too) as text."""
    if pd.api.types.is_numeric_dtype(target) and not pd.api.types.is_bool_dtype(target):
        return target.to_numpy(dtype="float64", na_value=np.nan)
    return target.astype("string").to_numpy(dtype=object, na_value=None)


def partition_stats(frame: pd.DataFrame, label: str, seed: int) -> PartitionStats:
    hashes = row_hashes(frame)
    part, _ = assign(hashes, seed)
    train = part == TRAIN
    features = {str(name): _column_stats(frame[name], train) for name in frame.columns if str(name) != label}
    return PartitionStats(len(frame), features, _label_stats(frame[label], part), content_sums(hashes),
                          int(frame.memory_usage(deep=True, index=False).sum()))


def _column_stats(column: pd.Series, train: np.ndarray) -> ColumnStats:
    rows = len(column)
    if pd.api.types.is_bool_dtype(column) or pd.api.types.is_numeric_dtype(column):
        values = column.to_numpy(dtype="float64", na_value=np.nan)
        missing = np.isnan(values)
        infinite = np.isinf(values)
        finite = values[~missing & ~infinite]
        finite_or_nan = np.where(infinite, np.nan, values)
        return ColumnStats(
            numeric=True, rows=rows, missing=int(missing.sum()), infinite=int(infinite.sum()),
            minimum=float(finite.min()) if finite.size else np.inf, maximum=float(finite.max()) if finite.size else -np.inf,
            integer=bool(np.all(finite == np.round(finite))),
            # Two sorts (train, held out) and a merge instead of sorting all rows and the train rows again.
            values=sketch.merge([train_values := sketch.summarize(finite_or_nan[train]), sketch.summarize(finite_or_nan[~train])]),
            train_values=train_values,
        )
    present = column[column.notna()].astype("string").str.strip()
    numbers = pd.to_numeric(present, errors="coerce")
    not_numbers = present[numbers.isna().to_numpy()]
    distinct = present.drop_duplicates()
    return ColumnStats(
        numeric=False, rows=rows, missing=rows - len(present),
        categories=frozenset(distinct.iloc[:_CAP_CATEGORIES].tolist()),
        numeric_texts=int(numbers.notna().sum()),
        text_example=str(not_numbers.iloc[0]) if len(not_numbers) else None,
    )


def _label_stats(target: pd.Series, part: np.ndarray) -> LabelStats:
    keys = label_keys(target)
    numeric = keys.dtype == np.float64
    missing = np.isnan(keys) if numeric else pd.isna(keys)
    infinite = np.isinf(keys) if numeric else np.zeros(len(keys), bool)
    counts, moments = [], []
    for index in range(3):
        chosen = keys[(part == index) & ~missing & ~infinite]
        values, numbers = np.unique(chosen, return_counts=True)
        kept = dict(zip(values.tolist(), numbers.tolist(), strict=True)) if len(values) <= _CAP_CLASSES else None
        counts.append(kept)
        if numeric and chosen.size:
            mean = float(chosen.mean())
            moments.append((int(chosen.size), mean, float(((chosen - mean) ** 2).sum())))
        else:
            moments.append((0, 0.0, 0.0))
    present = keys[~missing & ~infinite]
    return LabelStats(
        numeric=numeric, missing=int(missing.sum()), infinite=int(infinite.sum()),
        integer=bool(np.all(present == np.round(present))) if numeric else False,
        counts=tuple(counts), moments=tuple(moments),  # type: ignore[arg-type]
    )


def summarize_partitions(data: ParquetData, indices: list[int], label: str, seed: int) -> PartitionStats:
    """A few partitions read one after the other in this task, summarised and merged in one level:
    a worker holds one decoded partition at a time, and the client a summary per group."""
    return merge([partition_stats(data.read_partition(index), label, seed) for index in indices])


def merge(parts: list[PartitionStats]) -> PartitionStats:
    first = parts[0]
    return PartitionStats(
        rows=sum(part.rows for part in parts),
        features={name: _merge_columns([part.features[name] for part in parts]) for name in first.features},
        label=_merge_labels([part.label for part in parts]),
        fingerprint=tuple(sum(part.fingerprint[i] for part in parts) % (1 << 64) for i in range(2)),  # type: ignore[arg-type]
        decoded_bytes=sum(part.decoded_bytes for part in parts),
    )


def _merge_columns(columns: list[ColumnStats]) -> ColumnStats:
    categories: frozenset[str] = frozenset().union(*(column.categories for column in columns))
    examples = [column.text_example for column in columns if column.text_example is not None]
    return replace(
        columns[0],
        rows=sum(column.rows for column in columns), missing=sum(column.missing for column in columns),
        infinite=sum(column.infinite for column in columns),
        minimum=min(column.minimum for column in columns), maximum=max(column.maximum for column in columns),
        integer=all(column.integer for column in columns),
        values=sketch.merge([column.values for column in columns]),
        train_values=sketch.merge([column.train_values for column in columns]),
        categories=frozenset(sorted(categories)[:_CAP_CATEGORIES]),
        numeric_texts=sum(column.numeric_texts for column in columns),
        text_example=examples[0] if examples else None,
    )


def _merge_labels(labels: list[LabelStats]) -> LabelStats:
    counts = []
    for index in range(3):
        merged: dict | None = {}
        for label in labels:
            part = label.counts[index]
            if part is None or merged is None:
                merged = None
                continue
            for value, number in part.items():
                merged[value] = merged.get(value, 0) + number
        counts.append(merged if merged is None or len(merged) <= _CAP_CLASSES else None)
    return LabelStats(
        numeric=labels[0].numeric, missing=sum(label.missing for label in labels),
        infinite=sum(label.infinite for label in labels), integer=all(label.integer for label in labels),
        counts=tuple(counts),  # type: ignore[arg-type]
        moments=tuple(_merge_moments([label.moments[index] for label in labels]) for index in range(3)),
    )


def _merge_moments(moments: list[tuple[int, float, float]]) -> tuple[int, float, float]:
    """Chan et al.'s parallel update: count, mean and sum of squared deviations of two groups."""
    count, mean, m2 = 0, 0.0, 0.0
    for other_count, other_mean, other_m2 in moments:
        if other_count == 0:
            continue
        total = count + other_count
        delta = other_mean - mean
        mean += delta * other_count / total
        m2 += other_m2 + delta * delta * count * other_count / total
        count = total
    return count, mean, m2
