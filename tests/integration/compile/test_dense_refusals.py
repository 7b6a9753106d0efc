"""Dense models on data float32 cannot standardise, and ONNX Runtime's int8 quantizer failing
(issue 20): every compile path either builds or refuses with exit 1 and one line saying what to do
for that target, never an internal error (exit 70). Real ONNX Runtime, its quantizer, gcc, LiteRT."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from edgekit_runtime import describe_files
from sklearn.datasets import load_breast_cancer
from tests_support import assert_one_line_error

from edgekit import compile_bundle, import_model, train_bundle
from edgekit.storage import content_hash

# Every build a linear, logistic or MLP model can take.
DENSE_BUILDS = [
    ("onnx", {}), ("onnx-fp16", {}), ("onnx-int8", {}), ("c", {}), ("c", {"quantize": "int8"}),
    ("tflite", {}), ("tflite-int8", {}), ("tflite-int8", {"per-channel": "false"}),
]


def _breast_cancer_with(column: np.ndarray, path) -> str:
    """breast-cancer plus one column, written exactly (17 digits) as a CSV edgekit trains from."""
    frame = load_breast_cancer(as_frame=True).frame
    frame.insert(0, "denormal", column)
    frame.to_csv(path, index=False, float_format="%.17g")
    return str(path)


def _noise(rows: int) -> np.ndarray:
    """A column whose standard deviation is 1.4e-42: denormal in float32, where 1/1.4e-42 is inf."""
    return np.random.default_rng(0).normal(0.0, 1.4e-42, rows)


@pytest.fixture(scope="module")
def denormal_csv(tmp_path_factory):
    return _breast_cancer_with(_noise(569), tmp_path_factory.mktemp("denormal") / "data.csv")


@pytest.mark.parametrize("family", ["logistic", "mlp"])
def test_a_denormal_feature_no_longer_blocks_any_dense_target_of_a_model_edgekit_trains(cli, denormal_csv, tmp_path, family):
    """The finding: 1/1.4e-42 is inf in float32, so all 8 dense builds refused (label agreement
    0.48) and onnx-int8 of the MLP crashed in ONNX Runtime's quantizer (exit 70, "scale issue").
    edgekit's dense families hold such a feature constant when they train (scale 1, as scikit-learn
    does for zero variance), so the model never leans on what float32 cannot hold: every float build
    passes; an int8 build answers to its own tolerance on this small test split, never to the feature."""
    assert cli("train", denormal_csv, "--model", family, "--label", "target", "--out", tmp_path / "b").exit_code == 0
    for index, (target, options) in enumerate(DENSE_BUILDS):
        extra = [part for key, value in options.items() for part in ("--option", f"{key}={value}")]
        result = cli("compile", tmp_path / "b", "--target", target, *extra, "--out", tmp_path / f"a{index}", "--json")
        if family == "logistic" or not (target.endswith("int8") or options.get("quantize") == "int8"):
            assert result.exit_code == 0, (target, options, result.output)
            assert json.loads(result.stdout)["parity"]["passed"]
        else:
            assert result.exit_code == 0 or (result.exit_code == 1 and "feature 'denormal'" not in result.stderr), result.output


def test_a_model_trained_elsewhere_that_leans_on_a_denormal_feature_is_refused_with_what_to_do(cli, denormal_csv, tmp_path):
    """A plain scikit-learn pipeline gives the noise column real weight in float64: every build holds
    the feature constant, the int8 builds pass their tolerance, and the float builds refuse, naming
    the feature and what to do (there is no precision above float32 to try)."""
    from sklearn.impute import SimpleImputer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    frame = pd.read_csv(denormal_csv)
    model = make_pipeline(SimpleImputer(), StandardScaler(), LogisticRegression(max_iter=1000))
    model.fit(frame.drop(columns="target").to_numpy(np.float64), frame["target"])
    import_model(model, frame, tmp_path / "b", label="target")
    for index, (target, options) in enumerate(DENSE_BUILDS):
        extra = [part for key, value in options.items() for part in ("--option", f"{key}={value}")]
        result = cli("compile", tmp_path / "b", "--target", target, *extra, "--out", tmp_path / f"a{index}", "--json")
        if target.endswith("int8") or options.get("quantize") == "int8":
            assert result.exit_code == 0, (target, options, result.output)
            assert json.loads(result.stdout)["parity"]["label_agreement"] >= 0.95
            continue
        assert_one_line_error(result, 1, f"{target} artifact of", "feature 'denormal' (scale 1.",
                              "smallest normal number", "every build holds it constant", "rescale that feature")
        assert "try a higher precision" not in result.stderr


def test_a_denormal_feature_the_model_gives_no_weight_compiles_to_every_dense_target(tmp_path):
    """The same column under an L1 logistic regression, which zeroes its weight: every dense build
    passes its tolerance (before the fix each refused: inf * 0 = NaN on every row)."""
    from sklearn.impute import SimpleImputer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    frame = pd.read_csv(_breast_cancer_with(_noise(569), tmp_path / "data.csv"))
    X = frame.drop(columns="target").to_numpy(np.float32)
    model = make_pipeline(SimpleImputer(), StandardScaler(), LogisticRegression(penalty="l1", solver="liblinear", C=0.1))
    model.fit(X, frame["target"])
    assert model[-1].coef_[0, 0] == 0.0
    bundle = import_model(model, frame, tmp_path / "b")
    for index, (target, options) in enumerate(DENSE_BUILDS):
        assert compile_bundle(bundle, target, tmp_path / f"a{index}", options=options).info.parity["passed"]


@pytest.fixture(scope="module")
def overflowing_mlp(tmp_path_factory):
    """An MLP trained elsewhere in float64 whose first-layer weights exceed float32's range (x 1e39):
    its float32 graph is NaN on every calibration row, and ONNX Runtime's quantizer asserts
    "scale issue" — the same failure the denormal column caused before it was held constant."""
    from sklearn.impute import SimpleImputer
    from sklearn.neural_network import MLPClassifier
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    frame = load_breast_cancer(as_frame=True).frame
    model = make_pipeline(SimpleImputer(), StandardScaler(), MLPClassifier((16,), max_iter=300, random_state=0))
    model.fit(frame.drop(columns="target").to_numpy(np.float64), frame["target"])
    model[-1].coefs_[0] *= 1e39  # fine in float64; past float32's 3.4e38
    return import_model(model, frame, tmp_path_factory.mktemp("overflow") / "b").path


def test_a_failure_inside_the_int8_quantizer_is_a_refusal_with_exit_1(cli, overflowing_mlp, tmp_path):
    assert_one_line_error(
        cli("compile", overflowing_mlp, "--target", "onnx-int8", "--out", tmp_path / "a"), 1,
        "ONNX Runtime's int8 quantizer failed: AssertionError: scale issue",
        "NaN or infinite values on 256 of its 256 calibration rows", "retrain with smaller weights",
    )
    assert not (tmp_path / "a").exists()


def test_auto_fit_counts_a_quantizer_refusal_as_a_build_that_does_not_fit(cli, overflowing_mlp, tmp_path):
    """onnx-int8 is the second candidate on an ONNX Runtime device: its crash stopped auto-fit
    (exit 70). Now it is one rejected build, and a build that fits (edgekit's own int8 TFLite,
    calibrated in float64) is chosen."""
    result = cli("compile", overflowing_mlp, "--target", "auto", "--device", "x86-64-gateway-n100", "--out", tmp_path / "a", "--json")
    assert result.exit_code == 0, result.output
    fit = json.loads(result.stdout)
    attempts = {attempt["candidate"]: attempt for attempt in fit["attempts"]}
    assert attempts["onnx int8"]["outcome"] == "rejected"
    assert "ONNX Runtime's int8 quantizer failed: AssertionError: scale issue" in attempts["onnx int8"]["reason"]
    assert fit["chosen"] and any(attempt["outcome"] == "chosen" for attempt in fit["attempts"])


@pytest.mark.parametrize("target, options, advice", [
    ("onnx", [], "float32 cannot reproduce this model's arithmetic and no target computes in more"),
    ("onnx-fp16", [], "try --target onnx (float32)"),
    ("onnx-int8", [], "try --target onnx-fp16, then --target onnx"),
    ("tflite-int8", ["--option", "per-channel=false"], "try --option per-channel=true, or --target tflite"),
    ("c", ["--quantize", "int8"], "try --quantize none (float32 weights)"),
])
def test_a_parity_refusal_advises_a_step_that_exists_for_its_target(cli, tmp_path, target, options, advice):
    """The refusal said "try a higher precision (onnx, then onnx-fp16)" whatever failed, onnx included."""
    bundle = train_bundle("bundled:wine", tmp_path / "b", family="logistic").path
    # The bundle now claims outputs its model does not produce: no build can match them.
    with np.load(bundle / "reference.npz") as archive:
        arrays = {key: archive[key] for key in archive.files}
    arrays["test_outputs"] = arrays["test_outputs"][:, ::-1].copy()
    np.savez_compressed(bundle / "reference.npz", **arrays)
    descriptor = json.loads((bundle / "bundle.json").read_text())
    descriptor["files"].update(describe_files(bundle, ["reference.npz"]))
    descriptor["content_hash"] = content_hash(descriptor)
    (bundle / "bundle.json").write_text(json.dumps(descriptor))
    result = cli("compile", bundle, "--target", target, *options, "--out", tmp_path / "a")
    assert_one_line_error(result, 1, "breaks parity, worst on its test rows", advice)
    assert "try a higher precision" not in result.stderr
