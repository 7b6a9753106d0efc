"""The device loader: verified loading, input validation, threads."""

import numpy as np
import pytest
from edgekit_runtime import IntegrityError, InvalidInput, load

from edgekit.compile import compile_bundle


@pytest.fixture(scope="module")
def onnx_artifact(trained_bundle, tmp_path_factory):
    return compile_bundle(trained_bundle, "onnx", tmp_path_factory.mktemp("loader") / "a").path


def test_load_predicts_probabilities_with_any_thread_count(onnx_artifact):
    rows = np.load(onnx_artifact / "reference.npz")["X"]
    one, two = load(onnx_artifact, threads=1), load(onnx_artifact, threads=2)
    np.testing.assert_allclose(one.predict(rows), two.predict(rows), atol=1e-6)
    single = one.predict(rows[0].astype(np.float64))  # one row, float64: reshaped and cast
    assert single.shape == (1, 2) and abs(single.sum() - 1) < 1e-5


@pytest.mark.parametrize(
    "rows, message",
    [
        (np.zeros((2, 29)), "expected rows of 30 features, got shape (2, 29)"),
        (np.zeros((2, 3, 30)), "got shape (2, 3, 30)"),
        (np.array([["a"] * 30]), "rows must be numbers"),
    ],
)
def test_bad_rows_are_refused_clearly(onnx_artifact, rows, message):
    with pytest.raises(InvalidInput, match=message.replace("(", r"\(").replace(")", r"\)")):
        load(onnx_artifact).predict(rows)


def test_a_tampered_artifact_does_not_load(onnx_artifact, tmp_path):
    import shutil

    copy = tmp_path / "copy"
    shutil.copytree(onnx_artifact, copy)
    (copy / "model.onnx").write_bytes(b"\x00" * 10)
    with pytest.raises(IntegrityError, match="model.onnx"):
        load(copy)
