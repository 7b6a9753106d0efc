"""Tree models on a Cortex-M4F: edgekit's C layouts vs. emlearn, flash and instructions per inference.

Models (trained by edgekit on one 30-feature, 20 000-row classification table whose features are
scaled by 1000, so emlearn's int16 inputs keep three decimals):
  rf-10x8    scikit-learn random forest, 10 trees, depth <= 8
  xgb-50x4   XGBoost, 50 trees, depth 4 (emlearn reads no XGBoost: edgekit only)

For each: every edgekit C layout compiled for cortex-m4f (its parity certificate included), and for
the forest emlearn's two methods (loadable: node structs and a loop; inline: if-else code) on the
same estimator, behind a wrapper with edgekit's C API so one harness runs them all.
  flash        text + data of the model's object files (arm-none-eabi size), model and walk code;
               no start-up code, no libc
  instructions per inference: qemu-system-arm -M mps2-an386 -icount shift=0 -singlestep counts of
               the harness predicting the test rows once and twice (edgekit.bench), difference / rows
  fidelity     max |output - the model's predict_proba| on the test rows, and label agreement

    .venv/bin/python benchmarks/bench_mcu.py [--out benchmarks/results] [--quick]
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from timing import arguments, machine_line, scratch, write_results

TRIPLE, DEVICE = "cortex-m4f", "stm32f407"  # the profile's emulation: mps2-an386, a Cortex-M4 with FPU
MODELS = {
    "rf-10x8": ("random-forest", {"n_estimators": "10", "max_depth": "8"}),
    "xgb-50x4": ("xgboost", {"n_estimators": "50", "max_depth": "4"}),
}
LAYOUTS = {
    "table": {"layout": "table"},
    "table int8": {"layout": "table", "quantize": "int8"},
    "ifelse (TL2cgen)": {"layout": "ifelse"},
    "compact": {"layout": "compact"},
    "inline": {"layout": "inline"},
}
COUNTED_ROWS = 200  # of the test split: the counts are exact, so a few hundred rows give the mean


def scaled_table(work: Path) -> str:
    from sklearn.datasets import make_classification

    X, y = make_classification(n_samples=20_000, n_features=30, n_informative=18, n_redundant=6, random_state=0)
    path = work / "table30x1000.csv"
    header = ",".join([f"f{i}" for i in range(30)] + ["label"])
    np.savetxt(path, np.column_stack([X * 1000.0, y]), delimiter=",", header=header, comments="", fmt="%.7g")
    return str(path)


def _count(program: Path, rows: np.ndarray, work: Path) -> tuple[float, bytes]:
    """Instructions per inference of a bare-metal harness on the rows (one pass minus two)."""
    from edgekit.bench.emulated import ROWS_FILE
    from edgekit.compile.c.instruction_count import count_instructions
    from edgekit.compile.c.toolchains import toolchain_for

    board = toolchain_for(TRIPLE).board
    np.savetxt(work / ROWS_FILE, rows, fmt="%.9g", delimiter=",")
    counts = [count_instructions(["qemu-system-arm", "-M", str(board), "-nographic", "-semihosting-config",
                                  f"enable=on,target=native,arg=harness,arg=--count,arg={passes}"],
                                 ["-kernel", str(program)], work, None) for passes in (1, 2)]
    return (counts[1].instructions - counts[0].instructions) / len(rows), counts[1].stdout


def _emlearn(estimator, method: str, rows: np.ndarray, work: Path) -> dict:
    """emlearn's C for the estimator, wrapped in edgekit's C API, built and counted like edgekit's."""
    import emlearn

    from edgekit.compile.c.toolchains import build_harness, compile_objects, footprint, toolchain_for

    work.mkdir(parents=True)
    converted = emlearn.convert(estimator, method=method)
    converted.save(name="model", file=str(work / "model.h"))
    features, classes = estimator.n_features_in_, estimator.n_classes_
    (work / "model.c").write_text("\n".join([
        "/* edgekit's C API over emlearn's model (float inputs cast to int16, as emlearn's own wrappers do). */",
        "#include <stdint.h>",
        "#include <stddef.h>",
        '#include "edgekit_model.h"',
        '#include "model.h"',
        f"#define NUM_FEATURES {features}u",
        "const unsigned edgekit_api_version = EDGEKIT_API_VERSION;",
        "const unsigned edgekit_num_features = NUM_FEATURES;",
        f"const unsigned edgekit_num_outputs = {classes}u;",
        'const char edgekit_model_id[] = "emlearn";',
        "void edgekit_predict(const float *row, float *out) {",
        "    int16_t features[NUM_FEATURES];",
        "    for (uint32_t i = 0; i < NUM_FEATURES; ++i) features[i] = (int16_t)row[i];",
        f"    model_predict_proba(features, NUM_FEATURES, out, {classes});",
        "}",
        "void edgekit_predict_batch(const float *rows, size_t n, float *out) {",
        f"    for (size_t r = 0; r < n; ++r) edgekit_predict(rows + r * NUM_FEATURES, out + r * {classes});",
        "}",
        "",
    ]))
    toolchain = toolchain_for(TRIPLE)
    # emlearn's headers are not written for -Wall -Wextra -Werror: build them with warnings off.
    objects = compile_objects(toolchain, [work / "model.c"], work / "build", ("-w", f"-I{emlearn.includedir}"))
    flash = footprint(toolchain, objects).flash_bytes
    instructions, stdout = _count(build_harness(toolchain, objects, work / "build"), rows, work)
    outputs = np.loadtxt(stdout.decode().splitlines(), delimiter=",", ndmin=2)
    return {"flash_bytes": flash, "instructions_per_inference": instructions, "outputs": outputs}


def measure(name: str, bundle, work: Path, quick: bool) -> dict:
    from edgekit import compile_bundle
    from edgekit.bench.emulated import emulate
    from edgekit.devices.profiles import load_profile

    reference = bundle.reference()
    rows = np.ascontiguousarray(reference["test_X"][:COUNTED_ROWS], dtype=np.float32)
    expected = bundle.model.predict_proba(rows)
    profile = load_profile(DEVICE)
    result: dict = {"model": name, "family": bundle.info.family, "systems": {}}
    for label, options in LAYOUTS.items():
        if quick and label.startswith("ifelse"):
            continue
        directory = work / f"{name}-{label.split()[0]}-{len(result['systems'])}"
        artifact = compile_bundle(bundle.path, "c", directory, options={**options, "triple": TRIPLE})
        run = emulate(artifact, profile, directory.parent / f"{directory.name}-emulated")
        result["systems"][f"edgekit {label}"] = {
            "flash_bytes": artifact.info.resources[TRIPLE]["flash_bytes"],
            "instructions_per_inference": run.instructions_per_inference,
            "max_abs_diff": artifact.info.parity["max_abs_diff"],
            "certified": artifact.info.precision,
            "label_agreement": None,
            "leaves": artifact.info.options.get("leaves"),
        }
    if bundle.info.family == "random-forest":
        estimator = bundle.model.steps[-1][1] if hasattr(bundle.model, "steps") else bundle.model
        for method in ("loadable", "inline"):
            peer = _emlearn(estimator, method, rows, work / f"{name}-emlearn-{method}")
            outputs = peer.pop("outputs").reshape(expected.shape)
            result["systems"][f"emlearn {method}"] = {
                **peer, "max_abs_diff": float(np.max(np.abs(outputs - expected))),
                "label_agreement": float(np.mean(outputs.argmax(axis=1) == expected.argmax(axis=1))),
                "certified": "none (int16 inputs, majority votes)",
            }
    return result


def main() -> None:
    from edgekit import train_bundle

    args = arguments(__doc__.splitlines()[0], "without TL2cgen's if-else")
    with scratch() as work:
        table = scaled_table(work)
        results = []
        for name, (family, params) in MODELS.items():
            bundle = train_bundle(table, work / name, family=family, name=name, params=params)
            results.append(measure(name, bundle, work, args.quick))
    for result in results:
        systems = result["systems"]
        for anchor in ("emlearn loadable", "emlearn inline"):
            if anchor in systems:
                for system in systems.values():
                    system[f"flash_vs_{anchor.replace(' ', '_')}"] = systems[anchor]["flash_bytes"] / system["flash_bytes"]
                    system[f"instructions_vs_{anchor.replace(' ', '_')}"] = (
                        systems[anchor]["instructions_per_inference"] / system["instructions_per_inference"])
    stem = "bench_mcu_quick" if args.quick else "bench_mcu"
    print(write_results(args.out, stem, results, markdown, triple=TRIPLE).read_text())


def markdown(results: list[dict], machine: dict) -> str:
    lines = [
        "# Tree models on a Cortex-M4F: edgekit's C layouts vs. emlearn",
        "",
        (f"{machine_line(machine)}. arm-none-eabi-gcc -O2 for {TRIPLE}; flash = text + data of the model's objects; "
         f"instructions per inference counted under qemu-system-arm (mps2-an386, -icount shift=0, -singlestep) over "
         f"{COUNTED_ROWS} test rows. Ratios are emlearn ÷ system: > 1 means the system is smaller or faster. "
         "edgekit's max |diff| is its parity certificate (reference, test, threshold-edge and extreme rows); "
         "emlearn's is on the test rows against predict_proba."),
        "",
    ]
    for result in results:
        systems = result["systems"]
        anchors = [anchor for anchor in ("emlearn loadable", "emlearn inline") if anchor in systems]
        header = "| system | flash bytes | instructions / inference | max abs diff | label agreement |"
        rule = "|---|---:|---:|---:|---:|"
        if anchors:
            header += " flash: loadable ÷ system | instructions: inline ÷ system |"
            rule += "---:|---:|"
        lines += [f"## {result['model']} ({result['family']})", "", header, rule]
        for name, system in systems.items():
            agreement = "" if system["label_agreement"] is None else f"{system['label_agreement']:.4f}"
            line = (f"| {name} | {system['flash_bytes']:,} | {system['instructions_per_inference']:,.0f} | "
                    f"{system['max_abs_diff']:.2g} | {agreement} |")
            if anchors:
                line += f" {system['flash_vs_emlearn_loadable']:.2f} | {system['instructions_vs_emlearn_inline']:.2f} |"
            lines.append(line)
        lines.append("")
    return "\n".join(lines)


if __name__ == "__main__":
    main()
