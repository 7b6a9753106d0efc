"""The compatibility rules as pure functions: artifact facts and a profile in, findings out (no IO)."""

from __future__ import annotations

import copy

import pytest

from edgekit.devices import DeviceProfile
from edgekit.devices.check import check_facts
from edgekit.devices.rules import RULES, ArtifactFacts, Finding, estimated_latency_ms, rule

_RUNTIME = {"library_bytes": 20_000_000, "ram_overhead_bytes": 10_000_000, "call_overhead_us": 20.0}
BOARD = {
    "id": "board", "name": "A Linux board", "sources": ["datasheet"],
    "cpu": {"arch": "aarch64", "triple": "aarch64-linux-gnu", "core": "Cortex-A72", "mhz": 1500, "cores": 4,
            "fpu": "double", "simd": ["neon"]},
    "memory": {"ram_bytes": 4 << 30, "storage_bytes": 32_000_000_000},
    "runtimes": {
        "onnxruntime": {"version": "1.20.1", "opset": 21, "ml_opset": 4, "build": "full",
                        "dtypes": ["float32", "float16", "int8"], **_RUNTIME},
        "litert": {"package": "tflite-runtime 2.14.0", "tflite_version": "2.14.0", **_RUNTIME},
        "c": {"triple": "aarch64-linux-gnu", "libc": "glibc"},
    },
    "budgets": {"artifact_bytes": 50_000_000, "ram_bytes": 256 << 20, "p99_latency_ms": 10},
    "emulation": {"mode": "qemu-user", "binary": "qemu-aarch64"},
    "cost_model": {"cycles_per_node_visit": 3, "cycles_per_mac": 0.5, "cycles_per_instruction": 0.7, "source": "estimate"},
}
MCU = {
    "id": "mcu", "name": "A Cortex-M0+ board", "sources": ["datasheet"],
    "cpu": {"arch": "armv6m", "triple": "arm-none-eabi", "core": "Cortex-M0+", "mhz": 100, "cores": 1, "fpu": "none"},
    "memory": {"ram_bytes": 262_144, "flash_bytes": 2 << 20},
    "runtimes": {"c": {"triple": "arm-none-eabi", "libc": "newlib"}},
    "budgets": {"artifact_bytes": 1 << 20, "ram_bytes": 65_536, "p99_latency_ms": 5},
    "emulation": {"mode": "qemu-system", "binary": "qemu-system-arm", "machine": "mps2-an385"},
    "cost_model": {"cycles_per_node_visit": 16, "cycles_per_mac": 8, "cycles_per_instruction": 1.6, "soft_float_factor": 8, "source": "estimate"},
}
TREES = {"tree_node_visits": 700, "trees": 100, "macs": 0, "activation_bytes": 1000}


def profile(base: dict, **changes) -> DeviceProfile:
    document = copy.deepcopy(base)
    for path, value in changes.items():
        *parents, leaf = path.split("__")
        node = document
        for key in parents:
            node = node[key]
        node[leaf] = value
    return DeviceProfile.model_validate(document)


def onnx(model_bytes: int = 300_000, **requirements) -> ArtifactFacts:
    needs = {"runtime": "onnxruntime", "min_version": "1.9", "opset": {"ai.onnx": 15, "ai.onnx.ml": 1},
             "operators": [{"domain": "ai.onnx.ml", "op_type": "TreeEnsembleClassifier"}], "dtypes": []}
    return ArtifactFacts("fp32", "onnxruntime", "trees", {**needs, **requirements},
                         {"model_bytes": model_bytes, "work_per_row": TREES}, {}, model_bytes)


def c_artifact(triple: str = "aarch64-linux-gnu", precision: str = "fp32", flash: int = 50_000, ram: int = 400) -> ArtifactFacts:
    libc = "newlib (expf, tanhf only)" if triple.startswith("cortex") else "glibc (libm)"
    footprint = {"flash_bytes": flash, "ram_bytes": ram}
    return ArtifactFacts(precision, "c", "trees", {"runtime": "c", "triple": triple, "libc": libc},
                         {"model_bytes": flash, "work_per_row": TREES, triple: footprint}, {}, flash)


def tflite(operators: list[tuple[str, int]], min_version: str = "2.5.0") -> ArtifactFacts:
    needs = {"runtime": "litert", "min_version": min_version, "custom_ops": False, "dtypes": ["float32", "int8"],
             "operators": [{"op": op, "version": version} for op, version in operators]}
    resources = {"model_bytes": 9000, "arena_bytes_per_row_upper_bound": 1300,
                 "work_per_row": {"tree_node_visits": 0, "trees": 0, "macs": 4800, "activation_bytes": 600}}
    return ArtifactFacts("int8", "litert", "dense", needs, resources, {}, 9000)


def findings(facts: ArtifactFacts, device: DeviceProfile) -> dict[str, Finding]:
    return {finding.rule: finding for finding in check_facts(facts, device).findings}


def test_a_fitting_onnx_model_passes_every_rule_that_applies():
    report = check_facts(onnx(), profile(BOARD))
    assert report.verdict == "pass"
    assert [f.rule for f in report.findings] == ["runtime", "onnx-opset", "onnx-operators", "dtypes", "flash", "ram", "latency"]


def test_a_missing_runtime_fails_and_names_what_the_device_runs():
    result = findings(onnx(), profile(MCU))
    assert result["runtime"].verdict == "fail" and "has no ONNX Runtime" in result["runtime"].reason
    assert "--target auto" in result["runtime"].fix and "it runs: c" in result["runtime"].fix
    assert "latency" not in result  # nothing runs it there: no estimate


def test_flash_shortfall_is_given_in_bytes():
    result = findings(onnx(model_bytes=3_000_000), profile(MCU))
    assert result["flash"].verdict == "fail"
    # the figures people read are in KiB/MiB, like the budgets (edgekit.display.figures)
    assert "needs 2.86 MiB" in result["flash"].reason and "budget 1 MiB: 1.86 MiB short" in result["flash"].reason
    assert "--quantize int16" in result["flash"].fix


def test_flash_counts_the_runtime_library():
    result = findings(onnx(model_bytes=31_000_000), profile(BOARD))
    assert result["flash"].verdict == "fail" and "runtime 19.1 MiB" in result["flash"].reason


def test_old_runtime_and_high_opsets_fail_with_a_fix():
    result = findings(onnx(min_version="1.21", opset={"ai.onnx": 22, "ai.onnx.ml": 5}), profile(BOARD))
    assert result["runtime"].verdict == "fail" and ">= 1.21" in result["runtime"].reason
    assert result["onnx-opset"].verdict == "fail"
    assert "opset 22 > the device's 21" in result["onnx-opset"].reason and "ai.onnx.ml opset 5 > the device's 4" in result["onnx-opset"].reason
    assert "--device board" in result["onnx-opset"].fix


def test_a_minimal_build_needs_every_operator_and_the_ort_format():
    minimal = profile(BOARD, runtimes__onnxruntime={**BOARD["runtimes"]["onnxruntime"], "build": "minimal",
                                                    "operators": ["ai.onnx:Gemm"]})
    result = findings(onnx(), minimal)
    assert result["onnx-operators"].verdict == "fail" and "ai.onnx.ml:TreeEnsembleClassifier" in result["onnx-operators"].reason
    gemm = onnx(operators=[{"domain": "ai.onnx", "op_type": "Gemm"}])
    assert findings(gemm, minimal)["onnx-operators"].fix == "recompile with --option ort-format=true"
    ort = ArtifactFacts(**{**gemm.__dict__, "options": {"ort_format": "ort/model.ort"}})
    assert findings(ort, minimal)["onnx-operators"].verdict == "pass"


def test_float16_on_a_cpu_without_fp16_arithmetic_is_a_warning():
    result = findings(onnx(dtypes=["float16", "float32"]), profile(BOARD))
    assert result["dtypes"].verdict == "warn"
    assert findings(onnx(dtypes=["float16"]), profile(BOARD, cpu__simd=["neon", "fp16"]))["dtypes"].verdict == "pass"
    no_fp16 = profile(BOARD, runtimes__onnxruntime={**BOARD["runtimes"]["onnxruntime"], "dtypes": ["float32"]})
    assert findings(onnx(dtypes=["float16"]), no_fp16)["dtypes"].verdict == "fail"


def test_tflite_ops_newer_than_the_device_fail_and_per_layer_is_the_fix():
    result = findings(tflite([("FULLY_CONNECTED", 12), ("SOFTMAX", 2)], "2.16.0"), profile(BOARD))
    assert result["tflite-operators"].verdict == "fail" and "FULLY_CONNECTED v12 (TFLite 2.16.0)" in result["tflite-operators"].reason
    assert "per-channel=false" in result["tflite-operators"].fix and result["runtime"].verdict == "fail"
    assert check_facts(tflite([("FULLY_CONNECTED", 4), ("SOFTMAX", 2)], "2.5.0"), profile(BOARD)).verdict == "pass"


def test_c_triple_libc_and_toolchain():
    assert findings(c_artifact(), profile(BOARD))["c-target"].verdict == "pass"
    wrong = findings(c_artifact("x86_64-linux-gnu"), profile(BOARD))["c-target"]
    assert wrong.verdict == "fail" and "needs aarch64-linux-gnu" in wrong.reason and wrong.fix == "recompile with --device board"
    android = profile(BOARD, runtimes__c={"triple": "aarch64-linux-android", "libc": "bionic"})
    assert "no toolchain for aarch64-linux-android" in findings(c_artifact(), android)["c-target"].reason
    xtensa = profile(MCU, cpu={**MCU["cpu"], "arch": "xtensa", "core": "Xtensa LX7"},
                     runtimes__c={"triple": "xtensa-esp32s3-elf", "libc": "newlib"})
    assert "no toolchain for xtensa-esp32s3-elf" in findings(c_artifact("cortex-m4f"), xtensa)["c-target"].reason


def test_float_c_on_a_cpu_without_fpu_is_a_warning_and_costs_more():
    mcu = profile(MCU)
    soft = findings(c_artifact("cortex-m0plus"), mcu)["c-target"]
    assert soft.verdict == "warn" and "--quantize int16" in soft.fix
    assert findings(c_artifact("cortex-m0plus", precision="int16"), mcu)["c-target"].verdict == "pass"
    float_ms = estimated_latency_ms(c_artifact("cortex-m0plus"), mcu)
    assert float_ms == pytest.approx(8 * estimated_latency_ms(c_artifact("cortex-m0plus", precision="int16"), mcu))


def test_ram_uses_measured_sections_for_c_and_a_labelled_estimate_otherwise():
    result = findings(c_artifact("cortex-m0plus", precision="int16", ram=70_000), profile(MCU))
    assert result["ram"].verdict == "fail" and "measured" in result["ram"].reason and "4.36 KiB short" in result["ram"].reason
    assert "estimate" in findings(onnx(), profile(BOARD))["ram"].reason


def test_latency_uses_a_benchmark_when_the_artifact_has_one():
    slow = profile(BOARD, budgets={**BOARD["budgets"], "p99_latency_ms": 0.01})
    estimated = findings(onnx(), slow)["latency"]
    assert estimated.verdict == "fail" and "estimate" in estimated.reason
    measured = ArtifactFacts(**{**onnx().__dict__, "benchmarks": {"board": {"p99_ms": 0.005, "how": "measured: edgekit bench on the board"}}})
    assert findings(measured, slow)["latency"].verdict == "pass" and "measured" in findings(measured, slow)["latency"].reason
    unknown = ArtifactFacts(**{**onnx().__dict__, "resources": {"model_bytes": 300_000}})
    assert findings(unknown, profile(BOARD))["latency"].verdict == "warn"


def test_a_new_rule_is_one_registered_function():
    @rule("test-always-warns")
    def always(facts, device):
        return Finding("test-always-warns", "warn", "registered")

    try:
        report = check_facts(onnx(), profile(BOARD))
        assert report.verdict == "warn" and report.findings[-1].reason == "registered"
    finally:
        del RULES["test-always-warns"]
