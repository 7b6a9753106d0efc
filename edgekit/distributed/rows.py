"""Which part of the split each row belongs to, decided by the row itself.

A row's part is a hash of its values (every column, label included, in a canonical form: numbers as
float64, everything else as text), so it is the same whichever process reads it, however the files
are cut into partitions, and identical rows always land in the same part (no leak between train and
test). ``bucket = hash % 10000``: below 7000 train, below 8500 validation, else test (70/15/15, as
the local split; not stratified, which at Dask sizes changes each part's class shares by a rounding
error). The hash's remaining bits give each row a uniform number in [0, 1) used to draw samples.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from ..data.split import FRACTIONS

TRAIN, VALIDATION, TEST = 0, 1, 2
PARTS = ("train", "validation", "test")
_BUCKETS = 10_000
_EDGES = np.array([round(FRACTIONS[0] * _BUCKETS), round((FRACTIONS[0] + FRACTIONS[1]) * _BUCKETS)])
# Fixed keys for the content fingerprint (the split's key comes from the seed).
_FINGERPRINT_KEYS = ("edgekit-content1", "edgekit-content2")


def canonical(frame: pd.DataFrame) -> pd.DataFrame:
    """The rows with every column as float64 (numbers, booleans) or text, whatever the reader chose."""
    columns = {}
    for name in frame.columns:
        column = frame[name]
        if pd.api.types.is_bool_dtype(column) or pd.api.types.is_numeric_dtype(column):
            columns[str(name)] = column.to_numpy(dtype="float64", na_value=np.nan)
        else:
            columns[str(name)] = column.astype("string").fillna("\x00missing").to_numpy(dtype=object)
    return pd.DataFrame(columns)


def _hash(rows: pd.DataFrame, key: str) -> np.ndarray:
    return pd.util.hash_pandas_object(rows, index=False, hash_key=key).to_numpy()


def _split_key(seed: int) -> str:
    return f"edgekit{seed % 10**9:09d}"  # hash_pandas_object wants 16 characters


def assign(rows: pd.DataFrame, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """(part per row: TRAIN/VALIDATION/TEST, uniform number per row in [0, 1)) of canonical rows."""
    hashes = _hash(rows, _split_key(seed))
    part = np.searchsorted(_EDGES, hashes % _BUCKETS, side="right").astype(np.int8)
    uniform = (hashes // _BUCKETS % (1 << 32)).astype(np.float64) / (1 << 32)
    return part, uniform


def content_sums(rows: pd.DataFrame) -> tuple[int, int]:
    """Two 64-bit sums of row hashes: the same for the same rows in any order or partitioning."""
    return tuple(int(_hash(rows, key).sum(dtype=np.uint64)) for key in _FINGERPRINT_KEYS)  # type: ignore[return-value]
