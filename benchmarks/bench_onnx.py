"""ONNX artifacts vs. the original models, side by side in one run.

For XGBoost (100 trees, depth 6, 30 features: breast-cancer), a random forest (same data) and an MLP
(digits): single-row and batch (10 000 rows) latency through edgekit's loader vs. the model's own
predict, artifact size vs. the native model file, and for the MLP fp32 vs. fp16 vs. int8 size,
latency and accuracy. One thread everywhere. Writes JSON and a Markdown table.

    .venv/bin/python benchmarks/bench_onnx.py [--out benchmarks/results] [--quick]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import tempfile
from pathlib import Path

import numpy as np
from timing import single_threaded, timings

BATCH_ROWS = 10_000


def _summary(samples: list[float]) -> dict[str, float]:
    ordered = sorted(samples)
    return {"p50_us": statistics.median(ordered), "p99_us": ordered[int(0.99 * (len(ordered) - 1))]}


def measure(name: str, bundle, artifact_dirs: dict[str, Path], single: int, batches: int) -> dict:
    from edgekit_runtime import load

    reference = bundle.reference()
    rows = reference["test_X"]
    batch = rows[np.random.default_rng(0).integers(0, len(rows), BATCH_ROWS)]
    model = single_threaded(bundle.model)
    own = model.predict_proba if bundle.info.task == "classification" else model.predict
    native_bytes = bundle.info.files[bundle.info.model_file]["size"]
    result = {
        "model": name,
        "family": bundle.info.family,
        "features": len(bundle.info.feature_names),
        "native": {
            "file_bytes": native_bytes,
            "single_row": _summary(timings(lambda: own(rows[:1]), single)),
            "batch_ms": statistics.median(timings(lambda: own(batch), batches)) / 1e3,
        },
        "artifacts": {},
    }
    for target, directory in artifact_dirs.items():
        info = json.loads((directory / "artifact.json").read_text())
        predict = load(directory, threads=1).predict
        outputs = predict(rows)
        accuracy = float(np.mean(outputs.argmax(axis=1) == reference["test_y"])) if outputs.ndim == 2 else None
        entry = {
            "file_bytes": info["resources"]["model_bytes"],
            "size_vs_native": info["resources"]["model_bytes"] / native_bytes,
            "single_row": _summary(timings(lambda predict=predict: predict(rows[:1]), single)),
            "batch_ms": statistics.median(timings(lambda predict=predict: predict(batch), batches)) / 1e3,
            "test_accuracy": accuracy,
            "parity_max_abs_diff": info["parity"]["max_abs_diff"],
        }
        entry["single_row_speedup"] = result["native"]["single_row"]["p50_us"] / entry["single_row"]["p50_us"]
        entry["batch_speedup"] = result["native"]["batch_ms"] / entry["batch_ms"]
        result["artifacts"][target] = entry
    if bundle.info.task == "classification":
        result["native"]["test_accuracy"] = float(np.mean(reference["test_outputs"].argmax(axis=1) == reference["test_y"]))
    return result


def markdown(results: list[dict]) -> str:
    lines = [
        "| model | runtime | size (bytes) | size vs native | 1-row p50 (µs) | 1-row p99 (µs) | 10k-row batch (ms) | speed-up 1-row / batch | test accuracy |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for result in results:
        native = result["native"]
        lines.append(
            f"| {result['model']} | own predict ({result['family']}) | {native['file_bytes']} | 1.00 | "
            f"{native['single_row']['p50_us']:.1f} | {native['single_row']['p99_us']:.1f} | {native['batch_ms']:.2f} | 1.0 / 1.0 | "
            f"{native.get('test_accuracy', float('nan')):.4f} |"
        )
        for target, entry in result["artifacts"].items():
            lines.append(
                f"| {result['model']} | edgekit {target} (ORT) | {entry['file_bytes']} | {entry['size_vs_native']:.2f} | "
                f"{entry['single_row']['p50_us']:.1f} | {entry['single_row']['p99_us']:.1f} | {entry['batch_ms']:.2f} | "
                f"{entry['single_row_speedup']:.1f} / {entry['batch_speedup']:.1f} | {entry['test_accuracy']:.4f} |"
            )
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, default=Path(__file__).parent / "results")
    parser.add_argument("--quick", action="store_true", help="fewer repeats (a smoke run, not a measurement)")
    args = parser.parse_args()
    single, batches = (200, 3) if args.quick else (3000, 20)

    from edgekit import train_bundle
    from edgekit.compile import compile_bundle

    work = Path(tempfile.mkdtemp(prefix="edgekit-bench-"))
    os.environ.setdefault("EDGEKIT_HOME", str(work / "home"))
    plans = [
        ("xgboost-100x6", "bundled:breast-cancer", "xgboost", ["onnx"]),
        ("random-forest", "bundled:breast-cancer", "random-forest", ["onnx"]),
        ("mlp-digits", "bundled:digits", "mlp", ["onnx", "onnx-fp16", "onnx-int8"]),
    ]
    results = []
    for name, data, family, targets in plans:
        bundle = train_bundle(data, work / name, family=family, name=name)
        dirs = {target: compile_bundle(bundle.path, target, work / f"{name}-{target}").path for target in targets}
        results.append(measure(name, bundle, dirs, single, batches))
        print(f"measured {name}", flush=True)

    import onnxruntime
    import sklearn
    import xgboost

    document = {
        "benchmark": "bench_onnx",
        "machine": {"platform": platform.platform(), "processor": platform.processor(), "cpus": os.cpu_count()},
        "versions": {"onnxruntime": onnxruntime.__version__, "scikit-learn": sklearn.__version__, "xgboost": xgboost.__version__},
        "threads": 1,
        "single_row_repeats": single,
        "batch_rows": BATCH_ROWS,
        "batch_repeats": batches,
        "results": results,
    }
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "bench_onnx.json").write_text(json.dumps(document, indent=2))
    table = markdown(results)
    (args.out / "bench_onnx.md").write_text(f"# bench_onnx\n\n{platform.platform()}, 1 thread, medians\n\n{table}")
    print(table)


if __name__ == "__main__":
    main()
