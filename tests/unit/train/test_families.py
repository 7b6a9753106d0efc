import dataclasses

import numpy as np
import pytest

from edgekit.errors import BadInput
from edgekit.train.families import family_names, get_family, register_family
from edgekit.train.space import Choice, FloatRange, IntRange, sample_params

EXPECTED = [
    "extra-trees", "gradient-boosting", "hist-gradient-boosting", "lightgbm", "linear", "logistic", "mlp",
    "random-forest", "xgboost",
]


def test_registry_lists_every_family():
    assert family_names() == EXPECTED


def test_registering_twice_is_an_error_unless_asked():
    family = get_family("xgboost")
    with pytest.raises(ValueError, match="already registered"):
        register_family(family)
    register_family(dataclasses.replace(family), replace=True)


def test_unknown_family_lists_the_known_ones():
    with pytest.raises(BadInput, match="unknown model family 'catboost'; choose one of: extra-trees, .*xgboost"):
        get_family("catboost")


def test_family_that_cannot_do_the_task_says_which_can():
    with pytest.raises(BadInput, match="'logistic' does not do regression; for regression choose one of:.*linear"):
        get_family("logistic", "regression")


@pytest.mark.parametrize("name", EXPECTED)
def test_defaults_and_samples_build_estimators(name):
    family = get_family(name)
    rng = np.random.default_rng(0)
    for task in sorted(family.tasks):
        family.build(task, family.defaults, 0)
        family.build(task, {**family.defaults, **sample_params(family.space, rng)}, 0)


def test_samples_stay_in_their_ranges_and_repeat_with_the_seed():
    space = {"n": IntRange(2, 4), "lr": FloatRange(1e-3, 1e-1, log=True), "kind": Choice(("a", "b"))}
    draws = [sample_params(space, np.random.default_rng(5)) for _ in range(2)]
    assert draws[0] == draws[1]
    many = [sample_params(space, rng) for rng in [np.random.default_rng(1)] for _ in range(200)]
    assert {d["n"] for d in many} == {2, 3, 4}
    assert all(1e-3 <= d["lr"] <= 1e-1 for d in many)
    assert {d["kind"] for d in many} == {"a", "b"}
