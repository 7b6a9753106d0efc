"""Random search over a family's space, scored on the validation split.

Trial 0 always uses the family's defaults, so tuning never returns something worse (on validation)
than not tuning.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from .families import Family
from .space import sample_params

# fit_and_score(params) -> (fitted model, validation score to minimise)
FitAndScore = Callable[[dict[str, Any]], tuple[Any, float]]


@dataclass(frozen=True)
class Trial:
    number: int
    params: dict[str, Any]
    score: float


@dataclass(frozen=True)
class SearchResult:
    best: Trial
    model: Any
    trials: list[Trial]


def random_search(
    family: Family,
    trials: int,
    fit_and_score: FitAndScore,
    seed: int,
    on_trial: Callable[[Trial], None] | None = None,
) -> SearchResult:
    rng = np.random.default_rng(seed)
    history: list[Trial] = []
    best: Trial | None = None
    best_model: Any = None
    for number in range(max(trials, 1)):
        params = dict(family.defaults) if number == 0 else {**family.defaults, **sample_params(family.space, rng)}
        model, score = fit_and_score(params)
        trial = Trial(number, params, score)
        history.append(trial)
        if best is None or score < best.score:
            best, best_model = trial, model
        if on_trial is not None:
            on_trial(trial)
    assert best is not None
    return SearchResult(best, best_model, history)
