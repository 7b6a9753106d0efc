"""The compatibility rules: pure functions of (artifact facts, device profile) -> a finding.

Each rule says pass, warn or fail with a reason and, for a failure, a concrete fix. Adding a rule
is one decorated function; ``RULES`` keeps them in the order they are reported. A rule returns
None when it has nothing to say about this kind of artifact (the C rules for an ONNX model).
Figures that were not measured are labelled as estimates.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal

from ..compile.c.toolchains import TOOLCHAINS
from ..compile.registry import release_key
from ..compile.tflite.op_versions import RUNTIME_FOR_OP
from ..display.figures import size
from .profiles import DeviceProfile

Verdict = Literal["pass", "warn", "fail"]
SEVERITY: dict[Verdict, int] = {"pass": 0, "warn": 1, "fail": 2}
RUNTIME_NAMES = {"onnxruntime": "ONNX Runtime", "litert": "LiteRT", "c": "a C toolchain"}
# How many times slower than edgekit's C table walk each runtime visits a tree node, from
# benchmarks/results (XGBoost 100x6, 10 000 rows, x86-64): ONNX Runtime's TreeEnsemble 26.7 ms,
# the LiteRT gather walk 74 ms, the C table 2.84 ms. Dense layers are MAC-bound in all three.
TREE_RUNTIME_FACTOR = {"c": 1.0, "onnxruntime": 9.4, "litert": 26.0}


@dataclass(frozen=True)
class ArtifactFacts:
    """What the rules read from artifact.json (built from the dict, so tests need no files)."""

    precision: str
    runtime: str
    family_kind: str  # trees, dense, or unknown (an artifact from before work figures)
    requirements: dict[str, Any]
    resources: dict[str, Any]
    options: dict[str, Any]
    model_bytes: int
    benchmarks: dict[str, Any] = field(default_factory=dict)  # device id -> {"p99_ms", "how"}

    @staticmethod
    def from_descriptor(descriptor: dict[str, Any]) -> ArtifactFacts:
        work = descriptor["resources"].get("work_per_row")
        return ArtifactFacts(
            precision=descriptor["precision"],
            runtime=descriptor["runtime"]["name"],
            family_kind="unknown" if work is None else "trees" if work["trees"] else "dense",
            requirements=descriptor["requirements"],
            resources=descriptor["resources"],
            options=descriptor["options"],
            model_bytes=int(descriptor["resources"]["model_bytes"]),
            benchmarks=descriptor.get("benchmarks") or {},
        )

    @property
    def c_footprint(self) -> dict[str, Any] | None:
        """The measured sections of a C artifact (``size`` + stack analysis) for its triple."""
        return self.resources.get(self.requirements.get("triple", ""))


@dataclass(frozen=True)
class Finding:
    rule: str
    verdict: Verdict
    reason: str
    fix: str = ""
    over_budget: float = 0.0  # a failed size rule: how far past its budget, as a fraction of it


Rule = Callable[[ArtifactFacts, DeviceProfile], "Finding | None"]
RULES: dict[str, Rule] = {}


def rule(name: str) -> Callable[[Rule], Rule]:
    def register(function: Rule) -> Rule:
        RULES[name] = function
        return function

    return register


def _runs_here(profile: DeviceProfile) -> list[str]:
    """The targets this device can run, for fixes that point elsewhere."""
    targets = []
    if profile.runtimes.onnxruntime:
        targets.append("onnx")
    if profile.runtimes.litert:
        targets.append("tflite")
    if profile.runtimes.c and profile.c_triple() in TOOLCHAINS:
        targets.append("c")
    return targets


def _elsewhere(profile: DeviceProfile) -> str:
    targets = _runs_here(profile)
    if not targets:
        return f"edgekit cannot build anything that {profile.id} runs (no runtime or toolchain it has is supported here)"
    return f"compile with --device {profile.id} --target auto (it runs: {', '.join(targets)})"


@rule("runtime")
def runtime_present(facts: ArtifactFacts, profile: DeviceProfile) -> Finding:
    name = facts.runtime
    if name == "c":
        if profile.runtimes.c is None:
            return Finding("runtime", "fail", f"{profile.id} has no C toolchain in its profile", _elsewhere(profile))
        return Finding("runtime", "pass", f"C, {profile.runtimes.c.triple}")
    spec = getattr(profile.runtimes, name, None)
    if spec is None:
        return Finding("runtime", "fail", f"{profile.id} has no {RUNTIME_NAMES.get(name, name)}", _elsewhere(profile))
    needed = facts.requirements.get("min_version", "0")
    have = spec.version if name == "onnxruntime" else spec.tflite_version
    label = f"{RUNTIME_NAMES[name]} {have}" + (f" ({spec.package})" if name == "litert" else "")
    if release_key(have) < release_key(needed):
        hint = "--option per-channel=false keeps FULLY_CONNECTED at v4" if name == "litert" else f"--device {profile.id}"
        return Finding("runtime", "fail", f"needs {RUNTIME_NAMES[name]} >= {needed}, {profile.id} has {label}",
                       f"upgrade the runtime on the device, or recompile for it ({hint})")
    return Finding("runtime", "pass", f"{label} >= {needed}")


@rule("onnx-opset")
def onnx_opset(facts: ArtifactFacts, profile: DeviceProfile) -> Finding | None:
    ort = profile.runtimes.onnxruntime
    if facts.runtime != "onnxruntime" or ort is None:
        return None
    opsets = facts.requirements.get("opset", {})
    problems = []
    if opsets.get("ai.onnx", 0) > ort.opset:
        problems.append(f"opset {opsets['ai.onnx']} > the device's {ort.opset}")
    if opsets.get("ai.onnx.ml", 0) > ort.ml_opset:
        problems.append(f"ai.onnx.ml opset {opsets['ai.onnx.ml']} > the device's {ort.ml_opset}")
    if problems:
        return Finding("onnx-opset", "fail", "; ".join(problems),
                       f"recompile with --device {profile.id} (it writes opset {ort.opset}), or upgrade ONNX Runtime")
    return Finding("onnx-opset", "pass", ", ".join(f"{domain} {version}" for domain, version in sorted(opsets.items())))


@rule("onnx-operators")
def onnx_operators(facts: ArtifactFacts, profile: DeviceProfile) -> Finding | None:
    ort = profile.runtimes.onnxruntime
    if facts.runtime != "onnxruntime" or ort is None:
        return None
    used = [f"{entry['domain']}:{entry['op_type']}" for entry in facts.requirements.get("operators", [])]
    if ort.build == "full":
        return Finding("onnx-operators", "pass", f"{len(used)} operators, full build")
    missing = sorted(set(used) - set(ort.operators or []))
    if missing:
        return Finding("onnx-operators", "fail", f"the minimal ONNX Runtime build lacks {', '.join(missing)}",
                       "rebuild ONNX Runtime with the artifact's ort/ operator config (--option ort-format=true writes it)")
    if "ort_format" not in facts.options:
        return Finding("onnx-operators", "fail", "a minimal ONNX Runtime build reads only the ORT format",
                       "recompile with --option ort-format=true")
    return Finding("onnx-operators", "pass", f"{len(used)} operators, all in the minimal build")


@rule("dtypes")
def dtypes(facts: ArtifactFacts, profile: DeviceProfile) -> Finding | None:
    used = set(facts.requirements.get("dtypes", []))
    ort = profile.runtimes.onnxruntime
    if facts.runtime == "onnxruntime" and ort is not None:
        unsupported = sorted(used - set(ort.dtypes) - {"bool"})
        if unsupported:
            return Finding("dtypes", "fail", f"ONNX Runtime on {profile.id} has no {', '.join(unsupported)} kernels",
                           "compile with --target onnx (float32)")
    if "float16" in used and "fp16" not in profile.cpu.simd:
        return Finding("dtypes", "warn", f"{profile.cpu.core} has no float16 arithmetic: the runtime converts to float32",
                       "--target onnx (float32) runs at least as fast here")
    if facts.runtime in {"onnxruntime", "litert"}:
        return Finding("dtypes", "pass", ", ".join(sorted(used)) or "float32")
    return None


@rule("tflite-operators")
def tflite_operators(facts: ArtifactFacts, profile: DeviceProfile) -> Finding | None:
    litert = profile.runtimes.litert
    if facts.runtime != "litert" or litert is None:
        return None
    have = release_key(litert.tflite_version)
    newer = []
    for entry in facts.requirements.get("operators", []):
        needed = RUNTIME_FOR_OP.get((entry["op"], entry["version"]))
        if needed is None or release_key(needed) > have:
            newer.append(f"{entry['op']} v{entry['version']} (TFLite {needed or 'unknown'})")
    if facts.requirements.get("custom_ops"):
        newer.append("custom operators")
    if newer:
        fix = ("recompile with --option per-channel=false (FULLY_CONNECTED v4)" if any("FULLY_CONNECTED v12" in n for n in newer)
               else f"upgrade LiteRT on {profile.id}")
        return Finding("tflite-operators", "fail", f"{litert.package} (TFLite {litert.tflite_version}) lacks {', '.join(newer)}", fix)
    return Finding("tflite-operators", "pass", f"{len(facts.requirements.get('operators', []))} builtin ops, all in TFLite {litert.tflite_version}")


@rule("c-target")
def c_target(facts: ArtifactFacts, profile: DeviceProfile) -> Finding | None:
    if facts.runtime != "c" or profile.runtimes.c is None:
        return None
    wanted = profile.c_triple()
    built = facts.requirements.get("triple", "")
    if wanted not in TOOLCHAINS:
        return Finding("c-target", "fail", f"edgekit has no toolchain for {wanted} ({profile.cpu.core})",
                       f"build the exported C sources (src/) with the vendor's compiler for {wanted}, or pick another device")
    if built != wanted:
        return Finding("c-target", "fail", f"built for {built}, {profile.id} needs {wanted}",
                       f"recompile with --device {profile.id}")
    libc, needed = profile.runtimes.c.libc, facts.requirements.get("libc", "")
    if needed and not needed.startswith(libc):
        return Finding("c-target", "fail", f"needs {needed}, {profile.id} has {libc}", f"recompile with --device {profile.id}")
    if profile.cpu.fpu == "none" and facts.precision in {"fp32", "fp16"}:
        return Finding("c-target", "warn", f"{profile.cpu.core} has no FPU: float compares run in software "
                       f"(~{profile.cost_model.soft_float_factor:g}x the cycles)", "recompile with --quantize int16 (integer compares)")
    return Finding("c-target", "pass", f"{built}, {libc}")


def flash_needed(facts: ArtifactFacts, profile: DeviceProfile) -> tuple[int, str]:
    footprint = facts.c_footprint
    if footprint is not None:
        return int(footprint["flash_bytes"]), "text + data, measured with size"
    spec = getattr(profile.runtimes, facts.runtime, None)
    if spec is None:  # the runtime rule fails already; the model alone is a lower bound
        return facts.model_bytes, f"the model alone; {profile.id} has no {RUNTIME_NAMES.get(facts.runtime, facts.runtime)}"
    return facts.model_bytes + spec.library_bytes, f"model {size(facts.model_bytes)} + runtime {size(spec.library_bytes)}"


def _within_budget(name: str, needed: int, how: str, budget: int, fix: str) -> Finding:
    if needed > budget:
        return Finding(name, "fail", f"needs {size(needed)} ({how}), budget {size(budget)}: {size(needed - budget)} short",
                       fix, over_budget=(needed - budget) / budget)
    return Finding(name, "pass", f"{size(needed)} of {size(budget)} ({how})")


@rule("flash")
def flash(facts: ArtifactFacts, profile: DeviceProfile) -> Finding:
    fix = ("compile with --target c --quantize int16 (a table of 16-bit bins is 4-5x smaller than ONNX), "
           f"or let edgekit choose: --device {profile.id} --target auto") if facts.family_kind == "trees" else (
           f"compile with --target c --quantize int8 or --target tflite-int8, or --device {profile.id} --target auto")
    return _within_budget("flash", *flash_needed(facts, profile), profile.budgets.artifact_bytes, fix)


def ram_needed(facts: ArtifactFacts, profile: DeviceProfile) -> tuple[int, str]:
    footprint = facts.c_footprint
    if footprint is not None:
        return int(footprint["ram_bytes"]), "data + bss + stack, measured"
    spec = getattr(profile.runtimes, facts.runtime, None)
    overhead = spec.ram_overhead_bytes if spec is not None else 0  # no runtime: a lower bound
    activations = int(facts.resources.get("arena_bytes_per_row_upper_bound")
                      or facts.resources.get("work_per_row", {}).get("activation_bytes", 0))
    # ONNX Runtime keeps the parsed model and its prepacked weights; LiteRT reads the file in place.
    model = facts.model_bytes * (2 if facts.runtime == "onnxruntime" else 1)
    how = "estimate: runtime overhead + model + activations of one row" if spec is not None else "estimate: model + activations, no runtime"
    return overhead + model + activations, how


@rule("ram")
def ram(facts: ArtifactFacts, profile: DeviceProfile) -> Finding:
    return _within_budget("ram", *ram_needed(facts, profile), profile.budgets.ram_bytes,
                          "use a quantized build (--quantize int16 or int8) or fewer/smaller trees or layers")


def estimated_latency_ms(facts: ArtifactFacts, profile: DeviceProfile) -> float | None:
    """p99 latency of one row from the profile's cost model; None without work figures. A C build for
    this device's core carries the instructions one inference executed on the emulated board
    (compile counts them): cycles per instruction times that count tells layouts of the same model
    apart, where node visits cannot."""
    footprint = facts.c_footprint or {}
    if facts.runtime == "c" and "instructions_per_row" in footprint and profile.runtimes.c is not None \
            and facts.requirements.get("triple") == profile.c_triple():
        return footprint["instructions_per_row"] * profile.cost_model.cycles_per_instruction / profile.cpu.mhz / 1000.0
    work = facts.resources.get("work_per_row")
    if not work:
        return None
    model = profile.cost_model
    node_cycles = work["tree_node_visits"] * model.cycles_per_node_visit * TREE_RUNTIME_FACTOR.get(facts.runtime, 1.0)
    cycles = node_cycles + work["macs"] * model.cycles_per_mac
    if profile.cpu.fpu == "none" and facts.precision in {"fp32", "fp16"}:
        cycles *= model.soft_float_factor
    spec = getattr(profile.runtimes, facts.runtime, None)
    overhead_us = getattr(spec, "call_overhead_us", 0.0)
    return (cycles / profile.cpu.mhz + overhead_us) / 1000.0


@rule("latency")
def latency(facts: ArtifactFacts, profile: DeviceProfile) -> Finding | None:
    if facts.runtime != "c" and getattr(profile.runtimes, facts.runtime, None) is None:
        return None  # nothing runs it there
    budget = profile.budgets.p99_latency_ms
    measured = facts.benchmarks.get(profile.id)
    if measured is not None:  # edgekit bench: a measurement, or an emulated count that says it is an estimate
        p99, how = float(measured["p99_ms"]), measured.get("how", "edgekit bench")
    else:
        p99 = estimated_latency_ms(facts, profile)
        if p99 is None:
            return Finding("latency", "warn", "no benchmark and no work figures to estimate from",
                           f"recompile with this edgekit, or run edgekit bench --device {profile.id}")
        how = "estimate from the profile's cost model"
    if p99 > budget:
        return Finding("latency", "fail", f"p99 {p99:.3g} ms > budget {budget:g} ms ({how})",
                       "use the C target (fastest per row), fewer trees, or a faster device")
    return Finding("latency", "pass", f"p99 {p99:.3g} ms <= {budget:g} ms ({how})")
