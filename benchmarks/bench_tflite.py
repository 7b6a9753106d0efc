"""TFLite artifacts in LiteRT vs. the same models in ONNX Runtime and as C, side by side in one run.

  mlp-digits  scikit-learn MLP on bundled:digits: tflite (fp32) and tflite-int8 (float I/O, int8
              I/O, int8 I/O with per-layer scales) vs. onnx and onnx-int8: file size, test
              accuracy, single-row and batch latency (int8 I/O: including the encoding in numpy)
  xgb-100x6   XGBoost, 100 trees, depth 6, on bench_c's 30-feature table: tflite (the gather walk
              in stock LiteRT) vs. onnx (ONNX Runtime's TreeEnsemble) vs. the C table layout

Every predictor goes through edgekit_runtime's loader on one thread (LiteRT with its default
XNNPACK delegate), each in a fresh process per round, in interleaved rounds (all of a model's
artifacts once per round, the order rotating); a figure is the median over rounds. Single row:
one row per call cycling through 256 test rows, groups of 20 calls per clock reading; batch: 10 000 rows.

    .venv/bin/python benchmarks/bench_tflite.py [--out benchmarks/results] [--quick]
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
from bench_c import run_on_xgb_and_mlp
from timing import interleaved_rounds, machine_line, medians, time_predict

BATCH_ROWS = 10_000
TARGETS = {
    "mlp-digits": {"onnx": ("onnx", {}), "onnx-int8": ("onnx-int8", {}), "tflite": ("tflite", {}),
                   "tflite-int8": ("tflite-int8", {}), "tflite-int8 io=int8": ("tflite-int8", {"io": "int8"}),
                   "tflite-int8 io=int8 per-layer": ("tflite-int8", {"io": "int8", "per-channel": "false"})},
    "xgb-100x6": {"onnx": ("onnx", {}), "c-table": ("c", {"layout": "table"}), "tflite": ("tflite", {})},
}


def measure(name: str, bundle, work: Path, single: int, batches: int) -> dict:
    from edgekit_runtime import load

    from edgekit import compile_bundle

    reference = bundle.reference()
    rows = np.ascontiguousarray(reference["test_X"], dtype=np.float32)
    batch = rows[np.random.default_rng(0).integers(0, len(rows), BATCH_ROWS)]
    np.save(work / f"{name}-batch.npy", batch)
    classes = np.asarray(bundle.info.classes)
    result = {"model": name, "family": bundle.info.family, "artifacts": {}}
    jobs = {}
    for label, (target, options) in TARGETS[name].items():
        artifact = compile_bundle(bundle.path, target, work / f"{name}-{label}".replace(" ", "-"), options=options)
        got = load(artifact.path, threads=1).predict(rows)
        result["artifacts"][label] = {
            "file_bytes": artifact.info.resources["model_bytes"],
            "test_accuracy": float(np.mean(classes[got.argmax(axis=1)] == reference["test_y"])),
            "label_agreement": float(np.mean(got.argmax(axis=1) == reference["test_outputs"].argmax(axis=1))),
            "compile_seconds": artifact.info.compile_seconds,
        }
        jobs[label] = [str(artifact.path), str(work / f"{name}-batch.npy"), str(single), str(batches)]
    rounds = 5 if single >= 1000 else 3  # --quick: 3
    for label, run in medians(interleaved_rounds(__file__, jobs, rounds, f"{name}: ")).items():
        result["artifacts"][label].update(run)
    result["rounds"] = rounds
    return result


def worker(directory: Path, batch: Path, single: int, batches: int) -> None:
    from edgekit_runtime import load

    time_predict(load(directory, threads=1).predict, np.load(batch), single, batches)


def markdown(results: list[dict], machine: dict) -> str:
    lines = [
        "# TFLite artifacts in LiteRT vs. ONNX Runtime and C",
        "",
        (f"{machine_line(machine)}, ai-edge-litert "
         f"{machine['litert']}. One thread everywhere; each artifact timed in a fresh process per round, in interleaved "
         f"rounds ({results[0]['rounds']}), medians; batch = {BATCH_ROWS} rows; single row: one row per call cycling through 256 test rows, groups of 20 calls."),
        "",
        ("`io=int8` times include edgekit_runtime encoding float rows to int8 and decoding the result in numpy "
         "(~6 µs of per-call overhead for one row); an app feeding int8 itself does not pay it."),
        "",
    ]
    for result in results:
        artifacts = result["artifacts"]
        base = artifacts["tflite"]
        lines += [
            f"## {result['model']} ({result['family']})",
            "",
            "| artifact | file bytes | vs tflite size | test accuracy | label agreement | single row µs | batch ms | compile s |",
            "|---|---:|---:|---:|---:|---:|---:|---:|",
        ]
        for label, entry in artifacts.items():
            lines.append(
                f"| {label} | {entry['file_bytes']:,} | {entry['file_bytes'] / base['file_bytes']:.2f} | "
                f"{entry['test_accuracy']:.4f} | {entry['label_agreement']:.4f} | {entry['single_row_us']:.2f} | "
                f"{entry['batch_ms']:.2f} | {entry['compile_seconds']:.2f} |"
            )
        lines.append("")
    return "\n".join(lines)


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "--worker":
        worker(Path(sys.argv[2]), Path(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5]))
        return
    from importlib import metadata

    run_on_xgb_and_mlp(__doc__.splitlines()[0], "bench_tflite", measure, markdown, litert=metadata.version("ai-edge-litert"))


if __name__ == "__main__":
    main()
