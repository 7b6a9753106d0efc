"""What every reader returns: the model in the form a bundle stores, and what it says about itself."""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import BadInput

SUPPORTED = (
    "XGBoost (Booster, XGBClassifier, XGBRegressor; .json/.ubj/legacy binary files), "
    "LightGBM (Booster, LGBMClassifier, LGBMRegressor; text model files), "
    "scikit-learn (.skops files, or pickles with --trust-pickle) RandomForest, ExtraTrees, GradientBoosting, "
    "HistGradientBoosting, LogisticRegression, Ridge, LinearRegression, MLP, optionally in a Pipeline "
    "behind SimpleImputer and StandardScaler or MinMaxScaler"
)


@dataclass(frozen=True)
class ImportedModel:
    library: str  # "xgboost", "lightgbm" or "scikit-learn"
    family: str  # the edgekit family whose compilers take it
    model: Any  # what the bundle stores and runs: a booster wrapper or a fitted estimator
    task: str
    classes: list[Any] | None
    n_features: int
    feature_names: list[str] | None  # as the model stored them; None when it has none
    # The user's own predict, in edgekit's output form: the import checks the stored form against it.
    original_outputs: Callable[[np.ndarray], np.ndarray]
    details: dict[str, Any] = field(default_factory=dict)  # objective, trees used, trained-with versions
    model_format: str | None = None  # how the bundle stores it, when not as its family does


def file_identity(path: Path, model_format: str) -> dict[str, Any]:
    return {"file": path.name, "sha256": hashlib.sha256(path.read_bytes()).hexdigest(), "format": model_format}


def refuse_task(given: str | None, model_task: str, what: str) -> None:
    if given is not None and given != model_task:
        raise BadInput(f"--task {given}: {what} is a {model_task} model", f"drop --task or pass --task {model_task}")


def unsupported(kind: str) -> BadInput:
    return BadInput(f"edgekit cannot import {kind}", f"supported: {SUPPORTED}")
