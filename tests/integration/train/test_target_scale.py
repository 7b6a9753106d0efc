"""Issue 20, finding 6: a regression target of tiny scale (1e-6) and models no better than a constant.

XGBoost drops every split whose gain is below 1e-6, and gains scale with the target squared: on a
target of order 1e-4 it grew 100 single-leaf trees (test R² -0.001) and said nothing. It now learns
the standardised target, with the scale folded back into the saved booster's leaves and base score,
so the bundle and every compiled artifact predict in the target's own units, exactly.
"""

import json

import numpy as np
import pytest
from edgekit_runtime import load
from sklearn.datasets import make_friedman1
from sklearn.metrics import r2_score
from tests_support import edgekit_home, require_tool

from edgekit import ModelBundle, compile_bundle, train_bundle

TINY = 1e-6


def _friedman(scale: float, rows: int = 3000) -> tuple[np.ndarray, np.ndarray]:
    X, y = make_friedman1(n_samples=rows, n_features=8, noise=0.3, random_state=0)
    return X, y * scale


def _write_csv(path, X, y) -> str:
    header = ",".join([f"f{i}" for i in range(X.shape[1])] + ["target"])
    np.savetxt(path, np.column_stack([X, y]), delimiter=",", header=header, comments="", fmt="%.9g")
    return str(path)


@pytest.fixture(scope="module")
def tiny_bundles(tmp_path_factory):
    root = tmp_path_factory.mktemp("tiny-target")
    with edgekit_home(root):
        return {
            family: train_bundle(_friedman(TINY), root / family, family=family, task="regression")
            for family in ("xgboost", "lightgbm")
        }


def test_xgboost_on_a_target_scaled_1e6_learns_instead_of_predicting_a_constant(tiny_bundles, tmp_path):
    tiny = tiny_bundles["xgboost"]
    assert tiny.info.metrics["test"]["r2"] > 0.9
    # LightGBM never had the problem (no gain floor): XGBoost now gets as close as it does at any scale.
    assert tiny.info.metrics["test"]["r2"] == pytest.approx(tiny_bundles["lightgbm"].info.metrics["test"]["r2"], abs=0.03)
    # The same data at its own scale: standardising leaves XGBoost's trees as they were, up to rounding.
    plain = train_bundle(_friedman(1.0), tmp_path / "plain", family="xgboost", task="regression")
    assert tiny.info.metrics["test"]["r2"] == pytest.approx(plain.info.metrics["test"]["r2"], abs=2e-3)
    # The saved booster itself predicts at the original scale: reloaded from its file, no transform.
    loaded = ModelBundle.load(tiny.path)
    reference = loaded.reference()
    assert loaded.check_reference() <= 1e-18
    assert r2_score(reference["test_y"], loaded.model.get_booster().inplace_predict(reference["test_X"])) > 0.9
    assert 1e-7 < float(np.std(reference["test_outputs"])) < 1e-5


@pytest.mark.parametrize("target, options", [
    ("onnx", {}),
    ("tflite", {}),
    ("c", {"layout": "table"}),
    ("c", {"layout": "ifelse"}),
])
def test_every_artifact_of_the_tiny_target_xgboost_reproduces_its_original_scale_outputs(tiny_bundles, target, options, tmp_path):
    if target == "c":
        require_tool("gcc", "gcc")
    bundle = tiny_bundles["xgboost"]
    artifact = compile_bundle(bundle.path, target, tmp_path / "a", options=options)
    assert artifact.info.parity["passed"], artifact.info.parity["failures"]
    reference = bundle.reference()
    got = np.asarray(load(artifact.path).predict(reference["test_X"])).reshape(-1)
    expected = reference["test_outputs"]
    # float32 arithmetic on values of order 1e-5: agreement relative to the outputs, not to 1.
    np.testing.assert_allclose(got, expected, rtol=0, atol=1e-5 * float(np.max(np.abs(expected))))
    assert r2_score(reference["test_y"], got) > 0.9


def test_train_warns_when_the_model_is_no_better_than_a_constant(cli, tmp_path):
    rng = np.random.default_rng(0)
    X = rng.normal(size=(1500, 6))
    noise = _write_csv(tmp_path / "noise.csv", X, rng.normal(size=1500))
    result = cli("train", noise, "--label", "target", "--task", "regression", "--out", tmp_path / "r", "--json")
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    assert summary["metrics"]["test"]["r2"] <= 0.01
    assert len(summary["warnings"]) == 1 and "no better than a constant predictor" in summary["warnings"][0]
    assert f"warning: {summary['warnings'][0]}" in result.stderr

    # Random labels, 80 % of one class: the model loses to always answering that class.
    labels = np.where(rng.random(1500) < 0.8, "ok", "fault")
    path = tmp_path / "labels.csv"
    with path.open("w") as handle:
        handle.write(",".join([f"f{i}" for i in range(6)] + ["state"]) + "\n")
        for row, label in zip(X, labels, strict=True):
            handle.write(",".join(f"{value:.6g}" for value in row) + f",{label}\n")
    result = cli("train", path, "--label", "state", "--out", tmp_path / "c", "--json")
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    assert len(summary["warnings"]) == 1 and "always predicting class 'ok'" in summary["warnings"][0], summary
    assert "no better than a constant predictor" in result.stderr


def test_train_does_not_warn_about_a_model_that_learned(cli, tmp_path):
    X, y = _friedman(TINY, rows=1500)
    data = _write_csv(tmp_path / "tiny.csv", X, y)
    result = cli("train", data, "--label", "target", "--task", "regression", "--out", tmp_path / "b", "--json")
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    assert summary["warnings"] == [] and summary["metrics"]["test"]["r2"] > 0.9
    assert "warning" not in result.stderr
