"""Real training on bundled and synthetic data, every family, through the bundle and back."""

import json

import numpy as np
import pandas as pd
import pytest

from edgekit import ModelBundle, train_bundle
from edgekit.train.families import family_names, get_family

# Regression: predict a sensor's temperature from the others, a relation every family can learn.
DATA_FOR_TASK = {
    "classification": ("bundled:wine", None),
    "regression": ("synthetic:sensors?rows=2000&missing=0", "temperature_c"),
}
CASES = [(name, task) for name in family_names() for task in sorted(get_family(name).tasks)]


@pytest.mark.parametrize("family, task", CASES)
def test_every_family_trains_bundles_and_reproduces_its_reference(family, task, tmp_path):
    data, label = DATA_FOR_TASK[task]
    bundle = train_bundle(data, tmp_path / "b", family=family, label=label, task=task)
    loaded = ModelBundle.load(tmp_path / "b")
    assert (loaded.info.family, loaded.info.task) == (family, task)
    assert loaded.check_reference() <= 1e-12  # reloading can reorder float sums, nothing more
    reference = loaded.reference()
    assert reference["X"].dtype == np.float32 and len(reference["X"]) == min(256, loaded.info.data["split"]["test"])
    assert (tmp_path / "b" / loaded.info.model_file).suffix in {".ubj", ".txt", ".skops"}
    test = bundle.info.metrics["test"]
    if task == "classification":
        assert test["accuracy"] > 0.8 and reference["outputs"].shape[1] == 3
    else:
        assert test["r2"] > 0.6


def test_breast_cancer_xgboost_meets_the_bar(cli, tmp_path):
    result = cli("train", "bundled:breast-cancer", "--out", tmp_path / "b1", "--json")
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    assert summary["metrics"]["test"]["roc_auc"] >= 0.97
    assert cli("bundle", "verify", tmp_path / "b1").exit_code == 0


def test_tuning_runs_n_trials_and_records_them(tmp_path):
    bundle = train_bundle("bundled:breast-cancer", tmp_path / "b", tune=4, seed=1)
    tuning = bundle.info.tuning
    assert tuning["trials"] == 4 and len(tuning["scores"]) == 4
    assert tuning["scores"][tuning["best_trial"]] == min(tuning["scores"])
    assert bundle.info.params["n_estimators"] >= 50


def test_synthetic_sensors_with_categories_and_missing_values(tmp_path):
    bundle = train_bundle("synthetic:sensors?rows=3000&missing=0.05", tmp_path / "b", family="random-forest")
    kinds = {feature.name: feature for feature in bundle.schema.features}
    assert kinds["machine_type"].categories == ["compressor", "conveyor", "fan", "pump"]
    assert 0.03 < kinds["temperature_c"].missing_rate < 0.07
    assert np.isnan(bundle.reference()["X"]).any()
    assert bundle.info.metrics["test"]["roc_auc"] > 0.8
    assert bundle.check_reference() <= 1e-12


def test_csv_and_parquet_give_the_same_data_fingerprint(tmp_path):
    frame = pd.DataFrame({"x": np.arange(40.0), "kind": ["a", "b"] * 20, "label": [0, 1, 1, 0] * 10})
    frame.to_csv(tmp_path / "d.csv", index=False)
    frame.to_parquet(tmp_path / "d.parquet")
    from_csv = train_bundle(str(tmp_path / "d.csv"), tmp_path / "b1", family="logistic")
    from_parquet = train_bundle(str(tmp_path / "d.parquet"), tmp_path / "b2", family="logistic")
    assert from_csv.info.data["fingerprint"] == from_parquet.info.data["fingerprint"]
    assert from_csv.info.name == "d" and from_parquet.info.version == 2


def test_the_split_and_model_repeat_with_the_seed(tmp_path):
    first = train_bundle("bundled:wine", tmp_path / "a", family="random-forest", seed=4)
    second = train_bundle("bundled:wine", tmp_path / "b", family="random-forest", seed=4)
    np.testing.assert_array_equal(first.reference()["rows"], second.reference()["rows"])
    np.testing.assert_array_equal(first.reference()["outputs"], second.reference()["outputs"])


def test_mlp_regression_learns_a_target_in_its_own_units(tmp_path):
    # Without the standardised-target fit, this MLP ends with a negative R² on diabetes.
    bundle = train_bundle("bundled:diabetes", tmp_path / "b", family="mlp")
    assert bundle.info.metrics["test"]["r2"] > 0.1
    assert 50 < float(np.mean(bundle.reference()["outputs"])) < 250
