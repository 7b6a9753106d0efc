"""Huge inputs (issue 20): a dense artifact answers a row of float32-sized values with the label
float64 scikit-learn gives, or, at reduced precision (fp16, int8), with no answer (NaN, which
the runtime serves as an error) — never NaN as a label, never another label. The certificate
proves it on rows at +-1e30 and +-float32 max."""

import numpy as np
import pytest
from edgekit_runtime import load
from edgekit_runtime.errors import NonFiniteOutput
from tests_support import HUGE_ROW, require_tool, six_feature_logistic

from edgekit.compile import compile_bundle

FLOAT32 = [("c", {}), ("onnx", {}), ("tflite", {})]
REDUCED = [("c", {"quantize": "int8"}), ("onnx-fp16", {}), ("onnx-int8", {}), ("onnx-int8", {"int8": "dynamic"}),
           ("tflite-int8", {}), ("tflite-int8", {"io": "int8"})]
EXTREME_ROWS = 4 * (6 + 2)  # per extreme value: each feature alone, all, all at alternating signs


def _ids(cases):
    return [f"{target}-{'-'.join(options.values()) or 'default'}" for target, options in cases]


@pytest.fixture(scope="module")
def logistic(tmp_path_factory):
    return six_feature_logistic(tmp_path_factory.mktemp("extremes"))


def _compile(logistic, target, options, out):
    if target == "c":
        require_tool("gcc", "gcc")
    return compile_bundle(logistic.path, target, out, options=options)


@pytest.mark.parametrize("target, options", FLOAT32, ids=_ids(FLOAT32))
def test_a_row_of_huge_values_gets_the_original_label_not_nan(logistic, target, options, tmp_path):
    artifact = _compile(logistic, target, options, tmp_path / "a")
    row = np.array([HUGE_ROW], dtype=np.float32)
    expected = logistic.outputs(row.astype(np.float64))
    got = load(artifact.path).predict(row)  # raises NonFiniteOutput on NaN
    assert got.argmax(axis=1)[0] == expected.argmax(axis=1)[0] == 1 and got[0, 1] > 0.999, (got, expected)
    extremes = artifact.info.parity["sets"]["extremes"]
    assert extremes == {"rows": EXTREME_ROWS, "errors": 0, "label_agreement": 1.0, "disagreements": 0}


@pytest.mark.parametrize("target, options", REDUCED, ids=_ids(REDUCED))
def test_reduced_precision_refuses_a_row_of_huge_values_rather_than_guess_its_label(logistic, target, options, tmp_path):
    artifact = _compile(logistic, target, options, tmp_path / "a")
    model = load(artifact.path)
    # f5's weight is small: at 3e38 float64 says class 1, int8's few standard deviations (fp16's few
    # hundred) leave the bias to decide (class 0). An infinite row has no label at all. 30 is ~100 sd out: answered.
    rows = np.array([[0, 0, 0, 0, 9, 3e38], [np.inf] * 6, HUGE_ROW, [0.1, 0, 0, 0, 9, 6], [30.0, 0, 0, 0, 9, 6]],
                    dtype=np.float32)
    with pytest.raises(NonFiniteOutput) as raised:
        model.predict(rows)
    assert raised.value.rows == [0, 1, 2]
    expected = logistic.outputs(rows[3:].astype(np.float64)).argmax(axis=1)
    assert (raised.value.outputs[3:].argmax(axis=1) == expected).all()
    extremes = artifact.info.parity["sets"]["extremes"]
    assert extremes["rows"] == EXTREME_ROWS and extremes["errors"] == EXTREME_ROWS and extremes["disagreements"] == 0


@pytest.mark.parametrize("target, options", FLOAT32 + REDUCED, ids=_ids(FLOAT32 + REDUCED))
def test_an_infinite_input_gets_no_answer_alone_or_in_a_batch(logistic, target, options, tmp_path):
    """inf - inf has no value: no build may clip an infinite input into an answer (the C clip once
    turned its NaN into -FLT_MAX and a confident label)."""
    model = load(_compile(logistic, target, options, tmp_path / "a").path)
    rows = np.tile(np.asarray(logistic.reference()["X"][:1], dtype=np.float32), (20, 1))
    rows[0, 0], rows[7, 3] = np.inf, -np.inf
    for batch, refused in ((rows[:1], [0]), (rows, [0, 7])):  # one row, and a batch (C: its block kernels)
        with pytest.raises(NonFiniteOutput) as error:
            model.predict(batch)
        assert error.value.rows == refused
