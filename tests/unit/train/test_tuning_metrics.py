import math

import numpy as np
import pytest

from edgekit.train.families import get_family
from edgekit.train.metrics import classification_metrics, regression_metrics
from edgekit.train.tuning import random_search


def test_first_trial_uses_the_defaults_and_the_lowest_score_wins():
    family = get_family("xgboost")
    seen = []
    scores = iter([0.5, 0.2, math.inf, 0.3])
    result = random_search(family, 4, lambda params: (f"model-{len(seen)}", next(scores)), seed=3, on_trial=seen.append)
    assert result.trials[0].params == family.defaults
    assert (result.best.number, result.model) == (1, "model-1")
    assert [trial.number for trial in seen] == [0, 1, 2, 3]
    assert result.trials[1].params != family.defaults


def test_classification_metrics_on_a_known_case():
    y = np.array([0, 1, 1, 0])
    proba = np.array([[0.9, 0.1], [0.2, 0.8], [0.6, 0.4], [0.7, 0.3]])
    result = classification_metrics(y, proba)
    assert result["accuracy"] == 0.75
    assert result["roc_auc"] == 1.0  # both positives outscore both negatives
    assert result["f1"] == pytest.approx(2 / 3)
    assert result["log_loss"] == pytest.approx(-np.mean(np.log([0.9, 0.8, 0.4, 0.7])))


def test_roc_auc_is_none_when_a_class_is_absent():
    proba = np.array([[0.2, 0.3, 0.5], [0.6, 0.3, 0.1]])
    assert classification_metrics(np.array([2, 0]), proba)["roc_auc"] is None


def test_regression_metrics_on_a_known_case():
    result = regression_metrics(np.array([1.0, 2.0, 3.0]), np.array([1.0, 2.0, 5.0]))
    assert result["mae"] == pytest.approx(2 / 3)
    assert result["rmse"] == pytest.approx(math.sqrt(4 / 3))
    assert result["r2"] == pytest.approx(1 - 4 / 2)
