"""A LightGBM model (500 trees x 63 leaves) through edgekit vs. the tools a user would pick for it.

The model is trained in plain LightGBM on the 30-feature, 20 000-row table of bench_c, saved as
LightGBM's text model and brought in with ``edgekit import``. Systems, one thread each:
  lightgbm     Booster.predict (num_threads=1)
  lleaves      lleaves 1.3 (an LLVM compiler for LightGBM models), compiled once, n_jobs=1
  onnxruntime  edgekit's ONNX artifact (TreeEnsemble) through edgekit_runtime's loader
  c-table      edgekit's C artifact, table layout, through the same loader
  c-ifelse     edgekit's C artifact, TL2cgen's if-else layout
Every system is timed in a fresh process per round, in interleaved rounds (all systems once per
round, the order rotating); a figure is the median over rounds of each process's median. Batch =
10 000 rows; single row = one row per call from Python (groups of 20 calls per clock reading).
The floor: the mean node visits per row (measured on the batch) x the x86-64 profile's cycles per
node visit, at this machine's clock (/proc/cpuinfo).

    .venv/bin/python benchmarks/bench_lightgbm.py [--out benchmarks/results] [--quick]

Needs the benchmark extra: pip install -e '.[bench]' (lleaves 1.3 imports only with llvmlite<0.44).
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
from timing import arguments, machine_line, mean_node_visits, scratch, timings, write_results

TREES, LEAVES = 500, 63
BATCH_ROWS = 10_000
SYSTEMS = ("lightgbm", "lleaves", "onnxruntime", "c-table", "c-ifelse")
ONE_THREAD = {"OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}


def _predictor(system: str, work: Path):
    """What one fresh process times: a function of float32 rows."""
    if system == "lightgbm":
        import lightgbm

        booster = lightgbm.Booster(model_file=str(work / "model.txt"))
        return lambda rows: booster.predict(rows, num_threads=1)
    if system == "lleaves":
        import lleaves

        model = lleaves.Model(model_file=str(work / "model.txt"))
        model.compile(cache=str(work / "lleaves.o"))  # compiled by the driver; loaded here
        return lambda rows: model.predict(rows, n_jobs=1)
    from edgekit_runtime import load

    return load(work / system, threads=1).predict


def worker(system: str, work: Path, single: int, batches: int) -> None:
    rows = np.load(work / "batch.npy")
    predict = _predictor(system, work)
    one = np.ascontiguousarray(rows[:1])
    batch_us = statistics.median(timings(lambda: predict(rows), batches))
    single_us = statistics.median(timings(lambda: predict(one), single, calls_per_sample=20))
    print(json.dumps({"batch_ms": batch_us / 1e3, "single_row_us": single_us}))


def _clock_mhz() -> float | None:
    try:
        speeds = [float(line.split(":")[1]) for line in Path("/proc/cpuinfo").read_text().splitlines()
                  if line.startswith("cpu MHz")]
    except (OSError, ValueError):
        return None
    return max(speeds) if speeds else None


def prepare(work: Path, quick: bool) -> dict:
    import lightgbm
    import lleaves
    from bench_c import classification_table

    from edgekit import compile_bundle, import_model
    from edgekit.compile.trees.tables import bundle_trees
    from edgekit.devices import load_profile

    data = np.loadtxt(classification_table(work), delimiter=",", skiprows=1, dtype=np.float64)
    X, y = data[:, :-1].astype(np.float32), data[:, -1].astype(int)
    trees = 100 if quick else TREES
    started = time.perf_counter()
    model = lightgbm.LGBMClassifier(n_estimators=trees, num_leaves=LEAVES, learning_rate=0.05, min_child_samples=5,
                                    verbose=-1, n_jobs=1).fit(X[:15_000], y[:15_000])
    train_seconds = time.perf_counter() - started
    model.booster_.save_model(work / "model.txt")
    bundle = import_model(work / "model.txt", X[15_000:], work / "bundle")
    compiled = {}
    for system, options in (("onnxruntime", ("onnx", {})), ("c-table", ("c", {"layout": "table"})),
                            ("c-ifelse", ("c", {"layout": "ifelse"}))):
        artifact = compile_bundle(bundle, options[0], work / system, options=options[1])
        compiled[system] = {"compile_seconds": artifact.info.compile_seconds, "file_bytes": artifact.info.resources["model_bytes"],
                            "certified_max_abs_diff": artifact.info.parity["max_abs_diff"]}
    started = time.perf_counter()
    lleaves.Model(model_file=str(work / "model.txt")).compile(cache=str(work / "lleaves.o"))
    compiled["lleaves"] = {"compile_seconds": time.perf_counter() - started, "file_bytes": (work / "lleaves.o").stat().st_size}
    batch = X[15_000:][np.random.default_rng(0).integers(0, 5000, BATCH_ROWS)]
    np.save(work / "batch.npy", np.ascontiguousarray(batch))
    tables = bundle_trees(bundle).tables
    visits = mean_node_visits(tables, batch, count_leaf=True)
    cycles = load_profile("x86-64-gateway-n100").cost_model.cycles_per_node_visit
    return {"trees": tables.num_trees, "leaves": LEAVES, "train_seconds": train_seconds, "builds": compiled,
            "mean_node_visits_per_row": visits, "cycles_per_node_visit": cycles,
            "reference": model.predict_proba(batch)[:, 1].tolist()[:1]}


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "--worker":
        worker(sys.argv[2], Path(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5]))
        return
    args = arguments(__doc__.splitlines()[0], "100 trees, fewer rounds and repeats")
    rounds, single, batches = (3, 100, 3) if args.quick else (7, 400, 10)
    with scratch() as work:
        setup = prepare(work, args.quick)
        environment = {**os.environ, **ONE_THREAD}
        samples: dict[str, list[dict]] = {system: [] for system in SYSTEMS}
        for number in range(rounds):
            order = SYSTEMS[number % len(SYSTEMS):] + SYSTEMS[:number % len(SYSTEMS)]  # rotate who goes first
            for system in order:
                done = subprocess.run([sys.executable, __file__, "--worker", system, str(work), str(single), str(batches)],
                                      capture_output=True, text=True, env=environment, check=True)
                samples[system].append(json.loads(done.stdout.strip().splitlines()[-1]))
            print(f"round {number + 1}/{rounds}", flush=True)
    mhz = _clock_mhz()
    floor_ns = setup["mean_node_visits_per_row"] * setup["cycles_per_node_visit"] / (mhz * 1e-3) if mhz else None
    runs = {}
    for system, entries in samples.items():
        batch_ms = statistics.median(entry["batch_ms"] for entry in entries)
        single_us = statistics.median(entry["single_row_us"] for entry in entries)
        runs[system] = {"batch_ms": batch_ms, "batch_rows_per_s": BATCH_ROWS / (batch_ms / 1e3), "single_row_us": single_us,
                        "batch_ns_per_row": batch_ms * 1e6 / BATCH_ROWS, "rounds": len(entries)}
    table = runs["c-table"]
    for run in runs.values():
        run["c_table_batch_speedup"] = run["batch_ms"] / table["batch_ms"]
        run["single_row_ratio_to_onnxruntime"] = run["single_row_us"] / runs["onnxruntime"]["single_row_us"]
        run["x_floor"] = run["batch_ns_per_row"] / floor_ns if floor_ns else None
    result = {**setup, "clock_mhz": mhz, "floor_ns_per_row": floor_ns, "runs": runs}
    print(write_results(args.out, "bench_lightgbm_quick" if args.quick else "bench_lightgbm", [result], markdown).read_text())


def markdown(results: list[dict], machine: dict) -> str:
    result = results[0]
    floor = result["floor_ns_per_row"]
    lines = [
        f"# LightGBM {result['trees']} trees x {result['leaves']} leaves: edgekit vs. LightGBM, lleaves, ONNX Runtime",
        "",
        (f"{machine_line(machine)}, clock {result['clock_mhz'] or '?'} MHz. One thread everywhere; each system in a fresh "
         f"process per round, {next(iter(result['runs'].values()))['rounds']} interleaved rounds, medians. Batch = {BATCH_ROWS} "
         "rows; single row = one row per Python call."),
        (f"Floor: {result['mean_node_visits_per_row']:.0f} node visits per row (mean over the batch) x "
         f"{result['cycles_per_node_visit']} cycles = {floor:.0f} ns per row." if floor else "Floor: no clock figure here."),
        "",
        "| system | batch ms | rows/s | ns/row | x floor | c-table batch speed-up | single row µs | single row / ONNX Runtime |",
        "|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for system, run in result["runs"].items():
        x_floor = f"{run['x_floor']:.1f}" if run["x_floor"] else "—"
        lines.append(f"| {system} | {run['batch_ms']:.2f} | {run['batch_rows_per_s']:,.0f} | {run['batch_ns_per_row']:.0f} | "
                     f"{x_floor} | {run['c_table_batch_speedup']:.2f}× | {run['single_row_us']:.2f} | "
                     f"{run['single_row_ratio_to_onnxruntime']:.2f} |")
    lines += ["", "| build | compile s | file bytes | certified max abs diff |", "|---|---:|---:|---:|"]
    for name, build in result["builds"].items():
        diff = build.get("certified_max_abs_diff")
        lines.append(f"| {name} | {build['compile_seconds']:.1f} | {build['file_bytes']:,} | {'—' if diff is None else f'{diff:.2g}'} |")
    lines += ["", f"LightGBM training ({result['trees']} trees, one thread): {result['train_seconds']:.1f} s.", ""]
    return "\n".join(lines)


if __name__ == "__main__":
    main()
