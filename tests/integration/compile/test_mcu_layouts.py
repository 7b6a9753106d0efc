"""The microcontroller tree layouts (compact, inline): certified for every tree family, NaN default
directions included; the same outputs on a Cortex-M4F under qemu as on x86-64; smaller or faster
than the table layout there, and chosen by auto-fit for that."""

from __future__ import annotations

import numpy as np
import pytest
from edgekit_runtime import load
from tests_support import require_tool

from edgekit import compile_bundle, train_bundle
from edgekit.compile.c.harness import run_harness
from edgekit.compile.c.toolchains import build_harness, toolchain_for
from edgekit.compile.trees.split_nodes import FRACTION_UNITS, leaf_encoding, split_nodes
from edgekit.compile.trees.tables import bundle_trees
from edgekit.devices import load_profile
from edgekit.devices.autofit import fit_to_device

FP32_EXACT = 1e-5  # the bar every layout keeps against the model


@pytest.fixture(scope="module")
def bundles(tmp_path_factory):
    root = tmp_path_factory.mktemp("mcu-bundles")
    missing = "synthetic:sensors?rows=2000&missing=0.05"
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("EDGEKIT_HOME", str(root / "home"))
        return {
            "forest-multiclass": train_bundle("bundled:wine", root / "rf", family="random-forest", params={"n_estimators": "20"}),
            "forest-missing": train_bundle(missing, root / "rf-nan", family="random-forest",
                                           params={"n_estimators": "10", "max_depth": "8"}),
            "xgboost": train_bundle("bundled:breast-cancer", root / "xgb"),
            "xgboost-multiclass": train_bundle("bundled:wine", root / "xgb-wine", family="xgboost"),
            "xgboost-missing": train_bundle(missing, root / "xgb-nan", family="xgboost"),
            "lightgbm-missing": train_bundle(missing, root / "lgbm-nan", family="lightgbm"),
            "regression": train_bundle("synthetic:sensors?rows=1500&missing=0", root / "gbr", family="gradient-boosting",
                                       label="temperature_c", task="regression"),
        }


@pytest.mark.parametrize("layout", ["compact", "inline"])
@pytest.mark.parametrize("name", ["forest-multiclass", "forest-missing", "xgboost", "xgboost-multiclass",
                                  "xgboost-missing", "lightgbm-missing", "regression"])
def test_layout_is_certified_exact_for_every_tree_family(bundles, name, layout, tmp_path):
    bundle = bundles[name]
    artifact = compile_bundle(bundle.path, "c", tmp_path / "a", options={"layout": layout})
    info = artifact.info
    scale = 1.0 if bundle.info.task == "classification" else float(np.max(np.abs(bundle.reference()["test_outputs"])))
    assert info.parity["passed"] and info.precision == "fp32"
    assert info.parity["max_abs_diff"] <= FP32_EXACT * scale
    reference = bundle.reference()
    rows = reference["test_X"]
    if "missing" in name:
        assert np.isnan(rows).any()  # the default directions are what these rows test
    got = load(artifact.path).predict(rows)
    np.testing.assert_allclose(got.reshape(reference["test_outputs"].shape), reference["test_outputs"], atol=FP32_EXACT * scale)


def test_pure_leaves_are_integer_votes_and_impure_ones_fractions_within_the_bound(tmp_path):
    grown = train_bundle("bundled:breast-cancer", tmp_path / "grown", family="random-forest", params={"n_estimators": "5"})
    tables = bundle_trees(grown).tables
    votes = leaf_encoding(tables, split_nodes(tables))
    assert votes.kind == "votes" and votes.units == 1 and votes.complement and set(np.unique(votes.values)) <= {0, 1}

    shallow = train_bundle("bundled:breast-cancer", tmp_path / "shallow", family="random-forest",
                           params={"n_estimators": "5", "max_depth": "3"})
    tables = bundle_trees(shallow).tables
    nodes = split_nodes(tables)
    fractions = leaf_encoding(tables, nodes)
    assert fractions.kind == "fractions" and fractions.units == FRACTION_UNITS
    stored = fractions.values[fractions.slot_row] if fractions.slot_row is not None else fractions.values
    exact = tables.leaf_values.reshape(-1, 2)[tables.child[nodes.slot_leaf] // 2, 1]
    assert np.max(np.abs(stored[:, 0] / FRACTION_UNITS - exact)) <= 0.5 / FRACTION_UNITS


@pytest.mark.parametrize("name", ["forest-missing", "xgboost-multiclass"])
def test_cortex_m4f_computes_what_x86_64_computes(bundles, name, tmp_path):
    require_tool("arm-none-eabi-gcc", "gcc-arm-none-eabi")
    require_tool("qemu-system-arm", "qemu-system-arm")
    bundle = bundles[name]
    rows = bundle.reference()["test_X"][:64]
    for layout in ("compact", "inline"):
        board = compile_bundle(bundle.path, "c", tmp_path / f"m4-{layout}", options={"layout": layout, "triple": "cortex-m4f"})
        assert board.info.parity["passed"] and board.info.options["parity_run"] == "qemu-system-arm mps2-an386"
        host = compile_bundle(bundle.path, "c", tmp_path / f"x86-{layout}", options={"layout": layout})
        toolchain = toolchain_for("cortex-m4f")
        (tmp_path / f"harness-{layout}").mkdir()
        program = build_harness(toolchain, [board.path / "lib/libedgekit_model.a"], tmp_path / f"harness-{layout}")
        on_board = run_harness(toolchain, program, rows, bundle.info.output_width)
        # The tree sums are the same arithmetic; a softmax's expf is newlib's on the board, glibc's here (an ulp apart).
        np.testing.assert_allclose(on_board.reshape(-1), load(host.path).predict(rows).reshape(-1), rtol=1e-6, atol=1e-9)


def test_on_a_cortex_m4f_compact_is_smallest_and_inline_fastest(bundles, tmp_path):
    require_tool("arm-none-eabi-gcc", "gcc-arm-none-eabi")
    require_tool("qemu-system-arm", "qemu-system-arm")
    bundle = bundles["forest-missing"]
    measured = {}
    for layout in ("table", "compact", "inline"):
        artifact = compile_bundle(bundle.path, "c", tmp_path / layout, options={"layout": layout, "triple": "cortex-m4f"})
        measured[layout] = artifact.info.resources["cortex-m4f"]
    assert measured["compact"]["flash_bytes"] < 0.6 * measured["table"]["flash_bytes"]
    assert measured["inline"]["instructions_per_row"] < 0.5 * measured["table"]["instructions_per_row"]


@pytest.mark.parametrize("prefer, layout", [("size", "compact"), ("speed", "inline")])
def test_auto_fit_picks_compact_for_size_and_inline_for_speed(bundles, prefer, layout, tmp_path):
    require_tool("arm-none-eabi-gcc", "gcc-arm-none-eabi")
    require_tool("qemu-system-arm", "qemu-system-arm")
    result = fit_to_device(bundles["forest-missing"].path, load_profile("stm32f407"), tmp_path / "fitted", prefer)
    chosen = next(attempt for attempt in result.attempts if attempt.outcome == "chosen")
    assert chosen.candidate.options == {"layout": layout}, [(a.candidate.label, a.outcome, a.flash_bytes, a.p99_ms)
                                                            for a in result.attempts]
