"""One partition as a model sees it: the encoded feature rows, the label as class index or number,
and each row's part of the split. Every pass (statistics aside) reads data through here."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from ..data.schema import Schema
from .frames import ParquetData
from .rows import assign, row_hashes
from .stats import label_keys


@dataclass(frozen=True)
class Encoding:
    """What a worker needs to encode rows: sent to every task (a few kilobytes)."""

    schema: Schema
    task: str
    classes: list | None
    seed: int

    def label(self, target: pd.Series) -> np.ndarray:
        keys = label_keys(target)
        if self.task == "regression":
            return keys.astype(np.float64)
        known = [float(value) for value in self.classes] if keys.dtype == np.float64 else [str(value) for value in self.classes or ()]
        return pd.Index(known).get_indexer(keys).astype(np.int64)


@dataclass(frozen=True)
class Batch:
    X: np.ndarray  # float32, categorical codes, NaN = missing
    y: np.ndarray  # class index (int64) or target (float64)
    part: np.ndarray  # TRAIN / VALIDATION / TEST
    uniform: np.ndarray  # a per-row number in [0, 1) for drawing samples


def encode(frame: pd.DataFrame, encoding: Encoding) -> Batch:
    part, uniform = assign(row_hashes(frame), encoding.seed)
    return Batch(encoding.schema.encode(frame), encoding.label(frame[encoding.schema.label]), part, uniform)


def read_partition(data: ParquetData, index: int, encoding: Encoding) -> Batch:
    """Partition ``index`` read and encoded here, in this process (a worker's training task)."""
    return encode(data.read_partition(index), encoding)
