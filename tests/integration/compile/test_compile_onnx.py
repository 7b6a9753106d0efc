"""Every family compiles to ONNX at every precision that applies, and passes its parity tolerance
in the real ONNX Runtime: binary, multi-class, regression, and data with missing values."""


import numpy as np
import onnx
import onnxruntime as ort
import pytest
from edgekit_runtime import load
from tests_support import DENSE_FAMILIES, bundle_cache, compile_cases

from edgekit import train_bundle
from edgekit.compile import compile_bundle

DENSE = DENSE_FAMILIES


@pytest.fixture(scope="module")
def bundles(tmp_path_factory):
    return bundle_cache(tmp_path_factory.mktemp("onnx-bundles"))


@pytest.mark.parametrize("dataset, family, target", list(compile_cases(("onnx",), ("onnx-fp16", "onnx-int8"))))
def test_family_compiles_and_passes_parity(bundles, dataset, family, target, tmp_path):
    artifact = compile_bundle(bundles(dataset, family), target, tmp_path / "a")
    parity = artifact.info.parity
    assert parity["passed"], parity["failures"]
    assert parity["sets"]["test"]["rows"] > 0 and parity["sets"]["reference"]["rows"] > 0
    if family not in DENSE:
        assert parity["threshold_edge_rows"] > 0
    model = onnx.load(artifact.model_path)
    onnx.checker.check_model(model, full_check=True)
    domains = {entry["domain"] for entry in artifact.info.requirements["operators"]}
    assert domains <= {"ai.onnx", "ai.onnx.ml"}, domains  # no custom operators
    ort.InferenceSession(str(artifact.model_path), providers=["CPUExecutionProvider"])
    # The shipped loader reproduces the certificate's numbers.
    predictor = load(artifact.path)
    rows = np.load(artifact.path / "reference.npz")["X"]
    expected = np.load(artifact.path / "reference.npz")["artifact_outputs"]
    np.testing.assert_allclose(predictor.predict(rows).reshape(expected.shape), expected, atol=1e-6)


def test_int8_mlp_on_digits_is_small_and_accurate(tmp_path):
    bundle = train_bundle("bundled:digits", tmp_path / "b", family="mlp")
    fp32 = compile_bundle(bundle.path, "onnx", tmp_path / "fp32")
    int8 = compile_bundle(bundle.path, "onnx-int8", tmp_path / "int8")
    # int8 weights are a quarter of float32's; the standardisation and the row bound stay float32 in
    # both (mean, scale and reach: 12 bytes per feature), so the ratio sits just above a quarter
    assert int8.info.resources["model_bytes"] <= 0.36 * fp32.info.resources["model_bytes"]
    metric = int8.info.parity["metric"]
    assert metric["name"] == "accuracy" and metric["original"] - metric["artifact"] <= 0.01
    ops = {op["op_type"] for op in int8.info.requirements["operators"]}
    assert {"QuantizeLinear", "DequantizeLinear"} <= ops


def test_dynamic_int8_and_forced_per_channel(tmp_path):
    bundle = train_bundle("bundled:digits", tmp_path / "b", family="logistic")
    dynamic = compile_bundle(bundle.path, "onnx-int8", tmp_path / "dyn", options={"int8": "dynamic"})
    assert dynamic.info.options["int8"]["mode"] == "dynamic" and dynamic.info.parity["passed"]
    channel = compile_bundle(bundle.path, "onnx-int8", tmp_path / "pc", options={"per-channel": "true"})
    assert channel.info.options["int8"]["weights"] == "int8 per channel"


def test_ort_format_and_its_operator_config(tmp_path, trained_bundle):
    artifact = compile_bundle(trained_bundle, "onnx", tmp_path / "a", options={"ort-format": "true"})
    assert {"ort/model.ort", "ort/model.required_operators.config"} <= set(artifact.info.files)
    config = (artifact.path / "ort" / "model.required_operators.config").read_text()
    assert "ai.onnx.ml;3;TreeEnsembleRegressor" in config
    session = ort.InferenceSession(str(artifact.path / "ort" / "model.ort"), providers=["CPUExecutionProvider"])
    rows = np.load(artifact.path / "reference.npz")["X"]
    expected = np.load(artifact.path / "reference.npz")["artifact_outputs"]
    np.testing.assert_allclose(session.run(["probabilities"], {"input": rows})[0], expected, atol=1e-6)


def test_device_profile_sets_the_opset(tmp_path):
    bundle = train_bundle("bundled:wine", tmp_path / "b", family="logistic")
    artifact = compile_bundle(bundle.path, "onnx", tmp_path / "a", device_opset=17)
    assert artifact.info.requirements["opset"]["ai.onnx"] == 17 and artifact.info.options["opset"] == 17
    assert onnx.load(artifact.model_path).opset_import[0].version == 17
