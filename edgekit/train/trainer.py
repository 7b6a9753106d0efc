"""Fit one model family on a prepared dataset: split, (tune,) fit, evaluate on held-out rows."""

from __future__ import annotations

import math
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
from sklearn.exceptions import ConvergenceWarning

from ..data.dataset import Dataset
from ..data.split import Split, check_splittable, split_rows
from .families import Family, get_family
from .metrics import OBJECTIVE, constant_predictor_warning, evaluate, model_outputs
from .tuning import SearchResult, Trial, random_search


@dataclass(frozen=True)
class TrainedModel:
    dataset: Dataset
    family: Family
    model: Any
    params: dict[str, Any]
    split: Split
    seed: int
    metrics: dict[str, dict[str, float | None]]  # per split: "validation", "test"
    search: SearchResult | None
    seconds: float
    warnings: tuple[str, ...] = ()  # what `edgekit train` says at its end (a model no better than a constant)

    def outputs(self, X: np.ndarray) -> np.ndarray:
        return model_outputs(self.model, self.dataset.task, X)


def train_model(
    dataset: Dataset,
    family_name: str = "xgboost",
    *,
    tune: int = 0,
    seed: int = 0,
    params: dict[str, Any] | None = None,
    on_trial: Callable[[Trial], None] | None = None,
) -> TrainedModel:
    """``params`` override the family's defaults (and cannot be combined with tuning)."""
    family = get_family(family_name, dataset.task)
    check_splittable(dataset.y, dataset.task, dataset.classes, dataset.source)
    split = split_rows(dataset.y, dataset.task, seed)
    X_train, y_train = dataset.X[split.train], dataset.y[split.train]
    X_val, y_val = dataset.X[split.validation], dataset.y[split.validation]
    objective = OBJECTIVE[dataset.task]

    def fit_and_score(params: dict[str, Any]) -> tuple[Any, float]:
        model = family.build(dataset.task, params, seed)
        with warnings.catch_warnings():
            # A few MLP/logistic trials stop at max_iter; their validation score already says how well.
            warnings.simplefilter("ignore", ConvergenceWarning)
            model = family.fit(model, X_train, y_train)
        score = evaluate(dataset.task, y_val, model_outputs(model, dataset.task, X_val))[objective]
        return model, score if score is not None and math.isfinite(score) else math.inf

    started = time.perf_counter()
    if tune > 0:
        search = random_search(family, tune, fit_and_score, seed, on_trial)
        model, params = search.model, search.best.params
    else:
        search = None
        params = {**family.defaults, **(params or {})}
        model, _ = fit_and_score(params)
    seconds = time.perf_counter() - started

    metrics = {
        name: evaluate(dataset.task, dataset.y[rows], model_outputs(model, dataset.task, dataset.X[rows]))
        for name, rows in (("validation", split.validation), ("test", split.test))
    }
    useless = constant_predictor_warning(dataset.task, y_train, dataset.y[split.test], metrics["test"], dataset.classes)
    return TrainedModel(dataset, family, model, params, split, seed, metrics, search, seconds,
                        (useless,) if useless else ())
