"""The installed console scripts, as a user runs them: real processes, real exit codes."""

import json
import shutil
import subprocess
from pathlib import Path

import pytest
from tests_support import STRICT_TOOLS


def _script(name: str) -> str:
    path = shutil.which(name) or str(Path(__import__("sys").executable).parent / name)
    assert Path(path).exists(), f"{name} is not installed; run `make test`"
    return path


def _run(*args, cwd=None):
    return subprocess.run([str(a) for a in args], check=False, capture_output=True, text=True, cwd=cwd)


@pytest.mark.slow
def test_quickstart_trains_verifies_and_registers_both_bundles(tmp_path):
    result = _run(_script("edgekit"), "quickstart", "--workdir", tmp_path / "qs", "--json")
    assert result.returncode == 0, result.stderr
    summary = json.loads(result.stdout)
    bundles = {entry["name"]: entry for entry in summary["bundles"]}
    assert bundles["breast-cancer-xgboost"]["metrics"]["test"]["roc_auc"] >= 0.97
    assert bundles["digits-mlp"]["metrics"]["test"]["accuracy"] >= 0.9
    for entry in bundles.values():
        assert _run(_script("edgekit-runtime"), "verify", entry["bundle"]).returncode == 0
    artifacts = {Path(entry["artifact"]).name: entry for entry in summary["artifacts"]}
    skipped = {entry["artifact"] for entry in summary.get("skipped", [])}
    expected = {
        "breast-cancer-xgboost-onnx", "breast-cancer-xgboost-c", "breast-cancer-xgboost-c-aarch64",
        "breast-cancer-xgboost-c-cortex-m4f", "breast-cancer-xgboost-tflite", "digits-mlp-onnx", "digits-mlp-onnx-int8",
        "digits-mlp-c-int8", "digits-mlp-tflite-int8",
    }
    assert set(artifacts) == expected - skipped
    emulations = {board: f"breast-cancer-xgboost-c emulated on {board}" for board in ("raspberry-pi-4b", "stm32f407")}
    # the auto-fit needs arm-none-eabi too, the emulated benchmarks qemu and the board's toolchain
    assert skipped <= expected | {"breast-cancer-xgboost-stm32f407", *emulations.values()}
    # Every artifact checked on every device: the ONNX build for the Pi 4 runs there, and the
    # Android profile's LiteRT runs the int8 MLP; nothing edgekit builds runs on the ESP32-S3.
    checks = summary["checks"]
    assert set(checks) == set(artifacts)
    assert checks["breast-cancer-xgboost-onnx"]["raspberry-pi-4b"] == "pass"
    assert checks["digits-mlp-tflite-int8"]["android-midrange-arm64"] == "pass"
    assert all(verdicts["esp32-s3"] == "fail" for verdicts in checks.values())
    if "breast-cancer-xgboost-stm32f407" not in skipped:
        fit = summary["fits"][0]
        assert fit["device"] == "stm32f407" and any(attempt["outcome"] == "chosen" for attempt in fit["attempts"])
        assert _run(_script("edgekit"), "check", fit["chosen"], "--device", "stm32f407").returncode == 0
    if STRICT_TOOLS:  # CI has every toolchain: nothing may be skipped
        assert "skipped" not in summary
    assert all(entry["parity"]["passed"] for entry in artifacts.values())
    # Bring your own model: a LightGBM model trained in plain Python, imported and compiled.
    imported = summary["imported"]
    assert imported["bundle"]["family"] == "lightgbm" and imported["bundle"]["imported"]["source"]["format"] == "lightgbm-text"
    assert imported["bundle"]["metrics"]["sample"]["roc_auc"] >= 0.8
    built = {Path(entry["artifact"]).name: entry for entry in imported["artifacts"]}
    assert set(built) == {"sensors-lightgbm-c-pi4", "sensors-lightgbm-onnx"} - skipped
    assert all(entry["parity"]["passed"] and entry["parity"]["max_abs_diff"] <= 1e-5 for entry in built.values())
    if "breast-cancer-xgboost-c-cortex-m4f" in artifacts:
        assert artifacts["breast-cancer-xgboost-c-cortex-m4f"]["resources"]["cortex-m4f"]["flash_bytes"] > 0
    for entry in artifacts.values():
        assert _run(_script("edgekit"), "artifact", "verify", entry["artifact"]).returncode == 0
    # Benchmarks: three runtimes timed here, the C artifact emulated on an ARM Linux board and a Cortex-M.
    where = {(row["artifact"], row["where"]): row for row in summary["benchmarks"]}
    for suffix in ("onnx", "c", "tflite"):
        row = where[(f"breast-cancer-xgboost-{suffix}", "this machine")]
        assert 0 < row["p50_us"] <= row["p99_us"] and row["rows_per_second"] > 0
    for board, emulator in (("raspberry-pi-4b", "qemu-aarch64"), ("stm32f407", "qemu-system-arm")):
        if emulations[board] not in skipped:
            assert emulator in where[("breast-cancer-xgboost-c", board)]["how"]
    assert Path(summary["bench_report"]).read_text().count("data:image/png;base64,") == 3
    # Delivery: every artifact that runs on some device is published; a 10 % rollout to Pi 4s starts.
    server = summary["server"]
    published = {(release["model"], release["target"]) for release in server["releases"]}
    assert ("breast-cancer-xgboost", "onnx") in published and ("digits-mlp", "tflite-int8") in published
    rollout = server["rollout"]
    assert rollout["state"] == "active" and rollout["percent"] == 10 and rollout["profiles"] == ["raspberry-pi-4b"]
    # A simulated fleet of 50 follows it to 100 %, then its canaries refuse a broken release on their own.
    phases = server["fleet"]["phases"]
    good = rollout["target_path"]
    assert phases[0]["installed"].get(good, 0) < 50 and phases[2]["installed"] == {good: 50}
    assert phases[3]["installed"] == {good: 50} and sum(phases[3]["refused"].values()) > 0
    assert server["fleet"]["broken_release"] in phases[3]["refused"]
    # Finale: the plant's sensors drift; alerts on the moved features, the pipeline retrains, a gated
    # canary of the new release passes and reaches every gateway, which no longer alarms.
    finale = server["finale"]
    moved = {alert["feature"] for alert in finale["alerts"]}
    assert "temperature_c" in moved and moved <= {"temperature_c", "load_pct", "current_a", "rpm", "(predictions)"}
    assert finale["retrained_release"].startswith("sensor-failure/2/")
    assert finale["rollout"]["state"] == "complete" and finale["rollout"]["history"][-1]["by"] == "monitor"
    assert finale["rollout"]["gates"]["last"]["verdict"] == "pass"
    assert finale["alerts_on_retrained"] == [] and finale["seconds"] < 150
    assert any("drift alerts" in entry["event"] for entry in finale["timeline"])
    runs = json.loads(_run(_script("edgekit"), "runs", "--json").stdout)
    # the imported LightGBM model is registered too; the finale's pipeline trained twice
    assert {run["name"] for run in runs} == {*bundles, "sensors-lightgbm", "sensor-failure"}
    human = _run(_script("edgekit"), "quickstart", "--workdir", tmp_path / "qs")
    assert human.returncode == 0 and "digits-mlp v2" in human.stdout and human.stderr == ""


def test_errors_from_the_real_process_are_one_line_with_the_documented_code(tmp_path):
    result = _run(_script("edgekit"), "train", tmp_path / "missing.csv", "--out", tmp_path / "b")
    assert result.returncode == 2
    assert result.stderr.count("\n") == 1 and "Traceback" not in result.stderr
    usage = _run(_script("edgekit"), "train")
    assert usage.returncode == 2


def test_help_lists_every_stage_built_so_far():
    result = _run(_script("edgekit"), "--help")
    for command in ("train", "runs", "bundle", "compile", "artifact", "devices", "check", "bench", "quickstart", "server",
                    "publish", "rollout", "fleet", "drift", "pipeline"):
        assert command in result.stdout
