"""edgekit import: models trained outside edgekit, from files and objects, compiled with parity.

Every model here is trained with plain XGBoost/LightGBM/scikit-learn calls, as a user would; the
held-out rows are never part of the sample, and the artifact must agree there with the user's own
predict (the trees predict uses: early stopping included).
"""

from __future__ import annotations

import json
import pickle
from pathlib import Path

import lightgbm as lgb
import numpy as np
import pandas as pd
import pytest
import skops.io
import xgboost as xgb
from edgekit_runtime import load
from sklearn.ensemble import RandomForestRegressor
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LinearRegression
from sklearn.neural_network import MLPClassifier
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from edgekit import compile_bundle, import_model
from edgekit.errors import BadInput

FEATURES = ["temp", "load", "vib", "rpm", "volt"]


def _data(rows: int = 4000, seed: int = 0) -> tuple[pd.DataFrame, np.ndarray]:
    rng = np.random.default_rng(seed)
    X = pd.DataFrame(rng.normal(size=(rows, len(FEATURES))), columns=FEATURES)
    X.loc[rng.random(rows) < 0.1, "vib"] = np.nan
    score = X.temp + 2 * X.vib.fillna(0) - X.load * X.rpm + rng.normal(scale=0.3, size=rows)
    return X, score.to_numpy()


TRAIN, SCORE = _data()
HELD_OUT, _ = _data(2000, seed=1)


def _classes(score: np.ndarray, count: int = 2) -> np.ndarray:
    return np.digitize(score, np.quantile(score, np.linspace(0, 1, count + 1)[1:-1]))


def _sample(labels: np.ndarray | None = None) -> pd.DataFrame:
    """The sample a user passes: rows 3000+ of the training data, columns in another order."""
    sample = TRAIN.iloc[3000:][list(reversed(FEATURES))]
    return sample.assign(label=labels[3000:]) if labels is not None else sample


def _agrees_on_held_out(artifact_path, expected: np.ndarray, rows: pd.DataFrame = HELD_OUT) -> None:
    got = load(artifact_path).predict(rows[FEATURES].to_numpy(np.float32))
    expected = expected.reshape(got.shape)
    assert np.max(np.abs(got - expected)) <= 1e-5 * max(1.0, float(np.max(np.abs(expected))))
    if got.ndim == 2:
        assert np.mean(got.argmax(1) == expected.argmax(1)) >= 0.999


def test_xgboost_files_import_and_compile_with_parity(cli, tmp_path):
    labels = _classes(SCORE)
    model = xgb.XGBClassifier(n_estimators=200, max_depth=8, early_stopping_rounds=5)
    model.fit(TRAIN[:2500], labels[:2500], eval_set=[(TRAIN[2500:3000], labels[2500:3000])], verbose=False)
    assert model.best_iteration + 1 < model.get_booster().num_boosted_rounds()
    _sample(labels).to_csv(tmp_path / "sample.csv", index=False)
    for suffix in ("json", "ubj"):
        model.save_model(tmp_path / f"churn.{suffix}")
        result = cli("import", tmp_path / f"churn.{suffix}", "--data", tmp_path / "sample.csv", "--out", tmp_path / suffix, "--json")
        assert result.exit_code == 0, result.output
        summary = json.loads(result.stdout)
        imported = summary["imported"]
        assert summary["name"] == "churn" and summary["family"] == "xgboost" and summary["features"] == 5
        assert imported["source"]["format"] == f"xgboost-{suffix}" and len(imported["source"]["sha256"]) == 64
        assert imported["trained_with"]["xgboost"] == xgb.__version__ and imported["objective"] == "binary:logistic"
        assert f"best_iteration {model.best_iteration}" in imported["trees_used"]
        assert summary["metrics"]["sample"]["accuracy"] > 0.8
    expected = model.predict_proba(HELD_OUT)  # the user's predict: best_iteration's trees
    for target, options in (("onnx", []), ("c", []), ("c", ["--option", "layout=ifelse"]), ("tflite", [])):
        out = tmp_path / f"a-{target}-{len(options)}"
        result = cli("compile", tmp_path / "json", "--target", target, *options, "--out", out)
        assert result.exit_code == 0, result.output
        _agrees_on_held_out(out, expected)


@pytest.mark.parametrize("objective", ["binary:logitraw", "multi:softmax", "reg:logistic", "count:poisson",
                                       "reg:absoluteerror", "reg:squarederror"])
def test_xgboost_objectives_compile_exactly(tmp_path, objective):
    if objective.startswith("multi"):
        labels, params = _classes(SCORE, 4), {"num_class": 4}
    elif objective.startswith("binary"):
        labels, params = _classes(SCORE), {}
    elif objective == "reg:logistic":
        labels, params = 1 / (1 + np.exp(-SCORE)), {}
    elif objective == "count:poisson":
        labels, params = np.round(np.exp(SCORE / 3)), {}
    else:
        labels, params = SCORE, {}
    booster = xgb.train({"objective": objective, "max_depth": 6, "base_score": 0.3 if "log" in objective else 0.5,
                         **params}, xgb.DMatrix(TRAIN[:3000], labels[:3000]), num_boost_round=40)
    bundle = import_model(booster, _sample(labels), tmp_path / "b")
    raw = booster.predict(xgb.DMatrix(HELD_OUT))
    if objective == "binary:logitraw":
        expected = np.column_stack([1 - 1 / (1 + np.exp(-raw)), 1 / (1 + np.exp(-raw))])
    elif objective == "multi:softmax":
        margins = booster.predict(xgb.DMatrix(HELD_OUT), output_margin=True)
        expected = np.exp(margins) / np.exp(margins).sum(1, keepdims=True)
        assert np.all(expected.argmax(1) == raw)
    else:
        expected = raw
    for target in ("onnx", "c", "tflite"):
        artifact = compile_bundle(bundle, target, tmp_path / target)
        assert artifact.info.parity["passed"]
        _agrees_on_held_out(artifact.path, expected.astype(np.float64))


def test_lightgbm_file_and_objects(tmp_path):
    labels = _classes(SCORE, 3)
    booster = lgb.train({"objective": "multiclass", "num_class": 3, "num_leaves": 63, "verbose": -1},
                        lgb.Dataset(TRAIN[:3000], labels[:3000]), num_boost_round=60)
    booster.save_model(tmp_path / "wear.txt")
    bundle = import_model(tmp_path / "wear.txt", _sample(labels), tmp_path / "b")
    assert bundle.info.family == "lightgbm" and bundle.info.imported["objective"] == "multiclass"
    for target in ("onnx", "c", "tflite"):
        _agrees_on_held_out(compile_bundle(bundle, target, tmp_path / target).path, booster.predict(HELD_OUT))
    # An early-stopped regressor: predict (and the bundle) use its best iteration.
    regressor = lgb.LGBMRegressor(n_estimators=400, learning_rate=0.3, verbose=-1)
    regressor.fit(TRAIN[:2500], SCORE[:2500], eval_set=[(TRAIN[2500:3000], SCORE[2500:3000])],
                  callbacks=[lgb.early_stopping(3, verbose=False)])
    assert 0 < regressor.best_iteration_ < 400
    bundle = import_model(regressor, _sample(SCORE), tmp_path / "r")
    assert bundle.info.imported["trees"] == regressor.best_iteration_
    _agrees_on_held_out(compile_bundle(bundle, "c", tmp_path / "rc").path, regressor.predict(HELD_OUT))


def test_scikit_learn_skops_pickle_and_objects(cli, tmp_path):
    labels = _classes(SCORE)
    mlp = make_pipeline(SimpleImputer(), StandardScaler(), MLPClassifier((16,), max_iter=300, random_state=0))
    mlp.fit(TRAIN[:3000], labels[:3000])
    skops.io.dump(mlp, tmp_path / "mlp.skops")
    result = cli("import", tmp_path / "mlp.skops", "--data", tmp_path / "s.csv", "--out", tmp_path / "m")
    assert result.exit_code == 2 and "no such file" in result.stderr  # (the sample is written next)
    _sample(labels).to_csv(tmp_path / "s.csv", index=False)
    result = cli("import", tmp_path / "mlp.skops", "--data", tmp_path / "s.csv", "--out", tmp_path / "m")
    assert result.exit_code == 0, result.output
    _agrees_on_held_out(compile_bundle(tmp_path / "m", "onnx", tmp_path / "mo").path, mlp.predict_proba(HELD_OUT))

    forest = RandomForestRegressor(n_estimators=20, max_depth=8, random_state=0).fit(TRAIN[:3000].fillna(0), SCORE[:3000])
    with open(tmp_path / "forest.pkl", "wb") as handle:
        pickle.dump(forest, handle)
    refused = cli("import", tmp_path / "forest.pkl", "--data", tmp_path / "s.csv", "--out", tmp_path / "f")
    assert refused.exit_code == 2 and "runs any code" in refused.stderr and "--trust-pickle" in refused.stderr
    assert not (tmp_path / "f").exists()
    sample = _sample(SCORE).fillna(0)
    sample.to_csv(tmp_path / "filled.csv", index=False)
    trusted = cli("import", tmp_path / "forest.pkl", "--data", tmp_path / "filled.csv", "--out", tmp_path / "f", "--trust-pickle")
    assert trusted.exit_code == 0, trusted.output
    assert "warning:" in trusted.stderr and "runs any code" in trusted.stderr
    artifact = compile_bundle(tmp_path / "f", "c", tmp_path / "fc")
    _agrees_on_held_out(artifact.path, forest.predict(HELD_OUT.fillna(0)), HELD_OUT.fillna(0))


def test_a_sample_without_labels_gives_a_bundle_without_metrics(tmp_path):
    model = xgb.XGBRegressor(n_estimators=30).fit(TRAIN[:3000].to_numpy(), SCORE[:3000])  # no feature names
    bundle = import_model(model, TRAIN.iloc[3000:].to_numpy(), tmp_path / "b", name="nameless")
    assert bundle.info.metrics == {} and bundle.info.feature_names == ["f0", "f1", "f2", "f3", "f4"]
    artifact = compile_bundle(bundle, "c", tmp_path / "c")
    assert artifact.info.parity["passed"] and artifact.info.parity["metric"]["name"] is None
    _agrees_on_held_out(artifact.path, model.predict(HELD_OUT.to_numpy()))


def _write_bad_inputs(tmp_path):
    labels = _classes(SCORE)
    booster = xgb.train({"objective": "binary:logistic"}, xgb.DMatrix(TRAIN[:3000], labels[:3000]), 10)
    booster.save_model(tmp_path / "good.json")
    text = (tmp_path / "good.json").read_text()
    (tmp_path / "truncated.json").write_text(text[: len(text) // 2])
    newer = json.loads(text)
    newer["version"] = [99, 0, 0]
    (tmp_path / "newer.json").write_text(json.dumps(newer))
    ranker = xgb.train({"objective": "rank:pairwise"}, xgb.DMatrix(TRAIN[:300], labels[:300], qid=np.zeros(300)), 3)
    ranker.save_model(tmp_path / "ranker.json")
    lightgbm_text = lgb.train({"objective": "binary", "verbose": -1}, lgb.Dataset(TRAIN[:3000], labels[:3000]), 5).model_to_string()
    (tmp_path / "truncated.txt").write_text(lightgbm_text[: len(lightgbm_text) // 2])
    (tmp_path / "newer.txt").write_text(lightgbm_text.replace("version=v4", "version=v9"))
    (tmp_path / "notes.txt").write_text("not a model\n")
    legacy = (Path(__file__).resolve().parents[2] / "data" / "xgboost-legacy" / "binary-logistic.bin").read_bytes()
    (tmp_path / "truncated.bin").write_bytes(legacy[: len(legacy) // 2])
    broken = make_pipeline(SimpleImputer(), LinearRegression()).fit(TRAIN[:3000], SCORE[:3000])
    broken[-1].coef_[0] = np.nan
    skops.io.dump(broken, tmp_path / "nan.skops")
    with open(tmp_path / "model.pkl", "wb") as handle:
        pickle.dump(broken, handle)
    _sample(labels).to_csv(tmp_path / "sample.csv", index=False)
    _sample(labels).drop(columns=["rpm"]).to_csv(tmp_path / "lacking.csv", index=False)
    _sample(labels).assign(extra=1.0).to_csv(tmp_path / "extra.csv", index=False)
    _sample(labels).iloc[:0].to_csv(tmp_path / "empty.csv", index=False)


BAD_INPUTS = [
    ("notes.txt", "sample.csv", "not a model file edgekit knows"),
    ("truncated.json", "sample.csv", "cannot read this model file"),
    ("truncated.txt", "sample.csv", "ends before its last tree"),
    ("truncated.bin", "sample.csv", "nor Treelite can read this legacy binary model"),
    ("newer.json", "sample.csv", "saved by XGBoost 99.0.0, newer than"),
    ("newer.txt", "sample.csv", "format v9 is newer than"),
    ("ranker.json", "sample.csv", "objective rank:pairwise (ranking objective)"),
    ("model.pkl", "sample.csv", "is a pickle"),
    ("nan.skops", "sample.csv", "predicts NaN or infinity"),
    ("good.json", "lacking.csv", "lacks feature 'rpm'"),
    ("good.json", "extra.csv", "column 'extra' is not a feature"),
    ("good.json", "empty.csv", "no data rows"),
]


@pytest.mark.parametrize(("model", "sample", "message"), BAD_INPUTS, ids=[row[0] + "+" + row[1] for row in BAD_INPUTS])
def test_bad_input_is_one_line_exit_2_and_writes_nothing(cli, tmp_path, model, sample, message):
    _write_bad_inputs(tmp_path)
    result = cli("import", tmp_path / model, "--data", tmp_path / sample, "--out", tmp_path / "out")
    assert result.exit_code == 2, result.output
    assert message in result.stderr and len(result.stderr.strip().splitlines()) == 1
    assert not (tmp_path / "out").exists()


def test_unsupported_estimators_and_steps_are_named():
    from sklearn.decomposition import PCA
    from sklearn.neighbors import KNeighborsClassifier

    labels = _classes(SCORE)
    knn = KNeighborsClassifier().fit(TRAIN[:300].fillna(0), labels[:300])
    with pytest.raises(BadInput, match="cannot import .*KNeighborsClassifier.*supported: XGBoost"):
        import_model(knn, _sample(labels), "unused")
    pca = make_pipeline(SimpleImputer(), PCA(3), MLPClassifier((4,), max_iter=20)).fit(TRAIN[:300], labels[:300])
    with pytest.raises(BadInput, match="pipeline step PCA"):
        import_model(pca, _sample(labels), "unused")
    from sklearn.linear_model import LogisticRegression
    from sklearn.preprocessing import MinMaxScaler

    clipped = make_pipeline(SimpleImputer(), MinMaxScaler(clip=True), LogisticRegression()).fit(TRAIN[:300], labels[:300])
    with pytest.raises(BadInput, match=r"MinMaxScaler\(clip=True\) in front of a logistic model"):
        import_model(clipped, _sample(labels), "unused")
    with pytest.raises(BadInput, match="the sample has no rows"):
        import_model(xgb.XGBRegressor(n_estimators=2).fit(TRAIN, SCORE), TRAIN.iloc[:0], "unused")


LEGACY = Path(__file__).resolve().parents[2] / "data" / "xgboost-legacy"


@pytest.mark.parametrize("name", ["binary-logistic", "multi-softprob", "count-poisson"])
def test_xgboost_legacy_binary_models_from_xgboost_1_7(name, tmp_path):
    """Files XGBoost 1.7.6 wrote in the legacy binary format (tests/data/xgboost-legacy), with what
    its own predict gave on held-out rows: XGBoost 3 no longer reads them, Treelite does."""
    rows = np.load(LEGACY / f"{name}.npz")
    sample = pd.DataFrame(rows["sample_X"], columns=[f"f{index}" for index in range(5)]).assign(label=rows["sample_y"])
    bundle = import_model(LEGACY / f"{name}.bin", sample, tmp_path / "b", label="label")
    imported = bundle.info.imported
    assert bundle.info.model_format == "treelite" and imported["source"]["format"] == "xgboost-legacy-binary"
    assert imported["objective"] == name.replace("-", ":", 1)
    classifier = bundle.info.task == "classification"
    expected = rows["expected"].astype(np.float64)
    if classifier and expected.ndim == 1:
        expected = np.column_stack([1 - expected, expected])
    for target in ("onnx", "c", "tflite"):
        artifact = compile_bundle(bundle, target, tmp_path / target)
        got = load(artifact.path).predict(rows["held_out_X"]).reshape(expected.shape)
        assert np.max(np.abs(got - expected)) <= 1e-5 * max(1.0, float(np.max(np.abs(expected))))
