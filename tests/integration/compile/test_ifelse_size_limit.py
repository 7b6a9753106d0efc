"""Issue 20, finding 5: `--layout ifelse` ran over 600 s for a 20-class random forest.

The if-else source is estimated from the tree tables' node counts before TL2cgen writes anything;
past the limit the layout is refused (exit 2, naming --layout table) and auto-fit skips it, saying
why. The commands run in a child process with a deadline: unbounded, they ran for many minutes.
"""

import json
import os
import subprocess
import sys
import time

import numpy as np
import pytest
import yaml
from tests_support import edgekit_home, require_tool

from edgekit import ModelBundle, compile_bundle, train_bundle
from edgekit.compile.c.ifelse import IFELSE_MAX_SOURCE_MB, estimate_ifelse_source_bytes
from edgekit.compile.trees.tables import bundle_trees
from edgekit.devices.profiles import configs_directory

DEADLINE_S = 120  # the refusal takes seconds; generating and compiling this forest's if-else takes many minutes


def _forest_data(rows: int, classes: int = 20) -> tuple[np.ndarray, np.ndarray]:
    from sklearn.datasets import make_classification

    return make_classification(n_samples=rows, n_features=20, n_informative=15, n_classes=classes,
                               n_clusters_per_class=1, random_state=0)


@pytest.fixture(scope="module")
def forests(tmp_path_factory):
    root = tmp_path_factory.mktemp("ifelse-forests")
    with edgekit_home(root):
        big = train_bundle(_forest_data(20_000), root / "big", family="random-forest", name="rf-20-classes",
                           params={"n_estimators": "40", "max_depth": "10"})
        small = train_bundle(_forest_data(2_000), root / "small", family="random-forest", name="rf-small",
                             params={"n_estimators": "8", "max_depth": "6"})
    return {"big": big.path, "small": small.path}


def _edgekit(*args, env: dict[str, str] | None = None) -> tuple[subprocess.CompletedProcess, float]:
    started = time.perf_counter()
    done = subprocess.run([sys.executable, "-m", "edgekit.cli", *map(str, args)], capture_output=True, text=True, check=False,
                          timeout=DEADLINE_S, env={**os.environ, **(env or {})})
    return done, time.perf_counter() - started


def test_ifelse_past_the_source_limit_is_refused_at_once_naming_the_table_layout(forests, tmp_path):
    estimate = estimate_ifelse_source_bytes(bundle_trees(ModelBundle.load(forests["big"])).tables)
    assert estimate > IFELSE_MAX_SOURCE_MB * 1_000_000
    done, seconds = _edgekit("compile", forests["big"], "--target", "c", "--layout", "ifelse", "--out", tmp_path / "a")
    assert done.returncode == 2, done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in done.stderr, done.stderr
    assert f"past the {IFELSE_MAX_SOURCE_MB} MB limit" in lines[0] and "use --layout table" in lines[0], lines[0]
    assert seconds < 60 and not (tmp_path / "a").exists()


def test_ifelse_under_the_limit_still_compiles_and_its_size_estimate_holds(forests, tmp_path):
    require_tool("gcc", "gcc")
    bundle = ModelBundle.load(forests["small"])
    artifact = compile_bundle(bundle, "c", tmp_path / "a", options={"layout": "ifelse"})
    assert artifact.info.parity["passed"] and artifact.info.options["layout"] == "ifelse"
    written = sum(path.stat().st_size for path in (tmp_path / "a" / "src").iterdir() if path.suffix in {".c", ".h"})
    estimate = estimate_ifelse_source_bytes(bundle_trees(bundle).tables)
    assert 0.7 < estimate / written < 1.5, (estimate, written)


def test_ifelse_limit_is_an_option(forests, tmp_path):
    require_tool("gcc", "gcc")
    done, _ = _edgekit("compile", forests["small"], "--target", "c", "--layout", "ifelse", "--option", "ifelse-max-mb=0",
                       "--out", tmp_path / "a")
    assert done.returncode == 2 and "past the 0 MB limit" in done.stderr, done.stderr
    done, _ = _edgekit("compile", forests["small"], "--target", "c", "--option", "ifelse-max-mb=5", "--out", tmp_path / "b")
    assert done.returncode == 2 and "ifelse-max-mb is for --layout ifelse" in done.stderr, done.stderr


def test_auto_fit_skips_an_ifelse_build_past_the_limit_and_says_why(forests, tmp_path):
    require_tool("gcc", "gcc")
    configs = tmp_path / "devices"
    configs.mkdir()
    profile = yaml.safe_load((configs_directory() / "x86-64-gateway-n100.yaml").read_text())
    profile["id"], profile["runtimes"] = "c-gateway", {"c": profile["runtimes"]["c"]}  # C builds only
    (configs / "c-gateway.yaml").write_text(yaml.safe_dump(profile))
    done, _ = _edgekit("compile", forests["big"], "--device", "c-gateway", "--target", "auto", "--out", tmp_path / "fit",
                       "--json", env={"EDGEKIT_DEVICE_CONFIGS": str(configs)})
    assert done.returncode == 0, done.stderr
    attempts = {attempt["candidate"]: attempt for attempt in json.loads(done.stdout)["attempts"]}
    assert attempts["c ifelse"]["outcome"] == "skipped"
    assert f"past the {IFELSE_MAX_SOURCE_MB} MB limit" in attempts["c ifelse"]["reason"]
    assert attempts["c table"]["outcome"] in {"chosen", "passed"}
