"""`edgekit compile` and `edgekit artifact` through the CLI: success, every bad input, the parity gate."""

import json
import re

import numpy as np
import pytest
from edgekit_runtime import describe_files
from tests_support import assert_one_line_error

from edgekit import train_bundle
from edgekit.storage import content_hash


def _rehash(directory, descriptor_name, names):
    descriptor = json.loads((directory / descriptor_name).read_text())
    descriptor["files"].update(describe_files(directory, names))
    descriptor["content_hash"] = content_hash(descriptor)
    (directory / descriptor_name).write_text(json.dumps(descriptor))


def summary_created(artifact) -> str:
    return json.loads((artifact / "artifact.json").read_text())["created"][:19].replace("T", " ")


def test_compile_show_and_verify(cli, trained_bundle, tmp_path):
    result = cli("compile", trained_bundle, "--target", "onnx", "--out", tmp_path / "a", "--json")
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    assert summary["parity"]["passed"] and summary["parity"]["threshold_edge_rows"] > 0
    # XGBoost is written from edgekit's tree tables: raw scores in double, then the sigmoid pair.
    operators = {(entry["domain"], entry["op_type"]) for entry in summary["requirements"]["operators"]}
    assert ("ai.onnx.ml", "TreeEnsembleRegressor") in operators and ("ai.onnx", "Sigmoid") in operators
    shown = cli("artifact", "show", tmp_path / "a")
    assert shown.exit_code == 0 and "parity passed" in shown.stdout
    # it describes the artifact, not a write that did not happen; figures as people read them, no Python dicts
    assert "written to" not in shown.stdout and f"compiled {summary_created(tmp_path / 'a')} in " in shown.stdout
    opset = ", ".join(f"{domain} {version}" for domain, version in summary["requirements"]["opset"].items())
    assert f"opset {opset}" in shown.stdout and "{" not in shown.stdout
    assert re.search(r"model: model\.onnx, [0-9.]+ KiB;", shown.stdout), shown.stdout
    verified = json.loads(cli("artifact", "verify", tmp_path / "a", "--json").stdout)
    assert verified["ok"] and verified["rows"] == 32
    # Compiling the same bundle again into the same directory replaces the artifact.
    assert cli("compile", trained_bundle, "--target", "onnx", "--out", tmp_path / "a").exit_code == 0


def test_compile_with_a_device_profile(cli, tmp_path):
    train_bundle("bundled:wine", tmp_path / "b", family="mlp")
    result = cli("compile", tmp_path / "b", "--target", "onnx-fp16", "--device", "raspberry-pi-4b", "--out", tmp_path / "a", "--json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["requirements"]["opset"]["ai.onnx"] == 21


def test_not_a_bundle(cli, tmp_path):
    assert_one_line_error(cli("compile", tmp_path, "--target", "onnx", "--out", tmp_path / "a"), 2, "not an edgekit bundle")


def test_bundle_with_a_bad_hash(cli, bundle_copy, tmp_path):
    data = bytearray((bundle_copy / "model.ubj").read_bytes())
    data[100] ^= 0xFF
    (bundle_copy / "model.ubj").write_bytes(bytes(data))
    assert_one_line_error(cli("compile", bundle_copy, "--target", "onnx", "--out", tmp_path / "a"), 2, "model.ubj: sha256 does not match")
    assert not (tmp_path / "a").exists()


def test_unknown_target(cli, trained_bundle, tmp_path):
    assert_one_line_error(cli("compile", trained_bundle, "--target", "coreml", "--out", tmp_path / "a"), 2, "unknown target 'coreml'", "onnx, onnx-fp16, onnx-int8")


@pytest.mark.parametrize("target", ["onnx-int8", "onnx-fp16"])
def test_tree_models_are_refused_quantized_targets_with_a_pointer(cli, trained_bundle, tmp_path, target):
    assert_one_line_error(
        cli("compile", trained_bundle, "--target", target, "--out", tmp_path / "a"), 2,
        f"target {target} does not take xgboost models", "--target c --quantize",
    )


def test_unknown_device(cli, trained_bundle, tmp_path):
    assert_one_line_error(cli("compile", trained_bundle, "--target", "onnx", "--device", "pdp-11", "--out", tmp_path / "a"), 2, "unknown device 'pdp-11'", "raspberry-pi-4b")


def test_device_without_onnx_runtime(cli, trained_bundle, tmp_path):
    assert_one_line_error(cli("compile", trained_bundle, "--target", "onnx", "--device", "stm32f407", "--out", tmp_path / "a"), 2, "has no ONNX Runtime")


def test_out_is_a_user_directory(cli, trained_bundle, tmp_path):
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "notes.txt").write_text("keep me")
    assert_one_line_error(cli("compile", trained_bundle, "--target", "onnx", "--out", tmp_path / "mine"), 2, "is not an edgekit artifact")
    assert (tmp_path / "mine" / "notes.txt").read_text() == "keep me"


def test_out_holds_an_artifact_of_another_bundle(cli, trained_bundle, tmp_path):
    train_bundle("bundled:wine", tmp_path / "other", family="logistic")
    assert cli("compile", tmp_path / "other", "--target", "onnx", "--out", tmp_path / "a").exit_code == 0
    before = (tmp_path / "a" / "artifact.json").read_text()
    assert_one_line_error(cli("compile", trained_bundle, "--target", "onnx", "--out", tmp_path / "a"), 2, "artifact of another bundle (wine)")
    assert (tmp_path / "a" / "artifact.json").read_text() == before


@pytest.mark.parametrize(
    "option, message",
    [("opset", "is not KEY=VALUE"), ("bogus=1", "has no option 'bogus'"), ("int8=fast", "int8=fast is not allowed"), ("opset=new", "not a whole number")],
)
def test_bad_options(cli, trained_bundle, tmp_path, option, message):
    assert_one_line_error(cli("compile", trained_bundle, "--target", "onnx", "--option", option, "--out", tmp_path / "a"), 2, message)


def test_a_broken_parity_fails_with_exit_1_and_writes_nothing(cli, bundle_copy, tmp_path):
    # The bundle now claims outputs its model does not produce: no faithful artifact can match them.
    with np.load(bundle_copy / "reference.npz") as archive:
        arrays = {key: archive[key] for key in archive.files}
    arrays["test_outputs"] = arrays["test_outputs"][:, ::-1].copy()
    np.savez_compressed(bundle_copy / "reference.npz", **arrays)
    _rehash(bundle_copy, "bundle.json", ["reference.npz"])
    assert_one_line_error(cli("compile", bundle_copy, "--target", "onnx", "--out", tmp_path / "a"), 1, "breaks parity", "label agreement")
    assert not (tmp_path / "a").exists()
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []


def test_tampered_artifact_is_named(cli, trained_bundle, tmp_path):
    assert cli("compile", trained_bundle, "--target", "onnx", "--out", tmp_path / "a").exit_code == 0
    model = tmp_path / "a" / "model.onnx"
    model.write_bytes(model.read_bytes()[:-3])
    assert_one_line_error(cli("artifact", "verify", tmp_path / "a"), 2, "model.onnx: size is")
    assert_one_line_error(cli("artifact", "show", tmp_path / "a"), 2, "model.onnx")


def test_smoke_test_catches_outputs_that_moved(cli, trained_bundle, tmp_path):
    assert cli("compile", trained_bundle, "--target", "onnx", "--out", tmp_path / "a").exit_code == 0
    artifact = tmp_path / "a"
    with np.load(artifact / "reference.npz") as archive:
        arrays = {key: archive[key] for key in archive.files}
    arrays["artifact_outputs"] = arrays["artifact_outputs"] + 0.01
    np.savez_compressed(artifact / "reference.npz", **arrays)
    _rehash(artifact, "artifact.json", ["reference.npz"])
    assert_one_line_error(cli("artifact", "verify", artifact), 1, "outputs moved by")


def test_a_retrained_version_recompiles_into_its_old_place(cli, tmp_path):
    train_bundle("bundled:wine", tmp_path / "b", family="logistic", name="wine")
    assert cli("compile", tmp_path / "b", "--target", "onnx", "--out", tmp_path / "a").exit_code == 0
    train_bundle("bundled:wine", tmp_path / "b", family="mlp", name="wine")
    assert cli("compile", tmp_path / "b", "--target", "onnx", "--out", tmp_path / "a").exit_code == 0
    assert json.loads((tmp_path / "a" / "artifact.json").read_text())["bundle"]["version"] == 2
