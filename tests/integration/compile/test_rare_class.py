"""A rare class through quantized builds: the reproduction of a held-out zoo's finding, where an
int8 C build of a gradient-boosting model on 1 % positives passed on global label agreement while
calling every positive negative. The certificate gates per class; auto-fit never keeps such a build."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from tests_support import edgekit_home, require_tool

from edgekit import train_bundle
from edgekit.compile import compile_bundle
from edgekit.devices import load_profile
from edgekit.devices.autofit import fit_to_device
from edgekit.errors import CheckFailed

# sklearn's gradient boosting with large steps: its first trees carry leaves far larger than the
# later ones, and one int8 scale for every leaf rounds the rare class's evidence away
PARAMS = {"n_estimators": "300", "max_depth": "5", "learning_rate": "0.2"}


@pytest.fixture(scope="module")
def rare_bundle(tmp_path_factory):
    """1 % positives: the rows nearest a point in three of six features."""
    rng = np.random.default_rng(1)
    X = rng.normal(size=(20_000, 6))
    distance = np.linalg.norm(X[:, :3] - [2.0, -2.0, 1.5], axis=1)
    frame = pd.DataFrame(X, columns=[f"f{i}" for i in range(6)])
    frame["label"] = (distance < np.quantile(distance, 0.01)).astype(int)
    path = tmp_path_factory.mktemp("rare") / "rare.csv"
    frame.to_csv(path, index=False)
    with edgekit_home(path.parent):
        return train_bundle(str(path), path.parent / "bundle", label="label", family="gradient-boosting", params=PARAMS)


def test_an_int8_build_that_drops_the_rare_class_is_refused_and_show_prints_each_class(rare_bundle, tmp_path, cli):
    require_tool("gcc", "gcc")
    with pytest.raises(CheckFailed) as refused:
        compile_bundle(rare_bundle, "c", tmp_path / "int8", options={"quantize": "int8"})
    # every global figure holds (what let the build through before): only the rare class fails
    assert "class 1: the artifact keeps 0.00%" in str(refused.value) and "test recall" in str(refused.value)
    assert "label agreement" not in str(refused.value) and not (tmp_path / "int8").exists()
    kept = compile_bundle(rare_bundle, "c", tmp_path / "float")
    parity = json.loads((kept.path / "artifact.json").read_text())["parity"]
    positives = parity["classes"][1]
    assert parity["passed"] and positives["passed"] and positives["rows"] >= 10 and positives["agreement"] == 1.0
    assert positives["recall"]["artifact"] == positives["recall"]["original"]
    shown = cli("artifact", "show", str(tmp_path / "float"))
    assert shown.exit_code == 0
    assert "class 0: keeps 100.00% of" in shown.stdout and "class 1: keeps 100.00% of" in shown.stdout and "test recall" in shown.stdout


def test_auto_fit_never_keeps_the_build_that_drops_the_rare_class(rare_bundle, tmp_path):
    require_tool("gcc", "gcc")
    require_tool("aarch64-linux-gnu-gcc", "gcc-aarch64-linux-gnu")
    result = fit_to_device(rare_bundle.path, load_profile("raspberry-pi-4b"), tmp_path / "fit")  # prefers the smallest
    int8 = next(attempt for attempt in result.attempts if attempt.candidate.label == "c table int8")
    assert int8.outcome == "rejected" and "class 1: the artifact keeps 0.00%" in int8.reason
    assert result.chosen.info.precision != "int8" and result.chosen.info.parity["classes"][1]["passed"]
