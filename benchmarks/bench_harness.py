"""The device harness's overhead per call: edgekit_runtime.load(...).predict next to the predictor
alone and the bare runtime call on the same artifact.

  bare        the runtime used directly, as an app without edgekit would: onnxruntime's
              session.run, a ctypes call of edgekit_predict with preallocated buffers, LiteRT's
              set_tensor/invoke/get_tensor on a ready interpreter
  runtime     edgekit_runtime's predictor without input checks (model.runtime_predict)
  harness     model.predict: shape/dtype checks, the input monitor (C artifacts: counted in C,
              edgekit_monitor.c; the others: the Python monitor), the output check
  python mon  C artifacts only: model.predict as a library built before edgekit_monitor.c gets it
              (the Python monitor over the same predictor), in the same process

Overhead = harness - runtime: what the monitor and the checks cost over the predictor alone.
Models: XGBoost 20x3 on breast-cancer (a small tree model: 30 features, a ~60 ns row), XGBoost
100x6 on bench_c's 30-feature table, the digits MLP (64 features). Every artifact runs in a fresh
process per round, in interleaved rounds (the order rotating); a figure is the median over rounds of
each process's median. One thread; single row: groups of 256 calls per clock reading (the Python
monitor's flush period, so a sample holds its amortised cost); batch: 1 000 rows.

    .venv/bin/python benchmarks/bench_harness.py [--out benchmarks/results] [--quick]
"""

from __future__ import annotations

import ctypes
import json
import os
import statistics
import subprocess
import sys
from pathlib import Path

import numpy as np
from bench_c import classification_table
from timing import arguments, machine_line, scratch, timings, write_results

BATCH_ROWS = 1_000
SINGLE_GROUP = 256
ONE_THREAD = {"OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
# name: (data, family, params, targets)
MODELS = {
    "xgb-20x3": ("bundled:breast-cancer", "xgboost", {"n_estimators": "20", "max_depth": "3"}, ("c",)),
    "xgb-100x6": (None, "xgboost", {"n_estimators": "100", "max_depth": "6"}, ("c", "onnx", "tflite")),
    "mlp-digits": ("bundled:digits", "mlp", {}, ("c", "onnx", "tflite")),
}


def bare_call(artifact, rows: np.ndarray):
    """A function predicting ``rows`` with the artifact's runtime and nothing else."""
    info = artifact.info
    if info.runtime["name"] == "onnxruntime":
        import onnxruntime as ort

        options = ort.SessionOptions()
        options.intra_op_num_threads = options.inter_op_num_threads = 1
        session = ort.InferenceSession(str(artifact.model_path), options, providers=["CPUExecutionProvider"])
        feeds, outputs = {session.get_inputs()[0].name: rows}, [info.outputs[0]["name"]]
        return lambda: session.run(outputs, feeds)
    if info.runtime["name"] == "c":
        library = ctypes.CDLL(str(artifact.path / info.runtime["library"]))
        out = np.empty((len(rows), int(info.outputs[0]["shape"][1])), dtype=np.float32)
        row_pointer, out_pointer = ctypes.c_void_p(rows.ctypes.data), ctypes.c_void_p(out.ctypes.data)
        if len(rows) == 1:
            one = library.edgekit_predict
            one.argtypes, one.restype = (ctypes.c_void_p, ctypes.c_void_p), None
            return lambda keep=(rows, out): one(row_pointer, out_pointer)  # keep: the buffers outlive the call
        batch = library.edgekit_predict_batch
        batch.argtypes, batch.restype = (ctypes.c_void_p, ctypes.c_size_t, ctypes.c_void_p), None
        return lambda keep=(rows, out): batch(row_pointer, len(rows), out_pointer)
    from ai_edge_litert.interpreter import Interpreter

    interpreter = Interpreter(model_path=str(artifact.model_path), num_threads=1)
    source, target = interpreter.get_input_details()[0]["index"], interpreter.get_output_details()[0]["index"]
    interpreter.resize_tensor_input(source, rows.shape, strict=True)
    interpreter.allocate_tensors()

    def call():
        interpreter.set_tensor(source, rows)
        interpreter.invoke()
        return interpreter.get_tensor(target)

    return call


def worker(path: Path, rows_file: Path, single: int, batches: int) -> None:
    """One artifact in this fresh process: every way of calling it, single row and batch."""
    from edgekit_runtime import load

    from edgekit.artifact import Artifact

    rows = np.load(rows_file)
    one, batch = np.ascontiguousarray(rows[:1]), np.ascontiguousarray(rows[:BATCH_ROWS])
    artifact = Artifact.load(path)
    model = load(path, threads=1)
    calls = {
        "bare": (bare_call(artifact, one), bare_call(artifact, batch)),
        "runtime": (lambda: model.runtime_predict(one), lambda: model.runtime_predict(batch)),
        "harness": (lambda: model.predict(one), lambda: model.predict(batch)),
    }
    if artifact.info.runtime["name"] == "c":
        python_monitor = model._checked(model.runtime_predict)  # the path a library without edgekit_monitor_* takes
        calls["python mon"] = (lambda: python_monitor(one), lambda: python_monitor(batch))
    result = {}
    for label, (single_call, batch_call) in calls.items():
        result[label] = {"single_row_us": statistics.median(timings(single_call, single, calls_per_sample=SINGLE_GROUP)),
                         "batch_us": statistics.median(timings(batch_call, batches))}
    print(json.dumps(result))


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "--worker":
        worker(Path(sys.argv[2]), Path(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5]))
        return
    args = arguments(__doc__.splitlines()[0], "fewer rounds and repeats")
    rounds, single, batches = (3, 30, 30) if args.quick else (7, 100, 200)
    from edgekit import compile_bundle, train_bundle

    with scratch() as work:
        systems: dict[str, tuple[Path, Path]] = {}
        facts = {}
        for name, (data, family, params, targets) in MODELS.items():
            bundle = train_bundle(data or classification_table(work), work / name, family=family, name=name, params=params)
            rows = np.asarray(bundle.reference()["test_X"], dtype=np.float32)
            rows_file = work / f"{name}-rows.npy"
            np.save(rows_file, np.ascontiguousarray(rows[np.random.default_rng(0).integers(0, len(rows), BATCH_ROWS)]))
            facts[name] = {"family": family, "features": rows.shape[1]}
            for target in targets:
                systems[f"{name} {target}"] = (compile_bundle(bundle.path, target, work / f"{name}-{target}").path, rows_file)
        names = list(systems)
        samples: dict[str, list[dict]] = {system: [] for system in names}
        environment = {**os.environ, **ONE_THREAD}
        for number in range(rounds):
            for system in names[number % len(names):] + names[:number % len(names)]:
                path, rows_file = systems[system]
                done = subprocess.run([sys.executable, __file__, "--worker", str(path), str(rows_file), str(single), str(batches)],
                                      capture_output=True, text=True, env=environment, check=True)
                samples[system].append(json.loads(done.stdout.strip().splitlines()[-1]))
            print(f"round {number + 1}/{rounds}", flush=True)
    results = []
    for system, entries in samples.items():
        name, target = system.split(" ")
        labels = {label: {key: statistics.median(entry[label][key] for entry in entries) for key in ("single_row_us", "batch_us")}
                  for label in entries[0]}
        runtime, harness = labels["runtime"], labels["harness"]
        entry = {"model": name, **facts[name], "target": target, "rounds": rounds, "calls": labels,
                 "single_row_overhead_us": harness["single_row_us"] - runtime["single_row_us"],
                 "batch_overhead_pct": 100 * (harness["batch_us"] / runtime["batch_us"] - 1)}
        if "python mon" in labels:
            entry["python_monitor_single_row_overhead_us"] = labels["python mon"]["single_row_us"] - runtime["single_row_us"]
            entry["python_monitor_batch_overhead_pct"] = 100 * (labels["python mon"]["batch_us"] / runtime["batch_us"] - 1)
        results.append(entry)
    print(write_results(args.out, "bench_harness_quick" if args.quick else "bench_harness", results, markdown).read_text())


def markdown(results: list[dict], machine: dict) -> str:
    lines = [
        "# The device harness's overhead per call",
        "",
        (f"{machine_line(machine)}. One thread; a fresh process per artifact per round, interleaved rounds "
         f"({results[0]['rounds']}), medians. Single row: groups of {SINGLE_GROUP} calls per clock reading (amortised); "
         f"batch: {BATCH_ROWS} rows. bare = the runtime called directly; runtime = edgekit_runtime's predictor "
         "without input checks; harness = load(...).predict (C artifacts: the monitor counted in C); python mon = the "
         "same C artifact through the Python monitor (what a library built before edgekit_monitor.c gets). "
         "Overhead = harness - runtime."),
        "",
        ("| model | artifact | bare µs | runtime µs | harness µs | overhead µs | python mon overhead µs | "
         "runtime batch µs | harness batch µs | batch overhead | python mon batch overhead |"),
        "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for entry in results:
        calls = entry["calls"]
        python_single = entry.get("python_monitor_single_row_overhead_us")
        python_batch = entry.get("python_monitor_batch_overhead_pct")
        lines.append(
            f"| {entry['model']} ({entry['features']} features) | {entry['target']} | {calls['bare']['single_row_us']:.2f} | "
            f"{calls['runtime']['single_row_us']:.2f} | {calls['harness']['single_row_us']:.2f} | "
            f"{entry['single_row_overhead_us']:+.2f} | {'' if python_single is None else f'{python_single:+.2f}'} | "
            f"{calls['runtime']['batch_us']:.1f} | {calls['harness']['batch_us']:.1f} | {entry['batch_overhead_pct']:+.1f} % | "
            f"{'' if python_batch is None else f'{python_batch:+.1f} %'} |"
        )
    lines.append("")
    return "\n".join(lines)


if __name__ == "__main__":
    main()
