"""Which part of the split each row belongs to, decided by the row itself.

A row's part is a hash of its values (every column, label included, in a canonical form: numbers as
float64 bits, everything else as text), mixed with the seed, so it is the same whichever process reads it, however the files
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
_TEXT_KEY = "edgekit-rowhash1"  # pandas' hash_array wants a 16-character key
_SECOND = 0x9E3779B97F4A7C15  # a second, independent sum of the same hashes for the fingerprint
_PRIME = np.uint64(0x100000001B3)  # FNV-1's 64-bit prime


def _column_words(column: pd.Series) -> np.ndarray:
    """A column as 64-bit words: numbers (and booleans) by their float64 bits (-0.0 as 0.0, one NaN),
    anything else hashed as stripped-of-nothing text, whatever dtype the reader chose."""
    if pd.api.types.is_bool_dtype(column) or pd.api.types.is_numeric_dtype(column):
        values = column.to_numpy(dtype="float64", na_value=np.nan) + 0.0  # + 0.0 turns -0.0 into 0.0
        values[np.isnan(values)] = np.nan
        return values.view(np.uint64)
    text = column.astype("string").fillna("\x00missing").to_numpy(dtype=object)
    return pd.util.hash_array(text, hash_key=_TEXT_KEY, categorize=False)


def _mix(hashes: np.ndarray) -> np.ndarray:
    """splitmix64's finaliser: every output bit depends on every input bit."""
    hashes = hashes ^ (hashes >> np.uint64(33))
    hashes *= np.uint64(0xFF51AFD7ED558CCD)
    hashes ^= hashes >> np.uint64(33)
    hashes *= np.uint64(0xC4CEB9FE1A85EC53)
    hashes ^= hashes >> np.uint64(33)
    return hashes


def row_hashes(frame: pd.DataFrame) -> np.ndarray:
    """One 64-bit hash per row of its values in column order, independent of the seed."""
    hashes = np.full(len(frame), np.uint64(0xCBF29CE484222325))  # FNV-1's offset basis
    for name in frame.columns:
        hashes ^= _column_words(frame[name])
        hashes *= _PRIME  # wraps modulo 2**64
        hashes = _mix(hashes)
    return hashes


def assign(hashes: np.ndarray, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """(part per row: TRAIN/VALIDATION/TEST, uniform number per row in [0, 1)) from ``row_hashes``."""
    seeded = _mix(hashes ^ _mix(np.full(1, np.uint64(seed % 2**64)))[0])
    part = np.searchsorted(_EDGES, seeded % np.uint64(_BUCKETS), side="right").astype(np.int8)
    uniform = (seeded // np.uint64(_BUCKETS) % np.uint64(1 << 32)).astype(np.float64) / (1 << 32)
    return part, uniform


def content_sums(hashes: np.ndarray) -> tuple[int, int]:
    """Two 64-bit sums of row hashes: the same for the same rows in any order or partitioning."""
    return int(hashes.sum(dtype=np.uint64)), int(_mix(hashes ^ np.uint64(_SECOND)).sum(dtype=np.uint64))
