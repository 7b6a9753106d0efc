"""Device profiles, `edgekit devices`, `edgekit check` and `--target auto` on real artifacts."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import yaml
from tests_support import assert_one_line_error

from edgekit import train_bundle
from edgekit.compile import compile_bundle
from edgekit.devices import all_profiles, load_profile, profile_ids
from edgekit.devices.profiles import configs_directory
from edgekit.display.figures import size

REQUIRED_DEVICES = {
    "raspberry-pi-4b", "raspberry-pi-zero-2w", "raspberry-pi-5", "jetson-orin-nano", "beaglebone-black",
    "android-midrange-arm64", "x86-64-gateway-n100", "stm32f407", "nrf52840", "rp2040", "stm32h743", "esp32-s3",
}


def _table(path: Path, rows: int = 20_000) -> str:
    from sklearn.datasets import make_classification

    X, y = make_classification(n_samples=rows, n_features=30, n_informative=18, n_redundant=6, random_state=0)
    header = ",".join([f"f{i}" for i in range(30)] + ["label"])
    np.savetxt(path, np.column_stack([X, y]), delimiter=",", header=header, comments="", fmt="%.7g")
    return str(path)


@pytest.fixture(scope="module")
def xgboost_bundles(tmp_path_factory):
    """~300 trees of depth 6 (the auto-fit case) and a larger model whose ONNX file is megabytes."""
    root = tmp_path_factory.mktemp("device-bundles")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("EDGEKIT_HOME", str(root / "home"))
        data = _table(root / "table30.csv")
        # learning_rate 0.1 keeps the trees growing to their depth (at 0.3 they stop splitting early)
        params = {"learning_rate": 0.1}
        fit = train_bundle(data, root / "xgb-300x6", family="xgboost", params={**params, "n_estimators": 300, "max_depth": 6})
        large = train_bundle(data, root / "xgb-400x8", family="xgboost", params={**params, "n_estimators": 400, "max_depth": 8})
    return {"fit": fit.path, "large": large.path}


@pytest.fixture(scope="module")
def large_onnx(xgboost_bundles, tmp_path_factory):
    return compile_bundle(xgboost_bundles["large"], "onnx", tmp_path_factory.mktemp("large") / "onnx")


def test_every_required_device_has_a_profile_that_loads():
    assert REQUIRED_DEVICES <= set(profile_ids())
    for profile in all_profiles():
        assert profile.sources and profile.cost_model.source
        if profile.microcontroller:
            assert profile.memory.flash_bytes is not None


def test_devices_list_and_show(cli):
    listed = cli("devices", "list", "--json")
    assert listed.exit_code == 0
    assert {entry["id"] for entry in json.loads(listed.stdout)} == set(profile_ids())
    shown = cli("devices", "show", "rp2040")
    assert shown.exit_code == 0 and "Cortex-M0+" in shown.stdout and "source: RP2040 Datasheet" in shown.stdout
    assert_one_line_error(cli("devices", "show", "no-such-board"), 2, "unknown device 'no-such-board'", "known devices:")


def _broken(tmp_path: Path, monkeypatch, change) -> Path:
    """A copy of device_configs/ with one profile changed, used through EDGEKIT_DEVICE_CONFIGS."""
    directory = tmp_path / "configs"
    shutil.copytree(configs_directory(), directory)
    path = directory / "stm32f407.yaml"
    document = yaml.safe_load(path.read_text())
    change(document)
    path.write_text(yaml.safe_dump(document))
    monkeypatch.setenv("EDGEKIT_DEVICE_CONFIGS", str(directory))
    return path


@pytest.mark.parametrize(
    "change, field",
    [
        (lambda d: d["memory"].update(ram_kb=192), "memory.ram_kb"),  # unknown key
        (lambda d: d["cpu"].update(mhz="168 MHz"), "cpu.mhz"),  # a unit in the value
        (lambda d: d["memory"].update(ram_bytes=192), "memory.ram_bytes"),  # KB written as bytes
        (lambda d: d.pop("cost_model"), "cost_model"),  # missing
        (lambda d: d["budgets"].update(ram_bytes=10_000_000), "budgets.ram_bytes"),  # more than the RAM
        (lambda d: d["memory"].pop("flash_bytes"), "memory.flash_bytes"),  # a microcontroller without flash
        (lambda d: d["runtimes"]["c"].update(triple="aarch64-linux-gnu"), "runtimes.c.triple"),  # wrong arch
        (lambda d: d["cpu"].update(cores=0), "cpu.cores"),
        (lambda d: d["cpu"].update(simd=["dsp", "avx9"]), "cpu.simd.1"),
    ],
)
def test_a_broken_profile_is_exit_2_naming_file_and_field(cli, tmp_path, monkeypatch, change, field):
    _broken(tmp_path, monkeypatch, change)
    assert_one_line_error(cli("devices", "list"), 2, "stm32f407.yaml", f"field '{field}'")
    assert_one_line_error(cli("devices", "show", "stm32f407"), 2, f"field '{field}'")


def test_large_onnx_fails_on_microcontrollers_with_the_flash_shortfall_and_passes_on_a_pi(cli, large_onnx):
    result = cli("check", large_onnx.path, "--device", "rp2040", "--device", "stm32f407", "--json")
    assert result.exit_code == 1
    reports = {report["device"]: report for report in json.loads(result.stdout)["devices"]}
    model_bytes = large_onnx.info.resources["model_bytes"]
    for device in ("rp2040", "stm32f407"):
        budget = load_profile(device).budgets.artifact_bytes
        assert model_bytes > budget
        assert reports[device]["verdict"] == "fail"
        flash = next(f for f in reports[device]["findings"] if f["rule"] == "flash")
        assert flash["verdict"] == "fail"
        assert f"{size(model_bytes - budget)} short" in flash["reason"]
        assert "--quantize int16" in flash["fix"] and "--target auto" in flash["fix"]
    pi = cli("check", large_onnx.path, "--device", "raspberry-pi-4b")
    assert pi.exit_code == 0 and "pass  raspberry-pi-4b" in pi.stdout


def test_check_all_prints_a_matrix_of_every_device(cli, large_onnx):
    result = cli("check", large_onnx.path, "--all")
    assert result.exit_code == 1
    for device in profile_ids():
        assert device in result.stdout
    assert "rp2040: runtime: rp2040 has no ONNX Runtime" in result.stdout


@pytest.mark.parametrize(
    "arguments, fragment",
    [
        ((), "--device ID"),
        (("--all", "--device", "rp2040"), "--device ID"),
        (("--device", "toaster"), "unknown device 'toaster'"),
    ],
)
def test_check_bad_input_is_exit_2(cli, large_onnx, arguments, fragment):
    assert_one_line_error(cli("check", large_onnx.path, *arguments), 2, fragment)


def test_check_refuses_what_is_not_an_artifact(cli, tmp_path):
    assert_one_line_error(cli("check", tmp_path, "--device", "rp2040"), 2, str(tmp_path))


def assert_error_after_candidates(result, code: int, *fragments: str) -> list[str]:
    """Auto-fit failed with ``code``: one line per candidate it decided (its progress, on stderr), then
    the one-line error holding every fragment. Returns the candidate lines."""
    assert result.exit_code == code, result.output
    *candidates, error = result.stderr.strip().splitlines()
    assert candidates and all(line.startswith("fitting ") for line in candidates), result.stderr
    assert error.startswith("error: ") and "Traceback" not in result.output
    for fragment in fragments:
        assert fragment in error, error
    return candidates


def test_auto_fit_keeps_the_smallest_c_build_within_the_boards_budget(cli, xgboost_bundles, tmp_path):
    """--prefer size (the default): of the builds that fit the board, the smallest — the compact
    layout (float32, exact) since it exists, smaller than the int8 table."""
    out = tmp_path / "fitted"
    result = cli("compile", xgboost_bundles["fit"], "--device", "stm32f407", "--target", "auto", "--out", out, "--json")
    assert result.exit_code == 0, result.output
    document = json.loads(result.stdout)
    outcomes = {attempt["candidate"]: attempt for attempt in document["attempts"]}
    assert document["chosen"] == str(out) and outcomes["c table int8"]["outcome"] in {"chosen", "passed"}
    chosen = next(attempt for attempt in document["attempts"] if attempt["outcome"] == "chosen")
    passing = [attempt for attempt in document["attempts"] if attempt["outcome"] in {"chosen", "passed"}]
    assert chosen["flash_bytes"] == min(attempt["flash_bytes"] for attempt in passing)
    assert chosen["target"] == "c" and (chosen["options"].get("layout") == "compact" or chosen["options"].get("quantize") in {"int16", "int8"})
    info = json.loads((out / "artifact.json").read_text())
    profile = load_profile("stm32f407")
    measured = info["resources"]["cortex-m4f"]
    assert measured["flash_bytes"] <= profile.budgets.artifact_bytes
    assert measured["ram_bytes"] <= profile.budgets.ram_bytes
    assert info["parity"]["passed"]
    assert [path.name for path in tmp_path.iterdir()] == ["fitted"]  # no scratch builds left behind
    check = cli("check", out, "--device", "stm32f407")
    assert check.exit_code == 0, check.stdout


def test_auto_fit_with_nothing_that_fits_is_exit_1_naming_the_nearest_miss(cli, tmp_path, monkeypatch):
    _broken(tmp_path, monkeypatch, lambda d: d["budgets"].update(artifact_bytes=2000))
    bundle = tmp_path / "bundle"
    assert cli("train", "bundled:breast-cancer", "--out", bundle).exit_code == 0
    out = tmp_path / "fitted"
    result = cli("compile", bundle, "--device", "stm32f407", "--target", "auto", "--out", out)
    # the compact layout is the smallest build of this forest (3 235 B against the int8 table's more)
    assert_error_after_candidates(result, 1, "no build fits stm32f407; nearest miss: c compact", "B short")
    assert not out.exists()
    assert_error_after_candidates(cli("compile", bundle, "--device", "esp32-s3", "--target", "auto", "--out", out), 1,
                                  "nothing edgekit builds runs on esp32-s3", "no toolchain for xtensa-esp32s3-elf")


def test_auto_fit_logs_each_candidate_with_its_verdict_as_it_is_decided(cli, tmp_path, monkeypatch):
    """stderr is no terminal here (a CI log): one plain line per candidate build, then the error."""
    _broken(tmp_path, monkeypatch, lambda d: d["budgets"].update(artifact_bytes=2000))
    bundle = tmp_path / "bundle"
    assert cli("train", "bundled:breast-cancer", "--out", bundle).exit_code == 0
    result = cli("compile", bundle, "--device", "stm32f407", "--target", "auto", "--out", tmp_path / "fitted", "--json")
    lines = assert_error_after_candidates(result, 1, "no build fits stm32f407")
    assert result.stdout == ""  # --json: the progress went to stderr, and a failure prints no document
    decided = [line.split(": ", 2)[1:] for line in lines]
    assert [label for label, _ in decided] == ["c ifelse", "c inline", "c table", "c compact", "c table int16", "c table int8"]
    for _, verdict in decided:  # name, measured size, verdict and why
        assert verdict.split(", ")[1].startswith("too big: flash: needs"), verdict


def test_a_c_build_too_big_for_its_board_names_the_smallest_board_that_fits_it(cli, trained_bundle, tmp_path, monkeypatch):
    _broken(tmp_path, monkeypatch, lambda d: d["budgets"].update(artifact_bytes=2000))
    out = tmp_path / "c"
    result = cli("compile", trained_bundle, "--target", "c", "--device", "stm32f407", "--out", out)
    assert_one_line_error(result, 1, "too big for stm32f407", "flash needs", "the smallest board that fits it is nrf52840",
                          "--device nrf52840")  # exit 1, as auto-fit's "no build fits"
    assert not out.exists() and sorted(path.name for path in tmp_path.iterdir()) == ["configs"]  # nothing half-written
    fits = cli("compile", trained_bundle, "--target", "c", "--device", "nrf52840", "--out", out, "--json")
    assert fits.exit_code == 0, fits.output
    assert json.loads(fits.stdout)["target"] == "c" and (out / "artifact.json").is_file()


def test_a_c_build_no_board_can_take_says_so(cli, trained_bundle, tmp_path, monkeypatch):
    alone = tmp_path / "alone"  # a device_configs/ holding only the shrunken board
    alone.mkdir()
    document = yaml.safe_load((configs_directory() / "stm32f407.yaml").read_text())
    document["budgets"]["artifact_bytes"] = 2000
    (alone / "stm32f407.yaml").write_text(yaml.safe_dump(document))
    monkeypatch.setenv("EDGEKIT_DEVICE_CONFIGS", str(alone))
    result = cli("compile", trained_bundle, "--target", "c", "--device", "stm32f407", "--out", tmp_path / "c")
    assert_one_line_error(result, 1, "too big for stm32f407", "no device profile in device_configs/ fits it")


def test_auto_needs_a_device_and_no_hand_picked_options(cli, trained_bundle, tmp_path):
    assert_one_line_error(cli("compile", trained_bundle, "--target", "auto", "--out", tmp_path / "a"), 2, "--target auto needs --device")
    assert_one_line_error(cli("compile", trained_bundle, "--target", "auto", "--device", "rp2040", "--quantize", "int8",
                              "--out", tmp_path / "a"), 2, "--target auto")
    assert_one_line_error(cli("compile", trained_bundle, "--target", "auto", "--device", "rp2040", "--prefer", "cheap",
                              "--out", tmp_path / "a"), 2, "--prefer cheap")


def test_auto_fit_with_the_toolchain_missing_is_exit_3_naming_the_package(cli, tmp_path, monkeypatch):
    bundle = tmp_path / "bundle"
    assert cli("train", "bundled:breast-cancer", "--out", bundle).exit_code == 0
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))  # no compiler on the PATH
    result = cli("compile", bundle, "--device", "stm32f407", "--target", "auto", "--out", tmp_path / "fitted")
    assert_error_after_candidates(result, 3, "arm-none-eabi-gcc", "gcc-arm-none-eabi")
    assert not (tmp_path / "fitted").exists()
