"""The device harness's overhead per call: edgekit_runtime.load(...).predict next to the bare
runtime call on the same artifact, side by side in one run.

  bare      the runtime used directly, as an app without edgekit would: onnxruntime's
            session.run, a ctypes call of edgekit_predict with preallocated buffers, LiteRT's
            set_tensor/invoke/get_tensor on a ready interpreter
  runtime   edgekit_runtime's predictor without input checks (model.runtime_predict)
  harness   model.predict: shape/dtype checks, the schema's input counters, then the predictor

Models: XGBoost 100x6 on bench_c's 30-feature table, and the digits MLP (64 features). One thread;
single row: median of groups of 20 calls; batch: 10 000 rows, median.

    .venv/bin/python benchmarks/bench_harness.py [--out benchmarks/results] [--quick]
"""

from __future__ import annotations

import ctypes
import statistics
from pathlib import Path

import numpy as np
from bench_c import run_on_xgb_and_mlp
from timing import machine_line, timings

BATCH_ROWS = 10_000
TARGETS = ("onnx", "c", "tflite")


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


def measure(name: str, bundle, work: Path, single: int, batches: int) -> dict:
    from edgekit_runtime import load

    from edgekit import compile_bundle

    rows = np.ascontiguousarray(bundle.reference()["test_X"], dtype=np.float32)
    one = rows[:1].copy()
    batch = np.ascontiguousarray(rows[np.random.default_rng(0).integers(0, len(rows), BATCH_ROWS)])
    result = {"model": name, "family": bundle.info.family, "features": rows.shape[1], "artifacts": {}}
    for target in TARGETS:
        artifact = compile_bundle(bundle.path, target, work / f"{name}-{target}")
        model = load(artifact.path, threads=1)
        calls = {
            "bare": (bare_call(artifact, one), bare_call(artifact, batch)),
            "runtime": (lambda m=model: m.runtime_predict(one), lambda m=model: m.runtime_predict(batch)),
            "harness": (lambda m=model: m.predict(one), lambda m=model: m.predict(batch)),
        }
        entry = {}
        for label, (single_call, batch_call) in calls.items():
            entry[label] = {"single_row_us": statistics.median(timings(single_call, single, calls_per_sample=20)),
                            "batch_ms": statistics.median(timings(batch_call, batches)) / 1e3}
        entry["single_row_ratio"] = entry["harness"]["single_row_us"] / entry["bare"]["single_row_us"]
        entry["single_row_overhead_us"] = entry["harness"]["single_row_us"] - entry["bare"]["single_row_us"]
        entry["batch_ratio"] = entry["harness"]["batch_ms"] / entry["bare"]["batch_ms"]
        result["artifacts"][target] = entry
    return result


def markdown(results: list[dict], machine: dict) -> str:
    lines = [
        "# The device harness's overhead per call",
        "",
        (f"{machine_line(machine)}. One thread; single row: "
         f"median of groups of 20 calls; batch: {BATCH_ROWS} rows, median. bare = the runtime called directly; runtime = "
         "edgekit_runtime's predictor without input checks; harness = load(...).predict with the schema checks."),
        "",
    ]
    for result in results:
        lines += [
            f"## {result['model']} ({result['family']}, {result['features']} features)",
            "",
            "| artifact | bare µs | runtime µs | harness µs | harness / bare | overhead µs | bare batch ms | harness batch ms | batch ratio |",
            "|---|---:|---:|---:|---:|---:|---:|---:|---:|",
        ]
        for target, entry in result["artifacts"].items():
            lines.append(
                f"| {target} | {entry['bare']['single_row_us']:.2f} | {entry['runtime']['single_row_us']:.2f} | "
                f"{entry['harness']['single_row_us']:.2f} | {entry['single_row_ratio']:.2f} | {entry['single_row_overhead_us']:.2f} | "
                f"{entry['bare']['batch_ms']:.2f} | {entry['harness']['batch_ms']:.2f} | {entry['batch_ratio']:.2f} |"
            )
        lines.append("")
    return "\n".join(lines)


def main() -> None:
    run_on_xgb_and_mlp(__doc__.splitlines()[0], "bench_harness", measure, markdown)


if __name__ == "__main__":
    main()
