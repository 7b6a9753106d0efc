"""The pass after training, one task per partition: exact drift-baseline counts over the train rows,
the model's outputs on held-out rows (for metrics), and the test rows kept in the bundle.

Metrics are computed on the client from the held-out rows' labels and outputs: every validation and
test row up to EVAL_ROWS per part, beyond that a uniform sample of EVAL_ROWS drawn by each row's hash
(so the client holds at most a few numbers per row of that sample, never the features). The bundle's
test rows are the ``keep`` (bundle.TEST_ROWS) test rows with the smallest hash draws: a uniform sample.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from ..data.baseline import BASELINE_FORMAT, histogram
from .batches import Encoding, encode
from .frames import ParquetData
from .rows import TEST, TRAIN, VALIDATION

EVAL_ROWS = 1_000_000


@dataclass(frozen=True)
class PartitionResult:
    counts: list[np.ndarray]  # per feature: baseline bin (or category) counts of train rows
    missing: np.ndarray  # per feature: missing train values
    train_rows: int
    held_out: dict[int, tuple[np.ndarray, np.ndarray]]  # VALIDATION/TEST -> (y, outputs) of the sampled rows
    kept: tuple[np.ndarray, np.ndarray, np.ndarray]  # test rows drawn for the bundle: X, y, draw


def outputs(model: Any, task: str, X: np.ndarray) -> np.ndarray:
    """``train.metrics.model_outputs`` for edgekit's booster wrappers, without loading scikit-learn in
    every worker (~50 MiB of a worker's memory limit)."""
    if task == "classification":
        return np.asarray(model.predict_proba(X), dtype=np.float64)
    return np.asarray(model.predict(X), dtype=np.float64).reshape(-1)


def model_from_bytes(model_format: str, raw: bytes) -> Any:
    from ..train.boosters import LightGBMModel, XGBoostModel

    if model_format == "xgboost-ubj":
        import xgboost

        booster = xgboost.Booster()
        booster.load_model(bytearray(raw))
        return XGBoostModel(booster)
    import lightgbm

    return LightGBMModel(lightgbm.Booster(model_str=raw.decode()))


def evaluate_partition(frame: pd.DataFrame, encoding: Encoding, model_format: str, raw_model: bytes,
                       edges: list[np.ndarray | None], fractions: dict[int, float], keep: int) -> PartitionResult:
    batch = encode(frame, encoding)
    train = batch.X[batch.part == TRAIN].astype(np.float64)
    counts, missing = [], np.isnan(train).sum(axis=0)
    for index, feature in enumerate(encoding.schema.features):
        column = train[:, index]
        if edges[index] is None:  # categorical: one count per category code
            codes = column[~np.isnan(column)].astype(np.int64)
            counts.append(np.bincount(codes, minlength=len(feature.categories or [])))
        else:
            counts.append(histogram(column, edges[index]))
    model = model_from_bytes(model_format, raw_model)
    held_out = {}
    for part in (VALIDATION, TEST):
        rows = (batch.part == part) & (batch.uniform < fractions[part])
        if rows.any():
            held_out[part] = (batch.y[rows], outputs(model, encoding.task, batch.X[rows]))
        else:  # the shape a prediction would have, so the client can concatenate
            width = (0, len(encoding.classes or ())) if encoding.task == "classification" else (0,)
            held_out[part] = (batch.y[:0], np.empty(width))
    kept_rows = np.flatnonzero(batch.part == TEST)
    kept_rows = kept_rows[np.argsort(batch.uniform[kept_rows], kind="stable")[:keep]]
    kept = (batch.X[kept_rows], batch.y[kept_rows], batch.uniform[kept_rows])
    return PartitionResult(counts, missing, len(train), held_out, kept)


def evaluate_partitions(data: ParquetData, indices: list[int], encoding: Encoding, model_format: str, raw_model: bytes,
                        edges: list[np.ndarray | None], fractions: dict[int, float], keep: int) -> PartitionResult:
    """A few partitions read one after the other in this task, their results folded into one."""
    folded: PartitionResult | None = None
    for index in indices:
        result = evaluate_partition(data.read_partition(index), encoding, model_format, raw_model, edges, fractions, keep)
        folded = result if folded is None else _fold(folded, result, keep)
    assert folded is not None
    return folded


def _fold(one: PartitionResult, other: PartitionResult, keep: int) -> PartitionResult:
    draws = np.concatenate([one.kept[2], other.kept[2]])
    order = np.argsort(draws, kind="stable")[:keep]
    return PartitionResult(
        counts=[a + b for a, b in zip(one.counts, other.counts, strict=True)],
        missing=one.missing + other.missing,
        train_rows=one.train_rows + other.train_rows,
        held_out={part: (np.concatenate([one.held_out[part][0], other.held_out[part][0]]),
                         np.concatenate([one.held_out[part][1], other.held_out[part][1]])) for part in one.held_out},
        kept=tuple(np.concatenate([a, b])[order] for a, b in zip(one.kept, other.kept, strict=True)),  # type: ignore[arg-type]
    )


@dataclass(frozen=True)
class Evaluation:
    feature_baseline: dict[str, object]
    held_out: dict[int, tuple[np.ndarray, np.ndarray]]
    X: np.ndarray  # the kept test rows, in draw order
    y: np.ndarray


def combine(results: list[PartitionResult], encoding: Encoding, edges: list[np.ndarray | None], keep: int) -> Evaluation:
    features = []
    for index, feature in enumerate(encoding.schema.features):
        counts = sum(result.counts[index] for result in results)
        entry: dict[str, object] = ({"name": feature.name, "kind": "categorical", "categories": feature.categories}
                                    if edges[index] is None else
                                    {"name": feature.name, "kind": "numeric", "edges": edges[index].tolist()})  # type: ignore[union-attr]
        entry.update({"counts": np.asarray(counts).tolist(), "missing": int(sum(result.missing[index] for result in results))})
        features.append(entry)
    baseline = {"format_version": BASELINE_FORMAT, "rows": sum(result.train_rows for result in results), "features": features}
    held_out = {part: (np.concatenate([result.held_out[part][0] for result in results]),
                       np.concatenate([result.held_out[part][1] for result in results]))
                for part in (VALIDATION, TEST)}
    draws = np.concatenate([result.kept[2] for result in results])
    order = np.argsort(draws, kind="stable")[:keep]
    X = np.concatenate([result.kept[0] for result in results])[order]
    y = np.concatenate([result.kept[1] for result in results])[order]
    return Evaluation(baseline, held_out, X, y)
