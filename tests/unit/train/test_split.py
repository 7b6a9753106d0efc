import numpy as np
import pytest

from edgekit.data.split import check_splittable, split_rows
from edgekit.errors import BadInput


def test_split_is_seeded_disjoint_complete_and_stratified():
    y = np.array([0] * 80 + [1] * 20)
    first, again = split_rows(y, "classification", 7), split_rows(y, "classification", 7)
    assert all(np.array_equal(a, b) for a, b in zip(vars(first).values(), vars(again).values(), strict=True))
    parts = np.concatenate([first.train, first.validation, first.test])
    assert sorted(parts.tolist()) == list(range(100))
    assert (len(first.train), len(first.validation), len(first.test)) == (70, 15, 15)
    assert y[first.test].mean() == pytest.approx(0.2, abs=0.07)
    assert not np.array_equal(split_rows(y, "classification", 8).test, first.test)


def test_too_few_rows_is_refused():
    with pytest.raises(BadInput, match="has 12 rows; a 70/15/15 train/validation/test split needs at least 20"):
        check_splittable(np.array([0, 1] * 6), "classification", [0, 1], "t.csv")


def test_a_class_with_too_few_rows_is_named():
    y = np.array([0] * 30 + [1] * 2)
    with pytest.raises(BadInput, match="class 'rare' has 2 rows"):
        check_splittable(y, "classification", ["common", "rare"], "t.csv")


def test_more_classes_than_validation_rows_is_refused():
    y = np.repeat(np.arange(8), 3)
    with pytest.raises(BadInput, match="fewer than the 8 classes"):
        check_splittable(y, "classification", list(range(8)), "t.csv")
