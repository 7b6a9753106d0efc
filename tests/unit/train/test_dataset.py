import numpy as np
import pandas as pd
import pytest

from edgekit.data.dataset import prepare_dataset
from edgekit.data.sources import Table
from edgekit.errors import BadInput


def _table(frame: pd.DataFrame, default_label: str | None = None) -> Table:
    return Table(frame, "t.csv", "t", default_label)


def test_label_named_target_is_found_and_integer_labels_become_classes():
    frame = pd.DataFrame({"x": np.arange(30.0), "target": [0, 1, 2] * 10})
    dataset = prepare_dataset(_table(frame))
    assert (dataset.label, dataset.task, dataset.classes) == ("target", "classification", [0, 1, 2])
    assert dataset.X.shape == (30, 1) and dataset.y.dtype == np.int64


def test_float_label_is_regression_and_string_label_is_classification():
    frame = pd.DataFrame({"x": np.arange(30.0), "price": np.linspace(0, 1, 30), "kind": ["b", "a"] * 15})
    assert prepare_dataset(_table(frame), label="price").task == "regression"
    dataset = prepare_dataset(_table(frame), label="kind")
    assert dataset.classes == ["a", "b"] and dataset.y[:2].tolist() == [1, 0]


def test_missing_label_column_lists_the_columns():
    with pytest.raises(BadInput, match="label column 'y' not found; columns are: x, z"):
        prepare_dataset(_table(pd.DataFrame({"x": [1], "z": [2]})), label="y")


def test_no_label_given_or_found_asks_for_one():
    with pytest.raises(BadInput, match="pass --label COL"):
        prepare_dataset(_table(pd.DataFrame({"x": [1], "z": [2]})))


def test_label_with_nan_names_the_first_row():
    frame = pd.DataFrame({"x": [1.0, 2.0, 3.0], "label": [1.0, np.nan, np.nan]})
    with pytest.raises(BadInput, match=r"label 'label' is empty at data row 2 \(2 rows in all\)"):
        prepare_dataset(_table(frame))


def test_single_class_is_refused():
    with pytest.raises(BadInput, match="single class"):
        prepare_dataset(_table(pd.DataFrame({"x": [1.0, 2.0], "label": ["ok", "ok"]})))


def test_unknown_task_is_refused():
    with pytest.raises(BadInput, match="unknown task 'ranking'"):
        prepare_dataset(_table(pd.DataFrame({"x": [1.0], "label": [1]})), task="ranking")
