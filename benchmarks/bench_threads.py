"""Batches on 1 and N threads: edgekit's C artifacts (edgekit_predict_batch_threads) and ONNX Runtime.

Models: XGBoost 100x6 and 1000x8 (bench_c.py's 30-feature table; C table layout) and the digits MLP
64-64-10 (dense C). Each system is edgekit_runtime.load(ARTIFACT, threads=T) on a 10 000-row batch,
timed through ``runtime_predict`` (the runtime's call alone) and ``predict`` (with the input
monitor and the finiteness check an application gets). Every system is timed in a fresh process
per round, in interleaved rounds (all systems once per round, the order rotating); a figure is the
median over rounds of each process's median of 20 batches. N = this machine's cores.

    .venv/bin/python benchmarks/bench_threads.py [--out benchmarks/results] [--quick]
"""

from __future__ import annotations

import json
import os
import statistics
import sys
from pathlib import Path

import numpy as np
from bench_c import MODELS, classification_table
from timing import arguments, interleaved_rounds, machine_line, scratch, timings, write_results

BATCH_ROWS = 10_000


def worker(directory: Path, batch: Path, threads: int, batches: int) -> None:
    from edgekit_runtime import load

    rows = np.load(batch)
    model = load(directory, threads=threads)
    runtime_ms = statistics.median(timings(lambda: model.runtime_predict(rows), batches)) / 1e3
    checked_ms = statistics.median(timings(lambda: model.predict(rows), batches)) / 1e3
    print(json.dumps({"runtime_ms": runtime_ms, "predict_ms": checked_ms}))


def _bundles(work: Path, quick: bool) -> dict:
    from edgekit import train_bundle

    table = classification_table(work)
    names = ["xgb-100x6"] if quick else ["xgb-100x6", "xgb-1000x8"]
    bundles = {name: train_bundle(table, work / name, family=MODELS[name][0], name=name, params=MODELS[name][1]) for name in names}
    bundles["mlp-digits"] = train_bundle("bundled:digits", work / "mlp", family="mlp", name="mlp-digits")
    return bundles


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "--worker":
        worker(Path(sys.argv[2]), Path(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5]))
        return
    args = arguments(__doc__.splitlines()[0], "fewer rounds and batches, XGBoost 100x6 and the MLP only")
    rounds, batches = (3, 5) if args.quick else (5, 20)
    cores = len(os.sched_getaffinity(0))
    load_before = os.getloadavg()[0]  # threads only gain on idle cores: the page says how busy they were
    from edgekit import compile_bundle

    results = []
    with scratch() as work:
        for name, bundle in _bundles(work, args.quick).items():
            rows = np.asarray(bundle.reference()["test_X"], dtype=np.float32)
            np.save(work / f"{name}.npy", np.ascontiguousarray(rows[np.random.default_rng(0).integers(0, len(rows), BATCH_ROWS)]))
            systems = {}
            for target in ("c", "onnx"):
                compile_bundle(bundle.path, target, work / f"{name}-{target}")
                for threads in sorted({1, cores}):
                    systems[f"{'C' if target == 'c' else 'ONNX Runtime'}, {threads} thread{'s' * (threads > 1)}"] = (target, threads)
            samples = interleaved_rounds(__file__, {system: [str(work / f"{name}-{target}"), str(work / f"{name}.npy"), str(threads), str(batches)]
                                                    for system, (target, threads) in systems.items()}, rounds, f"{name}: ")
            runs = {}
            for system, entries in samples.items():
                runs[system] = {"threads": systems[system][1], "runtime_ms": statistics.median(e["runtime_ms"] for e in entries),
                                "predict_ms": statistics.median(e["predict_ms"] for e in entries),
                                "runtime_ms_rounds": [e["runtime_ms"] for e in entries]}
            for system, run in runs.items():
                one = runs[system.rsplit(",", 1)[0] + ", 1 thread"]
                run["speedup_over_one_thread"] = one["runtime_ms"] / run["runtime_ms"]
            results.append({"model": name, "rounds": rounds, "runs": runs})
            print(f"measured {name}", flush=True)
    load = f"{load_before:.1f} at the start, {os.getloadavg()[0]:.1f} at the end"
    print(write_results(args.out, "bench_threads_quick" if args.quick else "bench_threads", results, markdown, load_average=load).read_text())


def markdown(results: list[dict], machine: dict) -> str:
    lines = [
        "# Batches on 1 and N threads",
        "",
        (f"{machine_line(machine)}, 1-minute load average {machine['load_average']}. Batch = {BATCH_ROWS} rows through edgekit_runtime.load(ARTIFACT, threads=T); a fresh "
         f"process per system per round, {results[0]['rounds']} interleaved rounds, medians. `runtime` = the runtime's call "
         "alone, `predict` = with the input monitor and the finiteness check."),
        "",
    ]
    for result in results:
        lines += [f"## {result['model']}", "", "| system | threads | runtime ms | predict ms | speed-up over 1 thread |",
                  "|---|---:|---:|---:|---:|"]
        for system, run in result["runs"].items():
            lines.append(f"| {system} | {run['threads']} | {run['runtime_ms']:.2f} | {run['predict_ms']:.2f} | "
                         f"{run['speedup_over_one_thread']:.2f}× |")
        lines.append("")
    return "\n".join(lines)


if __name__ == "__main__":
    main()
