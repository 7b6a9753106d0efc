"""Symmetric integer quantization with one scale: values ~ scale * q, |q| <= bound.

The C target's integer leaves (int16/int8) and int8 dense weights both use it."""

from __future__ import annotations

import numpy as np

BOUNDS = {"int16": 32767, "int8": 127}


def symmetric(values: np.ndarray, dtype: str) -> tuple[np.ndarray, float]:
    """(q as int64, scale) with the largest magnitude mapped to the bound; all-zero values get scale 1."""
    bound = BOUNDS[dtype]
    largest = float(np.max(np.abs(values), initial=0.0))
    scale = largest / bound if largest > 0 else 1.0
    return np.clip(np.rint(values / scale), -bound, bound).astype(np.int64), scale
