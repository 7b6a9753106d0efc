"""The small datasets scikit-learn ships with its wheel, under ``bundled:NAME``. Nothing downloads."""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..errors import BadInput

if TYPE_CHECKING:
    import pandas as pd

LABEL = "target"

# name -> its loader in sklearn.datasets (imported when a dataset is loaded, not to list the names)
_LOADERS = {
    "breast-cancer": "load_breast_cancer",
    "diabetes": "load_diabetes",
    "digits": "load_digits",
    "wine": "load_wine",
}


def bundled_names() -> list[str]:
    return sorted(_LOADERS)


def load_bundled(name: str) -> pd.DataFrame:
    """The dataset as one frame: features under their scikit-learn names, the label under 'target'."""
    loader = _LOADERS.get(name)
    if loader is None:
        raise BadInput(f"unknown bundled dataset '{name}'", f"choose one of: {', '.join(bundled_names())}")
    from sklearn import datasets

    frame = getattr(datasets, loader)(as_frame=True).frame
    frame.columns = [str(column).replace(" ", "_") for column in frame.columns]
    return frame
