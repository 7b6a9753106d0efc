"""`--target c`: every family, layout and quantization through gcc; the ARM triples through their
cross-compilers and qemu; the loader; the bad inputs."""

import json

import numpy as np
import pytest
from edgekit_runtime import load
from edgekit_runtime.errors import InvalidInput
from tests_support import assert_one_line_error, require_tool

from edgekit import compile_bundle, train_bundle

QEMU_USER = {"aarch64-linux-gnu": ("aarch64-linux-gnu-gcc", "gcc-aarch64-linux-gnu", "qemu-aarch64"),
             "arm-linux-gnueabihf": ("arm-linux-gnueabihf-gcc", "gcc-arm-linux-gnueabihf", "qemu-arm")}


def _loaded_matches_bundle(artifact, bundle, atol):
    reference = bundle.reference()
    got = load(artifact.path).predict(reference["test_X"])
    np.testing.assert_allclose(got.reshape(reference["test_outputs"].shape), reference["test_outputs"], atol=atol)


@pytest.fixture(scope="module")
def bundles(tmp_path_factory):
    root = tmp_path_factory.mktemp("c-bundles")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("EDGEKIT_HOME", str(root / "home"))
        return {
            "xgboost": train_bundle("bundled:breast-cancer", root / "xgb"),
            "xgboost-deep": train_bundle("synthetic:sensors?rows=3000&missing=0.05", root / "xgb-deep", family="xgboost"),
            "forest": train_bundle("bundled:wine", root / "rf", family="random-forest", params={"n_estimators": "30"}),
            "hist": train_bundle("synthetic:sensors?rows=2000&missing=0.05", root / "hgb", family="hist-gradient-boosting"),
            "regression": train_bundle("synthetic:sensors?rows=1500&missing=0", root / "gbr", family="gradient-boosting",
                                       label="temperature_c", task="regression"),
            "mlp": train_bundle("bundled:digits", root / "mlp", family="mlp"),
            "logistic": train_bundle("bundled:breast-cancer", root / "logistic", family="logistic"),
            "linear": train_bundle("bundled:diabetes", root / "linear", family="linear"),
        }


HOST_CASES = [
    ("xgboost", {"layout": "table"}, "fp32"),
    ("xgboost", {"layout": "table", "quantize": "thresholds"}, "fp32"),
    ("xgboost", {"layout": "table", "quantize": "int16"}, "int16"),
    ("xgboost", {"layout": "table", "quantize": "int8"}, "int8"),
    ("xgboost", {"layout": "ifelse"}, "fp32"),
    ("xgboost", {"layout": "ifelse", "quantize": "thresholds"}, "fp32"),
    ("xgboost-deep", {"layout": "table"}, "fp32"),
    ("xgboost-deep", {"layout": "table", "quantize": "int16"}, "int16"),
    ("forest", {"layout": "table"}, "fp32"),
    ("forest", {"layout": "table", "quantize": "int16"}, "int16"),
    ("forest", {"layout": "ifelse"}, "fp32"),
    ("hist", {"layout": "table"}, "fp32"),
    ("hist", {"layout": "ifelse", "quantize": "thresholds"}, "fp32"),
    ("regression", {"layout": "table"}, "fp32"),
    ("regression", {"layout": "table", "quantize": "int16"}, "int16"),
    ("mlp", {}, "fp32"),
    ("mlp", {"quantize": "int8"}, "int8"),
    ("logistic", {}, "fp32"),
    ("linear", {"quantize": "int8"}, "int8"),
]


@pytest.mark.parametrize("name, options, precision", HOST_CASES)
def test_host_artifact_is_certified_and_loads(bundles, name, options, precision, tmp_path):
    require_tool("gcc", "gcc")
    bundle = bundles[name]
    artifact = compile_bundle(bundle.path, "c", tmp_path / "a", options=options)
    info = artifact.info
    assert info.precision == precision and info.parity["passed"]
    assert info.runtime["triple"] == "x86_64-linux-gnu" and info.model_file == "lib/libedgekit_model.so"
    measured = info.resources["x86_64-linux-gnu"]
    assert measured["flash_bytes"] > 0 and measured["sections"]["stack"] > 0
    assert "src/model.c" in info.files or "src/edgekit_api.c" in info.files
    if info.bundle["family"] in {"xgboost", "random-forest", "hist-gradient-boosting", "gradient-boosting"} and precision == "fp32":
        assert info.parity["threshold_edge_rows"] > 0
    scale = 1.0 if info.bundle["task"] == "classification" else float(np.max(np.abs(bundle.reference()["test_outputs"])))
    tolerance = {"fp32": 1e-5, "int16": 5e-3, "int8": 0.1}[precision] * scale
    _loaded_matches_bundle(artifact, bundle, tolerance)


@pytest.mark.parametrize("name", ["xgboost-deep", "regression"])
def test_single_row_path_matches_the_batch_path(bundles, name, tmp_path):
    """One row takes its own short path into C; every form of a row must give the batch answer."""
    require_tool("gcc", "gcc")
    artifact = compile_bundle(bundles[name].path, "c", tmp_path / "a", options={"layout": "table"})
    predictor = load(artifact.path)
    rows = np.asarray(bundles[name].reference()["test_X"][:20], dtype=np.float64)
    rows[0, 0] = np.nan  # a missing value takes the default direction on both paths
    expected = predictor.predict(rows)
    for i, row in enumerate(rows):
        forms = [row.astype(np.float32), row, row[None, :].astype(np.float32), row[None, :],
                 np.asfortranarray(np.stack([row, row]).astype(np.float32))[:1], rows[:, ::-1][i, ::-1]]
        for form in forms:
            got = predictor.predict(form)
            assert got.shape == expected[i : i + 1].shape
            np.testing.assert_array_equal(got, expected[i : i + 1])
    with pytest.raises(InvalidInput, match="expected rows of"):
        predictor.predict(rows[0][:, None])  # a column, not a row
    with pytest.raises(InvalidInput, match="must be numbers"):
        predictor.predict(np.array([str(v) for v in rows[0]]))


def test_exact_quantization_reports_exact_bins(bundles, tmp_path):
    artifact = compile_bundle(bundles["xgboost"].path, "c", tmp_path / "a", options={"quantize": "thresholds"})
    thresholds = artifact.info.options["thresholds"]
    assert thresholds["exact"] and thresholds["bins"] == "uint16" and thresholds["merged_features"] == []
    assert artifact.info.parity["max_abs_diff"] < 1e-6


def test_int16_table_is_smaller_than_float_table(bundles, tmp_path):
    bundle = bundles["xgboost-deep"]
    plain = compile_bundle(bundle.path, "c", tmp_path / "f", options={"triple": "x86_64-linux-gnu"})
    small = compile_bundle(bundle.path, "c", tmp_path / "q", options={"quantize": "int16"})
    assert small.info.resources["x86_64-linux-gnu"]["flash_bytes"] < plain.info.resources["x86_64-linux-gnu"]["flash_bytes"]


@pytest.mark.parametrize("triple", sorted(QEMU_USER))
def test_linux_arm_artifact_is_certified_under_qemu_user(bundles, triple, tmp_path, cli):
    compiler, package, qemu = QEMU_USER[triple]
    require_tool(compiler, package)
    require_tool(qemu, "qemu-user")
    artifact = compile_bundle(bundles["hist"].path, "c", tmp_path / "a", options={"triple": triple, "quantize": "int16"})
    info = artifact.info
    assert info.parity["passed"] and info.options["parity_run"] == qemu
    assert set(info.runtime["libraries"]) == {"shared", "static"}
    assert info.resources[triple]["flash_bytes"] > 0
    with pytest.raises(InvalidInput, match=f"built for {triple}"):
        load(artifact.path)
    verified = json.loads(cli("artifact", "verify", artifact.path, "--json").stdout)
    assert verified["ok"] and verified["emulated"] == qemu


@pytest.mark.parametrize("triple, bundle, options", [
    ("cortex-m0plus", "xgboost", {"quantize": "int16"}),
    ("cortex-m4f", "hist", {}),
    ("cortex-m7", "mlp", {"quantize": "int8"}),
])
def test_cortex_m_artifact_is_certified_on_an_emulated_board(bundles, triple, bundle, options, tmp_path, cli):
    require_tool("arm-none-eabi-gcc", "gcc-arm-none-eabi")
    require_tool("qemu-system-arm", "qemu-system-arm")
    artifact = compile_bundle(bundles[bundle].path, "c", tmp_path / "a", options={"triple": triple, **options})
    info = artifact.info
    assert info.parity["passed"] and info.options["parity_run"].startswith("qemu-system-arm mps2-an")
    assert info.model_file == "lib/libedgekit_model.a" and set(info.runtime["libraries"]) == {"static"}
    measured = info.resources[triple]
    assert 0 < measured["flash_bytes"] < 1 << 20 and measured["ram_bytes"] >= measured["sections"]["stack"] > 0
    verified = json.loads(cli("artifact", "verify", artifact.path, "--json").stdout)
    assert verified["ok"] and verified["emulated"] == "qemu-system-arm"


def test_device_profile_picks_the_triple(bundles, tmp_path):
    require_tool("arm-none-eabi-gcc", "gcc-arm-none-eabi")
    from edgekit.devices import load_profile

    artifact = compile_bundle(bundles["xgboost"].path, "c", tmp_path / "a", device=load_profile("stm32f407"))
    assert artifact.info.runtime["triple"] == "cortex-m4f"


def test_cli_compiles_with_c_flags(cli, trained_bundle, tmp_path):
    result = cli("compile", trained_bundle, "--target", "c", "--layout", "table", "--quantize", "int16",
                 "--triple", "x86_64-linux-gnu", "--out", tmp_path / "a", "--json")
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    assert summary["precision"] == "int16" and summary["options"]["quantize"] == "int16"
    assert summary["resources"]["x86_64-linux-gnu"]["flash_bytes"] > 0
    shown = cli("artifact", "show", tmp_path / "a")
    assert shown.exit_code == 0 and "flash" in shown.stdout and "parity passed" in shown.stdout


def test_unknown_triple_lists_the_known_ones(cli, trained_bundle, tmp_path):
    result = cli("compile", trained_bundle, "--target", "c", "--triple", "riscv64-linux-gnu", "--out", tmp_path / "a")
    assert_one_line_error(result, 2, "riscv64-linux-gnu", "aarch64-linux-gnu", "cortex-m0plus")
    assert not (tmp_path / "a").exists()


@pytest.mark.parametrize("bundle, flags, fragment", [
    ("mlp", ["--layout", "ifelse"], "--layout is for tree models"),
    ("mlp", ["--quantize", "int16"], "--quantize int16 is for tree models"),
    ("xgboost", ["--layout", "ifelse", "--quantize", "int8"], "ifelse layout cannot take --quantize int8"),
    ("xgboost", ["--layout", "diagonal"], "option layout=diagonal is not allowed"),
    ("xgboost", ["--quantize", "int4"], "option quantize=int4 is not allowed"),
    ("xgboost", ["--triple", "cortex-m3", "--option", "triple=cortex-m4f"], "contradicts"),
])
def test_options_a_model_cannot_take_are_refused(cli, bundles, bundle, flags, fragment, tmp_path):
    result = cli("compile", bundles[bundle].path, "--target", "c", *flags, "--out", tmp_path / "a")
    assert_one_line_error(result, 2, fragment)
    assert not (tmp_path / "a").exists()


def test_model_too_big_for_any_microcontroller_says_how_much_it_needs(cli, bundles, tmp_path, monkeypatch):
    require_tool("arm-none-eabi-gcc", "gcc-arm-none-eabi")
    configs = tmp_path / "devices"
    configs.mkdir()
    (configs / "tiny-m0.yaml").write_text(
        "id: tiny-m0\nname: A 4 KB Cortex-M0+ part\n"
        "cpu: {arch: armv6m, triple: arm-none-eabi, core: Cortex-M0+, mhz: 48, cores: 1, fpu: none}\n"
        "memory: {ram_bytes: 1024, flash_bytes: 4096}\nruntimes: {c: {triple: arm-none-eabi, libc: newlib}}\n"
        "budgets: {artifact_bytes: 2048, ram_bytes: 512, p99_latency_ms: 10}\n"
        "emulation: {mode: qemu-system, binary: qemu-system-arm, machine: mps2-an385, cpu: cortex-m3}\n"
        "cost_model: {cycles_per_node_visit: 16, cycles_per_mac: 8, cycles_per_instruction: 1.5, source: test}\n"
        "sources: [test profile]\n"
    )
    monkeypatch.setenv("EDGEKIT_DEVICE_CONFIGS", str(configs))
    result = cli("compile", bundles["forest"].path, "--target", "c", "--triple", "cortex-m0plus", "--out", tmp_path / "a")
    assert_one_line_error(result, 2, "bytes of flash for cortex-m0plus", "tiny-m0", "has 4096")
    assert not (tmp_path / "a").exists()


def test_compiler_error_shows_its_first_lines_and_keeps_the_sources(cli, trained_bundle, tmp_path):
    result = cli("compile", trained_bundle, "--target", "c", "--option", "cflags=-DEDGEKIT_BLOCK=0u", "--out", tmp_path / "a")
    assert_one_line_error(result, 1, "gcc failed to compile model.c", "EDGEKIT_BLOCK", "kept in")
    kept = result.stderr.split("kept in ")[1].split(" for inspection")[0]
    from pathlib import Path

    assert (Path(kept) / "model.c").is_file() and (Path(kept) / "edgekit_model.h").is_file()
    assert not (tmp_path / "a").exists()


def test_missing_cross_compiler_names_the_package(cli, trained_bundle, tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", str(tmp_path / "empty-bin"))
    result = cli("compile", trained_bundle, "--target", "c", "--triple", "cortex-m4f", "--out", tmp_path / "a")
    assert_one_line_error(result, 3, "arm-none-eabi-gcc", "gcc-arm-none-eabi")
    assert not (tmp_path / "a").exists()
