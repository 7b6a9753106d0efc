"""Tree ensembles in batches: edgekit's C table layout (SIMD kernels and its scalar walk) vs.
XGBoost, ONNX Runtime, TL2cgen, treelite GTIL and m2cgen on identical models, one thread, with
the physical floor.

Models (XGBoost, trained by edgekit on one 30-feature, 20 000-row classification table):
  xgb-100x6   100 trees, depth 6 (near-complete: the complete-tree form)
  xgb-1000x8  1000 trees, depth 8, learning rate 0.1 (sparse: the node walk with complete top levels)

Systems: edgekit's C artifact through edgekit_runtime.load (the CPU's best kernels: AVX-512 here;
input checks and the telemetry monitor included), its library alone through ctypes, and the same
generated source rebuilt with the AVX2 kernels and with the scalar walk only (EDGEKIT_TREE_LANES); edgekit's ONNX artifact (ONNX
Runtime's TreeEnsemble); XGBoost's inplace_predict; TL2cgen's Predictor; treelite GTIL; m2cgen's C
(export_to_c, gcc -O3, a batch loop in C; 100x6 only: its nested code for 1000 trees takes gcc
minutes). Every system runs in a fresh process per round, in interleaved rounds (all systems once
per round, the order rotating); a figure is the median over rounds. Batch = 10 000 test rows drawn
with replacement; single row = one row per call from Python, cycling through 256 test rows (a row
repeated would let the branch predictor learn its path), groups of 20 calls per clock reading.

The floor: the node visits a row makes (measured on the batch: the internal nodes on each tree's
path) at one cycle each, at this core's clock measured with a chain of
dependent adds (one cycle each). Scalar code cannot go below ~1 cycle per visit; SIMD lanes can.

    .venv/bin/python benchmarks/bench_tree_batch.py [--out benchmarks/results] [--quick]

--neon, --neon-shapes: the aarch64 NEON batch kernel against the scalar walk, the same generated
source cross-compiled twice (EDGEKIT_TREE_LANES=4 and 0), counted in guest instructions per row under
qemu-aarch64 (the harness's --count-batch mode: one pass and two passes over the same rows, the
difference divided by the rows; no clock is read, so counts repeat exactly), on test rows as they are
and with 10 % of the values made missing; and the outputs of both builds compared bit for bit.
--neon: XGBoost 100x6 and 1000x8; --neon-shapes: a spread of shapes, with the cost rule's
prediction (neon_gain) beside each measured gain. Emulated instruction counts are not time on a
device: they show what the kernel saves, not what an out-of-order core overlaps.

    .venv/bin/python benchmarks/bench_tree_batch.py --neon [--out DIR]
    .venv/bin/python benchmarks/bench_tree_batch.py --neon-shapes [--out DIR] [--only NAME,NAME]
"""

from __future__ import annotations

import ctypes
import json
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
from bench_c import MODELS, classification_table
from timing import (
    arguments,
    interleaved_rounds,
    machine_line,
    mean_node_visits,
    medians,
    scratch,
    time_predict,
    write_results,
)

BATCH_ROWS = 10_000
CLOCK_PROGRAM = r"""
#include <stdio.h>
#include <time.h>
int main(void) {
    unsigned long x = 1; const unsigned long n = 400000000ul;
    struct timespec a, b; clock_gettime(CLOCK_MONOTONIC, &a);
    /* x += x: register operands (newer cores fold an add of an immediate at rename, 0 cycles) */
    for (unsigned long i = 0; i < n; i += 8)
        __asm__ volatile("add %0, %0\n add %0, %0\n add %0, %0\n add %0, %0\n"
                         "add %0, %0\n add %0, %0\n add %0, %0\n add %0, %0" : "+r"(x));
    clock_gettime(CLOCK_MONOTONIC, &b);
    printf("%.4f\n", n / ((b.tv_sec - a.tv_sec) * 1e9 + (b.tv_nsec - a.tv_nsec)));
    return x == 7;
}
"""
M2CGEN_BATCH = """
void edgekit_bench_batch(const float *rows, unsigned long n, unsigned long features, double *out) {
    double input[%d], one[2];
    for (unsigned long r = 0; r < n; ++r) {
        for (unsigned long f = 0; f < features; ++f) input[f] = rows[r * features + f];
        score(input, one);
        out[r] = one[1];
    }
}
"""


def _predictor(kind: str, path: Path):
    """predict(rows) of one system, made in the worker process."""
    if kind == "artifact":
        from edgekit_runtime import load

        return load(path, threads=1).predict
    if kind == "c-lib":
        from edgekit_runtime.predictors.c import CPredictor

        return CPredictor(path).predict
    if kind == "xgboost":
        import xgboost

        booster = xgboost.Booster(model_file=str(path))
        booster.set_param({"nthread": 1})
        return booster.inplace_predict
    if kind == "tl2cgen":
        import tl2cgen

        predictor = tl2cgen.Predictor(str(path), nthread=1)
        return lambda rows: predictor.predict(tl2cgen.DMatrix(rows, dtype="float32"))
    if kind == "gtil":
        import treelite

        model = treelite.Model.deserialize(str(path))
        return lambda rows: treelite.gtil.predict(model, rows, nthread=1)
    if kind == "m2cgen":
        library = ctypes.CDLL(str(path))
        library.edgekit_bench_batch.argtypes = [ctypes.c_void_p, ctypes.c_ulong, ctypes.c_ulong, ctypes.c_void_p]

        def predict(rows: np.ndarray) -> np.ndarray:
            rows = np.ascontiguousarray(rows, dtype=np.float32)
            out = np.empty(len(rows))
            library.edgekit_bench_batch(rows.ctypes.data, len(rows), rows.shape[1], out.ctypes.data)
            return out

        return predict
    raise ValueError(kind)


def worker(kind: str, path: Path, batch: Path, single: int, batches: int) -> None:
    time_predict(_predictor(kind, path), np.load(batch), single, batches)


def clock_ghz(work: Path) -> float:
    source = work / "clock.c"
    source.write_text(CLOCK_PROGRAM)
    subprocess.run(["gcc", "-O1", str(source), "-o", str(work / "clock")], check=True)
    return max(float(subprocess.run([str(work / "clock")], capture_output=True, text=True, check=True).stdout) for _ in range(3))


def _rebuild(artifact: Path, lanes: int, out: Path) -> Path:
    """The artifact's generated source built again with one batch path pinned (EDGEKIT_TREE_LANES)."""
    import dataclasses

    from edgekit.compile.c.toolchains import HOST_TRIPLE, compile_objects, link_libraries, toolchain_for

    toolchain = toolchain_for(HOST_TRIPLE)
    toolchain = dataclasses.replace(toolchain, defines=(*toolchain.defines, f"-DEDGEKIT_TREE_LANES={lanes}u"))
    objects = compile_objects(toolchain, [artifact / "src" / "model.c"], out / "obj")
    return link_libraries(toolchain, objects, out / "lib")["shared"]


def _m2cgen_library(booster, features: int, work: Path) -> Path:
    """m2cgen's C for the booster (binary classifier), behind a batch loop in C."""
    import m2cgen
    import xgboost

    config = json.loads(booster.save_config())  # m2cgen reads base_score and the objective from the parameters
    classifier = xgboost.XGBClassifier(objective=config["learner"]["objective"]["name"],
                                       base_score=float(config["learner"]["learner_model_param"]["base_score"].strip("[]")))
    classifier._Booster, classifier.n_classes_ = booster, 2
    source = work / "m2cgen.c"
    source.write_text(m2cgen.export_to_c(classifier) + M2CGEN_BATCH % features)
    library = work / "m2cgen.so"
    subprocess.run(["gcc", "-O3", "-shared", "-fPIC", str(source), "-o", str(library), "-lm"], check=True)
    return library


def prepare(name: str, bundle, work: Path) -> tuple[dict[str, tuple[str, Path]], dict]:
    """Every system's (kind, path) for one model, and the model's facts."""
    import tl2cgen

    from edgekit import compile_bundle
    from edgekit.compile.trees.tables import bundle_trees, treelite_model

    systems: dict[str, tuple[str, Path]] = {}
    c = compile_bundle(bundle.path, "c", work / f"{name}-c")
    systems["edgekit c"] = ("artifact", c.path)
    systems["edgekit c, the library alone"] = ("c-lib", c.path / "lib" / "libedgekit_model.so")  # no loader checks or monitor
    systems["edgekit c avx2 kernels"] = ("c-lib", _rebuild(c.path, 8, work / f"{name}-avx2"))
    systems["edgekit c scalar walk"] = ("c-lib", _rebuild(c.path, 0, work / f"{name}-scalar"))
    onnx = compile_bundle(bundle.path, "onnx", work / f"{name}-onnx")
    systems["onnxruntime"] = ("artifact", onnx.path)
    booster_file = work / f"{name}.ubj"
    bundle.model.get_booster().save_model(str(booster_file))
    systems["xgboost inplace_predict"] = ("xgboost", booster_file)
    tl_model, _ = treelite_model(bundle.model, bundle.info.family)
    tl2cgen_library = work / f"{name}-tl2cgen.so"
    tl2cgen.export_lib(tl_model, toolchain="gcc", libpath=str(tl2cgen_library), params={"parallel_comp": max(1, tl_model.num_tree // 50)}, nthread=2)
    systems["tl2cgen"] = ("tl2cgen", tl2cgen_library)
    gtil_file = work / f"{name}.treelite"
    tl_model.serialize(str(gtil_file))
    systems["treelite gtil"] = ("gtil", gtil_file)
    tables = bundle_trees(bundle).tables
    if tables.num_trees <= 100:
        started = time.perf_counter()
        systems["m2cgen"] = ("m2cgen", _m2cgen_library(bundle.model.get_booster(), tables.num_features, work))
        m2cgen_seconds = time.perf_counter() - started
    else:
        m2cgen_seconds = None
    facts = {"trees": tables.num_trees, "form": (c.path / "src" / "model.c").read_text().split(": table layout (")[1].split(")")[0],
             "certified_max_abs_diff": c.info.parity["max_abs_diff"], "m2cgen_build_seconds": m2cgen_seconds}
    return systems, facts


NEON_TRIPLE = "aarch64-linux-gnu"
NEON_ROWS = 256  # 16 blocks of 16
NEON_MISSING = 0.1
# (name, data: "table30" or a DATA source, family, params) for --neon-shapes
NEON_SHAPES = (
    ("xgb-300x3", "table30", "xgboost", {"n_estimators": "300", "max_depth": "3"}),
    ("xgb-200x4", "table30", "xgboost", {"n_estimators": "200", "max_depth": "4"}),
    ("xgb-100x5", "table30", "xgboost", {"n_estimators": "100", "max_depth": "5"}),
    ("xgb-100x6", "table30", "xgboost", {"n_estimators": "100", "max_depth": "6"}),
    ("xgb-100x8", "table30", "xgboost", {"n_estimators": "100", "max_depth": "8"}),
    ("xgb-300x6-sensors", "synthetic:sensors?rows=20000&missing=0.05", "xgboost", {"n_estimators": "300", "max_depth": "6"}),
    ("xgb-1000x8", "table30", "xgboost", {"n_estimators": "1000", "max_depth": "8", "learning_rate": "0.1"}),
    ("xgb-softmax-40x4", "bundled:digits", "xgboost", {"n_estimators": "4", "max_depth": "4"}),
    ("rf-100x8", "table30", "random-forest", {"n_estimators": "100", "max_depth": "8"}),
    ("rf-50x12", "table30", "random-forest", {"n_estimators": "50", "max_depth": "12"}),
    ("gbm-100x3-regression", "synthetic:sensors?rows=5000&missing=0", "gradient-boosting", {"n_estimators": "100", "max_depth": "3"}),
)


def _neon_harness(source: str, work: Path, lanes: int) -> Path:
    """The generated source cross-compiled for aarch64 with the batch path pinned, and the harness."""
    import dataclasses

    from edgekit.compile.c.toolchains import (
        C_RUNTIME_DIRECTORY,
        build_harness,
        compile_objects,
        toolchain_for,
    )

    toolchain = toolchain_for(NEON_TRIPLE)
    toolchain = dataclasses.replace(toolchain, defines=(*toolchain.defines, f"-DEDGEKIT_TREE_LANES={lanes}u"))
    work.mkdir(parents=True, exist_ok=True)
    (work / "model.c").write_text(source)
    sources = [work / "model.c", C_RUNTIME_DIRECTORY / "edgekit_threads.c"]  # the harness's --threads needs it
    return build_harness(toolchain, compile_objects(toolchain, sources, work / "obj"), work)


def _batch_count(harness: Path, rows: np.ndarray, work: Path) -> tuple[float, np.ndarray]:
    """Guest instructions per row of edgekit_predict_batch, and its outputs."""
    from edgekit.compile.c.instruction_count import count_instructions

    data = work / "rows.csv"
    np.savetxt(data, rows, fmt="%.9g", delimiter=",")
    runs = [count_instructions(["qemu-aarch64"], [str(harness), "--count-batch", str(passes)], work, data) for passes in (1, 2)]
    outputs = np.loadtxt(runs[1].stdout.decode().splitlines(), delimiter=",", ndmin=2, dtype=np.float32)
    return (runs[1].instructions - runs[0].instructions) / len(rows), outputs


def neon_measure(name: str, bundle, work: Path) -> dict:
    """Scalar walk vs. NEON kernel on one bundle: instructions per row, without and with missing values."""
    from edgekit.compile.c.table import table_source
    from edgekit.compile.c.tree_simd import neon_gain
    from edgekit.compile.trees.padding import tree_depths
    from edgekit.compile.trees.tables import bundle_trees

    tables = bundle_trees(bundle).tables
    source = table_source(tables, bundle.info.content_hash, name)
    test = np.asarray(bundle.reference()["test_X"], dtype=np.float32)
    rows = test[np.random.default_rng(0).integers(0, len(test), NEON_ROWS)]
    missing = rows.copy()
    missing[np.random.default_rng(1).random(rows.shape) < NEON_MISSING] = np.nan
    harnesses = {lanes: _neon_harness(source, work / f"{name}-{lanes}", lanes) for lanes in (0, 4)}
    result: dict = {"model": name, "trees": tables.num_trees, "depth": int(tree_depths(tables).max(initial=0)),
                    "form": source.split(": table layout (")[1].split(")")[0], "rows": NEON_ROWS}
    for label, batch in (("", rows), ("nan_", missing)):
        (scalar, scalar_out), (neon, neon_out) = (_batch_count(harnesses[lanes], batch, work / f"{name}-{lanes}") for lanes in (0, 4))
        result.update({f"{label}scalar": scalar, f"{label}neon": neon, f"{label}gain": scalar / neon,
                       f"{label}max_abs_diff": float(np.nanmax(np.abs(scalar_out - neon_out))) if len(scalar_out) else 0.0,
                       f"{label}identical": bool(np.array_equal(scalar_out, neon_out, equal_nan=True))})
    gain = neon_gain(tables)
    result.update(predicted_gain=gain.predicted, chosen=gain.chosen,
                  shape={"walk": gain.walk, "visits": gain.visits, "below": gain.below, "levels": gain.levels, "lane_leaves": gain.lane_leaves,
                         "features": gain.features})
    return result


def neon_main(mode: str, out: Path, only: list[str]) -> None:
    from edgekit import train_bundle

    results = []
    with scratch() as work:
        table30 = classification_table(work)
        shapes = NEON_SHAPES if mode == "--neon-shapes" else [(name, "table30", *MODELS[name]) for name in ("xgb-100x6", "xgb-1000x8")]
        shapes = [shape for shape in shapes if not only or shape[0] in only]
        stem = "bench_tree_batch_neon_shapes" if mode == "--neon-shapes" else "bench_tree_batch_neon"
        for name, data, family, params in shapes:
            label, task = ("temperature_c", "regression") if family == "gradient-boosting" else (None, None)
            bundle = train_bundle(table30 if data == "table30" else data, work / name, family=family, name=name, params=params,
                                  label=label, task=task)
            results.append(neon_measure(name, bundle, work))
            print(f"measured {name}: {results[-1]['gain']:.2f}x, with missing values {results[-1]['nan_gain']:.2f}x", flush=True)
            written = write_results(out, stem, results, neon_markdown, emulator="qemu-aarch64 (instruction counts)")
    print(written.read_text())


def neon_markdown(results: list[dict], machine: dict) -> str:
    lines = [
        "# The aarch64 NEON batch kernel vs. the scalar walk: guest instructions per row under qemu-aarch64",
        "",
        (f"{machine_line(machine)}. edgekit's C table layout, one generated source cross-compiled with "
         f"aarch64-linux-gnu-gcc twice (EDGEKIT_TREE_LANES=4: the NEON kernel; 0: the scalar walk), the harness's "
         f"--count-batch mode over {NEON_ROWS} test rows (16 blocks of 16), one pass and two passes counted, the "
         f"difference per row. Missing: the same rows with {NEON_MISSING:.0%} of values NaN (a block holding one walks the levels taken lane by lane with the NaN test; the vector levels read the block's +inf copy where NaN goes right). Gain = scalar ÷ NEON; predicted = the cost rule neon_gain (the kernel "
         "is chosen by default at ≥ 1.3×). Identical: both builds' outputs bit for bit equal. Instruction counts, "
         "not time: an out-of-order core overlaps the scalar walk's rows more than qemu shows."),
        "",
        "| model | trees | depth | form | scalar | NEON | gain | missing: scalar | NEON | gain | predicted | chosen | identical |",
        "|---|---:|---:|---|---:|---:|---:|---:|---:|---:|---:|---|---|",
    ]
    for r in results:
        lines.append(f"| {r['model']} | {r['trees']} | {r['depth']} | {r['form']} | {r['scalar']:.0f} | {r['neon']:.0f} | "
                     f"{r['gain']:.2f}× | {r['nan_scalar']:.0f} | {r['nan_neon']:.0f} | {r['nan_gain']:.2f}× | "
                     f"{r['predicted_gain']:.2f}× | {'yes' if r['chosen'] else 'no'} | "
                     f"{'yes' if r['identical'] and r['nan_identical'] else 'NO'} |")
    return "\n".join([*lines, ""])


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "--worker":
        worker(sys.argv[2], Path(sys.argv[3]), Path(sys.argv[4]), int(sys.argv[5]), int(sys.argv[6]))
        return
    if len(sys.argv) > 1 and sys.argv[1] in ("--neon", "--neon-shapes"):
        out = Path(sys.argv[sys.argv.index("--out") + 1]) if "--out" in sys.argv else Path(__file__).parent / "results"
        only = sys.argv[sys.argv.index("--only") + 1].split(",") if "--only" in sys.argv else []
        neon_main(sys.argv[1], out, only)
        return
    args = arguments(__doc__.splitlines()[0], "fewer rounds and repeats, only the 100x6 model")
    rounds, single, batches = (3, 100, 5) if args.quick else (5, 300, 10)
    from edgekit import train_bundle
    from edgekit.compile.trees.tables import bundle_trees

    results = []
    with scratch() as work:
        ghz = clock_ghz(work)
        data = classification_table(work)
        for name in ("xgb-100x6",) if args.quick else ("xgb-100x6", "xgb-1000x8"):
            family, params = MODELS[name]
            bundle = train_bundle(data, work / name, family=family, name=name, params=params)
            rows = np.asarray(bundle.reference()["test_X"], dtype=np.float32)
            batch = np.ascontiguousarray(rows[np.random.default_rng(0).integers(0, len(rows), BATCH_ROWS)])
            np.save(work / f"{name}-batch.npy", batch)
            systems, facts = prepare(name, bundle, work)
            visits = mean_node_visits(bundle_trees(bundle).tables, batch.astype(np.float64), count_leaf=False)
            samples = interleaved_rounds(__file__, {system: [kind, str(path), str(work / f"{name}-batch.npy"), str(single), str(batches)]
                                                    for system, (kind, path) in systems.items()}, rounds, f"{name}: ")
            floor_ns = visits / ghz
            runs = medians(samples)
            for run in runs.values():
                run["ns_per_row"] = run["batch_ms"] * 1e6 / BATCH_ROWS
                run["cycles_per_visit"] = run["ns_per_row"] * ghz / visits
            edgekit = runs["edgekit c"]
            for run in runs.values():
                run["batch_ratio"] = run["batch_ms"] / edgekit["batch_ms"]  # peer / edgekit: > 1, edgekit is faster
                run["single_row_ratio"] = run["single_row_us"] / edgekit["single_row_us"]
            results.append({"model": name, **facts, "visits_per_row": visits, "clock_ghz": ghz, "floor_ns_per_row": floor_ns,
                            "rounds": rounds, "runs": runs})
            written = write_results(args.out, "bench_tree_batch_quick" if args.quick else "bench_tree_batch", results, markdown)
    print(written.read_text())


def markdown(results: list[dict], machine: dict) -> str:
    lines = [
        "# Tree ensembles in batches: edgekit C vs. XGBoost, ONNX Runtime, TL2cgen, treelite GTIL, m2cgen",
        "",
        (f"{machine_line(machine)}. One thread; a fresh process per system per round, interleaved rounds, medians. "
         f"Batch = {BATCH_ROWS} rows; ratio = peer ÷ edgekit c (> 1: edgekit is faster). Floor = node visits per row × "
         "1 cycle at the measured clock."),
        "",
    ]
    for result in results:
        lines += [
            f"## {result['model']}: {result['trees']} trees, {result['form']}",
            "",
            (f"{result['visits_per_row']:.1f} node visits per row; clock {result['clock_ghz']:.2f} GHz; floor "
             f"{result['floor_ns_per_row']:.0f} ns/row; {result['rounds']} rounds; certified max abs diff "
             f"{result['certified_max_abs_diff']:.2g}."),
            "",
            "| system | batch ms | ns/row | cycles per visit | batch ratio | single row µs | single-row ratio |",
            "|---|---:|---:|---:|---:|---:|---:|",
        ]
        for name, run in result["runs"].items():
            lines.append(f"| {name} | {run['batch_ms']:.2f} | {run['ns_per_row']:.0f} | {run['cycles_per_visit']:.2f} | "
                         f"{run['batch_ratio']:.2f}× | {run['single_row_us']:.2f} | {run['single_row_ratio']:.2f}× |")
        lines.append("")
    return "\n".join(lines)


if __name__ == "__main__":
    main()
