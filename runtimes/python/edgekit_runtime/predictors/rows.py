"""Input rows as the one layout every predictor takes: C-contiguous float32 [n, features]."""

from __future__ import annotations

from typing import Any

import numpy as np

from ..errors import InvalidInput


def as_rows(rows: Any, features: int) -> np.ndarray:
    """Rows as a C-contiguous float32 matrix [n, features]; one clear error for anything else."""
    array = np.asarray(rows)
    if array.dtype.kind not in "fiub":
        raise InvalidInput(f"rows must be numbers, got dtype {array.dtype}", "encode categories as the schema says")
    if array.ndim == 1:
        array = array.reshape(1, -1)
    if array.ndim != 2 or array.shape[1] != features:
        raise InvalidInput(
            f"expected rows of {features} features, got shape {tuple(array.shape)}",
            "pass one value per feature, in the artifact's feature order",
        )
    return np.ascontiguousarray(array, dtype=np.float32)
