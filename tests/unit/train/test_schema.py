import math

import numpy as np
import pandas as pd
import pytest

from edgekit.data.schema import MAX_CATEGORIES, infer_schema
from edgekit.errors import BadInput


def test_numeric_and_categorical_columns_are_described():
    frame = pd.DataFrame({"temp": [1.0, 2.0, np.nan, 4.0], "kind": ["a", "b", "a", None]})
    schema = infer_schema(frame, "y", "t.csv")
    temp, kind = schema.features
    assert (temp.kind, temp.min, temp.max, temp.missing_rate) == ("numeric", 1.0, 4.0, 0.25)
    assert temp.quantiles["0.5"] == 2.0 and temp.integer
    assert (kind.kind, kind.categories, kind.missing_rate) == ("categorical", ["a", "b"], 0.25)


def test_encode_maps_categories_to_codes_and_unknown_or_missing_to_nan():
    schema = infer_schema(pd.DataFrame({"kind": ["pump", "fan", "pump"], "x": [1, 2, 3]}), "y", "t")
    X = schema.encode(pd.DataFrame({"kind": ["fan", "pump", "valve", None], "x": [1, 2, 3, None]}))
    assert X.dtype == np.float32
    assert X[:2, 0].tolist() == [0.0, 1.0]
    assert math.isnan(X[2, 0]) and math.isnan(X[3, 0]) and math.isnan(X[3, 1])


def test_encode_names_absent_columns():
    schema = infer_schema(pd.DataFrame({"a": [1.0], "b": [2.0]}), "y", "t")
    with pytest.raises(BadInput, match=r"lacks feature columns \['b'\]"):
        schema.encode(pd.DataFrame({"a": [1.0]}))


def test_text_in_a_numeric_column_names_the_row():
    values = [str(v) for v in range(30)]
    values[17] = "n/a?"
    with pytest.raises(BadInput, match=r"column 'reading' is numeric but data row 18 holds 'n/a\?'"):
        infer_schema(pd.DataFrame({"reading": values}), "y", "t.csv")


def test_free_text_column_is_refused():
    frame = pd.DataFrame({"comment": [f"note number {i}" for i in range(MAX_CATEGORIES + 10)]})
    with pytest.raises(BadInput, match="column 'comment' is text with 60 distinct values.*does not look categorical"):
        infer_schema(frame, "y", "t.csv")


def test_infinite_value_is_refused_with_its_row():
    with pytest.raises(BadInput, match="column 'x' has an infinite value at data row 2"):
        infer_schema(pd.DataFrame({"x": [1.0, np.inf]}), "y", "t.csv")


def test_empty_column_is_refused():
    with pytest.raises(BadInput, match="column 'x' has no values"):
        infer_schema(pd.DataFrame({"x": [np.nan, np.nan]}), "y", "t.csv")
