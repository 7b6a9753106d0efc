"""`--target tflite|tflite-int8`: every family through edgekit's own flatbuffer writer into the real
LiteRT interpreter: binary, multi-class, regression, missing values; int8 on digits; bad files."""

from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest
import tflite
from edgekit_runtime import load
from edgekit_runtime.errors import InvalidInput
from edgekit_runtime.predictors.int8_io import Int8Io
from edgekit_runtime.predictors.tflite import TflitePredictor
from tests_support import DENSE_FAMILIES, assert_one_line_error, bundle_cache, compile_cases

from edgekit import train_bundle
from edgekit.compile import compile_bundle

DENSE = DENSE_FAMILIES


@pytest.fixture(scope="module")
def bundles(tmp_path_factory):
    return bundle_cache(tmp_path_factory.mktemp("tflite-bundles"))


def _certified(artifact) -> dict[str, np.ndarray]:
    with np.load(artifact.path / "reference.npz") as archive:
        return dict(archive)


def _operators_in_file(path: Path) -> list[dict]:
    """The (op, version) pairs the .tflite file itself declares, read with the schema bindings."""
    model = tflite.Model.GetRootAsModel(path.read_bytes(), 0)
    names = {value: name for name, value in vars(tflite.BuiltinOperator).items() if not name.startswith("_")}
    codes = [model.OperatorCodes(i) for i in range(model.OperatorCodesLength())]
    return sorted(({"op": names[code.BuiltinCode()], "version": code.Version()} for code in codes), key=lambda e: (e["op"], e["version"]))


@pytest.mark.parametrize("dataset, family, target", list(compile_cases(("tflite",), ("tflite-int8",))))
def test_family_compiles_and_runs_in_litert(bundles, dataset, family, target, tmp_path):
    bundle_path = bundles(dataset, family)
    artifact = compile_bundle(bundle_path, target, tmp_path / "a")
    info = artifact.info
    parity = info.parity
    assert parity["passed"], parity["failures"]
    assert info.runtime == {"name": "litert", "format": "tflite"}
    assert info.requirements["operators"] == _operators_in_file(artifact.model_path)
    assert info.requirements["custom_ops"] is False
    if target == "tflite":
        scale = 1.0 if info.bundle["task"] == "classification" else max(1.0, float(np.max(np.abs(_certified(artifact)["original_outputs"]))))
        assert parity["max_abs_diff"] <= (1e-5 if family in DENSE else 1e-4) * scale
        if family not in DENSE:
            assert parity["threshold_edge_rows"] > 0
        if info.bundle["task"] == "classification":
            assert parity["label_agreement"] >= 0.999
    reference = _certified(artifact)
    got = load(artifact.path).predict(reference["X"])
    np.testing.assert_allclose(got.reshape(reference["artifact_outputs"].shape), reference["artifact_outputs"], atol=1e-6)


def test_int8_digits_mlp_keeps_accuracy_in_a_smaller_file(tmp_path):
    bundle = train_bundle("bundled:digits", tmp_path / "mlp", family="mlp")
    fp32 = compile_bundle(bundle.path, "tflite", tmp_path / "fp32")
    int8 = compile_bundle(bundle.path, "tflite-int8", tmp_path / "int8")
    reference = bundle.reference()
    accuracy = {}
    for name, artifact in {"fp32": fp32, "int8": int8}.items():
        predicted = load(artifact.path).predict(reference["test_X"]).argmax(axis=1)
        accuracy[name] = float(np.mean(np.asarray(bundle.info.classes)[predicted] == reference["test_y"]))
    assert accuracy["fp32"] - accuracy["int8"] <= 0.01
    # Per-channel scales and int64 zero points are fixed costs the schema imposes, and the float32
    # standardisation and row bound (mean, scale, reach per feature) are in both: on a 64-64-10 MLP
    # the int8 file is ~0.46 of the float one (weights alone: 0.25).
    assert int8.info.resources["model_bytes"] <= 0.47 * fp32.info.resources["model_bytes"]
    assert {"op": "FULLY_CONNECTED", "version": 12} in int8.info.requirements["operators"]
    per_layer = compile_bundle(bundle.path, "tflite-int8", tmp_path / "per-layer", options={"per-channel": "false"})
    assert {"op": "FULLY_CONNECTED", "version": 4} in per_layer.info.requirements["operators"]


@pytest.mark.parametrize("dataset, family", [("binary", "logistic"), ("multiclass", "mlp"), ("regression", "linear"), ("missing", "mlp")])
def test_int8_io_runs_the_same_integers_without_float_ends(bundles, dataset, family, tmp_path):
    """io=int8 drops the in-model standardise/QUANTIZE/DEQUANTIZE; the runtime's encoding from
    artifact.json must feed the int8 layers exactly what the float-ended model computes itself."""
    bundle_path = bundles(dataset, family)
    inside = compile_bundle(bundle_path, "tflite-int8", tmp_path / "inside")
    outside = compile_bundle(bundle_path, "tflite-int8", tmp_path / "outside", options={"io": "int8"})
    assert outside.info.parity["passed"], outside.info.parity["failures"]
    ops = {entry["op"] for entry in outside.info.requirements["operators"]}
    assert ops.isdisjoint({"QUANTIZE", "DEQUANTIZE", "SUB", "MUL", "SELECT_V2", "NOT_EQUAL"})
    assert outside.info.requirements["dtypes"] == ["int32", "int8"]
    assert outside.info.inputs[0]["dtype"] == "int8" and outside.info.outputs[0]["dtype"] == "int8"
    assert outside.info.resources["model_bytes"] < inside.info.resources["model_bytes"]
    interpreter = tflite.Model.GetRootAsModel(outside.model_path.read_bytes(), 0).Subgraphs(0)
    assert interpreter.Tensors(interpreter.Inputs(0)).Type() == tflite.TensorType.INT8
    rows = _certified(inside)["X"]
    if dataset == "missing":
        assert np.isnan(rows).any()
    np.testing.assert_array_equal(load(outside.path).predict(rows), load(inside.path).predict(rows))


def test_int8_io_needs_an_int8_target_and_a_usable_encoding(cli, bundles, tmp_path):
    bundle_path = bundles("binary", "logistic")
    result = cli("compile", str(bundle_path), "--target", "tflite", "--option", "io=int8", "--out", str(tmp_path / "a"))
    assert_one_line_error(result, 2, "io=int8 needs an int8 model")
    assert not (tmp_path / "a").exists()
    artifact = compile_bundle(bundle_path, "tflite-int8", tmp_path / "b", options={"io": "int8"})
    inputs = dict(artifact.info.inputs[0], encoding={"mean": [0.0]})  # one value for 30 features
    with pytest.raises(InvalidInput, match="without a usable encoding"):
        Int8Io.from_descriptor(inputs, artifact.info.outputs[0])


def test_predictor_is_safe_to_share_between_threads(bundles, tmp_path):
    artifact = compile_bundle(bundles("missing", "xgboost"), "tflite", tmp_path / "a")
    predictor = load(artifact.path)
    rows = _certified(artifact)["X"]
    expected = predictor.predict(rows)
    sizes = [1, 7, len(rows), 3] * 4
    with ThreadPoolExecutor(4) as pool:
        results = list(pool.map(lambda n: predictor.predict(rows[:n]), sizes))
    for n, got in zip(sizes, results, strict=True):
        np.testing.assert_array_equal(got, expected[:n])
    assert predictor.predict(rows[:0]).shape == (0, expected.shape[1])


@pytest.mark.parametrize(
    "damage, fragment",
    [
        (lambda data: data[: len(data) // 2], "not a valid Flatbuffer"),
        (lambda data: data[:-16], "not a valid Flatbuffer"),
        (lambda data: b"\x00" * 4 + b"ONNX" + data[8:], "not a TFLite model"),
        (lambda data: b"", "not a TFLite model"),
        (lambda data: data[:8] + bytes(64), "LiteRT cannot load the model"),
    ],
)
def test_damaged_tflite_file_is_a_one_line_error(bundles, tmp_path, damage, fragment):
    artifact = compile_bundle(bundles("binary", "logistic"), "tflite", tmp_path / "a")
    broken = tmp_path / "broken.tflite"
    broken.write_bytes(damage(artifact.model_path.read_bytes()))
    with pytest.raises(InvalidInput, match=fragment):
        TflitePredictor(broken, features=30, probabilities=True)


def test_tampered_artifact_is_refused_by_the_loader(bundles, tmp_path, cli):
    artifact = compile_bundle(bundles("binary", "logistic"), "tflite", tmp_path / "a")
    data = artifact.model_path.read_bytes()
    artifact.model_path.write_bytes(data[:-16])
    result = cli("artifact", "verify", str(artifact.path))
    assert_one_line_error(result, 2, "model.tflite")


def test_int8_refuses_trees_and_says_what_to_use(cli, trained_bundle, tmp_path):
    result = cli("compile", str(trained_bundle), "--target", "tflite-int8", "--out", str(tmp_path / "a"))
    assert_one_line_error(result, 2, "does not take")
    assert "--target tflite" in result.output and not (tmp_path / "a").exists()


def test_cli_compiles_shows_and_verifies(cli, trained_bundle, tmp_path):
    out = tmp_path / "a"
    assert cli("compile", str(trained_bundle), "--target", "tflite", "--out", str(out)).exit_code == 0
    shown = cli("artifact", "show", str(out))
    assert shown.exit_code == 0 and "GATHER v5" in shown.output and "TFLite runtime >= 2.5.0" in shown.output
    verified = cli("artifact", "verify", str(out))
    assert verified.exit_code == 0 and verified.stderr == ""
