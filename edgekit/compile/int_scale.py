"""Symmetric integer quantization with one scale: values ~ scale * q, |q| <= bound.

The C target's integer leaves (int16/int8) and int8 dense weights use it, and the TFLite target's
int8 weights (per output channel or per layer)."""

from __future__ import annotations

import numpy as np

BOUNDS = {"int16": 32767, "int8": 127}


def symmetric(values: np.ndarray, dtype: str) -> tuple[np.ndarray, float]:
    """(q as int64, scale) with the largest magnitude mapped to the bound; all-zero values get scale 1."""
    q, scales = symmetric_rows(np.asarray(values).reshape(1, -1), dtype)
    return q.reshape(np.shape(values)), float(scales[0])


def symmetric_rows(values: np.ndarray, dtype: str) -> tuple[np.ndarray, np.ndarray]:
    """Per row of a matrix (one scale per output channel): (q as int64, scales)."""
    bound = BOUNDS[dtype]
    largest = np.max(np.abs(values), axis=1, initial=0.0)
    scales = np.where(largest > 0, largest / bound, 1.0)
    return np.clip(np.rint(values / scales[:, None]), -bound, bound).astype(np.int64), scales
