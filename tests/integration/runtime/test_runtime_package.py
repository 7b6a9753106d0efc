"""The device runtime stands alone: it imports no build-side package and installs by itself."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[3]
BUILD_SIDE = ["edgekit", "xgboost", "sklearn", "treelite", "tl2cgen", "onnx", "onnxmltools", "skl2onnx", "pandas"]


def test_runtime_imports_no_build_side_package():
    probe = (
        "import json, sys, edgekit_runtime, edgekit_runtime.cli, edgekit_runtime.predictors.onnx, edgekit_runtime.serving.batch,"
        " edgekit_runtime.serving.stream, edgekit_runtime.serving.rest, edgekit_runtime.benchmark;"
        f"print(json.dumps(sorted({{m.split('.')[0] for m in sys.modules}} & set({BUILD_SIDE!r}))))"
    )
    loaded = json.loads(subprocess.run([sys.executable, "-c", probe], check=True, capture_output=True, text=True).stdout)
    assert loaded == []


def test_runtime_verify_accepts_a_bundle_and_names_a_tampered_file(bundle_copy):
    runtime = [sys.executable, "-m", "edgekit_runtime.cli"]
    ok = subprocess.run([*runtime, "verify", str(bundle_copy), "--json"], capture_output=True, text=True)
    assert ok.returncode == 0 and json.loads(ok.stdout)["files"] == 4
    model = bundle_copy / "model.ubj"
    model.write_bytes(model.read_bytes()[:-1] + b"\x00")
    bad = subprocess.run([*runtime, "verify", str(bundle_copy)], capture_output=True, text=True)
    assert bad.returncode == 2
    assert bad.stderr.count("\n") == 1 and "model.ubj" in bad.stderr and "Traceback" not in bad.stderr


def test_runtime_verify_of_a_plain_directory_is_a_clear_error(tmp_path):
    result = subprocess.run(
        [sys.executable, "-m", "edgekit_runtime.cli", "verify", str(tmp_path)], capture_output=True, text=True
    )
    assert result.returncode == 2 and "has no bundle.json or artifact.json" in result.stderr


@pytest.mark.slow
def test_runtime_installs_and_imports_alone(tmp_path):
    venv = tmp_path / "device"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    python = venv / "bin" / "python"
    env = {**os.environ, "PIP_DISABLE_PIP_VERSION_CHECK": "1"}
    subprocess.run(
        [str(python), "-m", "pip", "install", "-q", str(ROOT / "runtimes" / "python")], check=True, env=env, capture_output=True
    )
    installed = subprocess.run([str(python), "-m", "pip", "list", "--format=json"], check=True, capture_output=True, text=True)
    names = {entry["name"].lower() for entry in json.loads(installed.stdout)}
    assert "edgekit-runtime" in names and "numpy" in names
    assert not names & {"edgekit", "xgboost", "xgboost-cpu", "scikit-learn", "pandas", "onnx"}
    result = subprocess.run(
        [str(python), "-c", "import edgekit_runtime, edgekit_runtime.agent.telemetry_report; print(edgekit_runtime.__version__)"],
        capture_output=True, text=True, cwd=tmp_path,
    )
    assert result.returncode == 0 and result.stdout.strip()
    assert subprocess.run([str(venv / "bin" / "edgekit-runtime"), "--version"], capture_output=True).returncode == 0
