"""The small datasets scikit-learn ships with its wheel, under ``bundled:NAME``. Nothing downloads."""

from __future__ import annotations

from collections.abc import Callable

import pandas as pd
from sklearn import datasets

from ..errors import BadInput

LABEL = "target"

_LOADERS: dict[str, Callable[..., object]] = {
    "breast-cancer": datasets.load_breast_cancer,
    "diabetes": datasets.load_diabetes,
    "digits": datasets.load_digits,
    "wine": datasets.load_wine,
}


def bundled_names() -> list[str]:
    return sorted(_LOADERS)


def load_bundled(name: str) -> pd.DataFrame:
    """The dataset as one frame: features under their scikit-learn names, the label under 'target'."""
    loader = _LOADERS.get(name)
    if loader is None:
        raise BadInput(f"unknown bundled dataset '{name}'", f"choose one of: {', '.join(bundled_names())}")
    frame = loader(as_frame=True).frame
    frame.columns = [str(column).replace(" ", "_") for column in frame.columns]
    return frame
