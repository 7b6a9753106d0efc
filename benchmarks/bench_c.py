"""C artifacts vs. the tools a user would otherwise pick, side by side in one run.

Models (trained by edgekit on one 30-feature, 20 000-row classification table):
  xgb-100x6   XGBoost, 100 trees, depth 6
  xgb-1000x8  XGBoost, 1000 trees, depth 8, learning rate 0.1
  rf-500      scikit-learn random forest, 500 trees (depth <= 10)

For each: batch (10 000 rows) and single-row latency, one thread everywhere, of
  - edgekit's C artifact through edgekit_runtime's loader (table layout float32 and int16, ifelse layout),
  - the model's own predict (XGBoost ``inplace_predict``; scikit-learn ``predict_proba``),
  - ONNX Runtime's TreeEnsemble (edgekit's onnx artifact through the same loader),
  - TL2cgen's own Predictor (its shared library for the same Treelite model);
flash bytes per layout / quantization (x86-64 and Cortex-M4F objects) vs. the ONNX file and the native
model file; compile time per layout; label agreement on the test split. JSON plus a Markdown table.

    .venv/bin/python benchmarks/bench_c.py [--out benchmarks/results] [--quick]
"""

from __future__ import annotations

import json
import statistics
import time
from pathlib import Path

import numpy as np
from timing import arguments, machine_line, scratch, single_threaded, timings, write_results

BATCH_ROWS = 10_000
MODELS = {
    "xgb-100x6": ("xgboost", {"n_estimators": "100", "max_depth": "6"}),
    "xgb-1000x8": ("xgboost", {"n_estimators": "1000", "max_depth": "8", "learning_rate": "0.1"}),
    "rf-500": ("random-forest", {"n_estimators": "500"}),
}
# (artifact name, compile options)
C_VARIANTS = {
    "c-table": {"layout": "table"},
    "c-table-int16": {"layout": "table", "quantize": "int16"},
    "c-ifelse": {"layout": "ifelse"},
}


def _latency(predict, rows: np.ndarray, batch: np.ndarray, single: int, batches: int) -> dict[str, float]:
    one = rows[:1].copy()
    single_us = statistics.median(timings(lambda: predict(one), single, calls_per_sample=20))
    batch_ms = statistics.median(timings(lambda: predict(batch), batches)) / 1e3
    return {"single_row_us": single_us, "batch_ms": batch_ms, "batch_rows_per_s": BATCH_ROWS / (batch_ms / 1e3)}


def classification_table(work: Path) -> str:
    """The 30-feature, 20 000-row table every tree model here is trained on (a CSV in work)."""
    from sklearn.datasets import make_classification

    X, y = make_classification(n_samples=20_000, n_features=30, n_informative=18, n_redundant=6, random_state=0)
    path = work / "table30.csv"
    header = ",".join([f"f{i}" for i in range(30)] + ["label"])
    np.savetxt(path, np.column_stack([X, y]), delimiter=",", header=header, comments="", fmt="%.7g")
    return str(path)


def xgb_and_mlp_bundles(work: Path) -> dict:
    """The two bundles bench_tflite and bench_harness compare runtimes on: XGBoost 100x6 on the
    30-feature table, and the scikit-learn MLP on bundled:digits."""
    from edgekit import train_bundle

    family, params = MODELS["xgb-100x6"]
    return {
        "xgb-100x6": train_bundle(classification_table(work), work / "xgb", family=family, name="xgb-100x6", params=params),
        "mlp-digits": train_bundle("bundled:digits", work / "mlp", family="mlp", name="mlp-digits"),
    }


def run_on_xgb_and_mlp(description: str, stem: str, measure, markdown, **machine: str) -> None:
    """The whole run of a benchmark over xgb_and_mlp_bundles: its command line, ``measure(name,
    bundle, work, single, batches)`` per bundle, results written and printed."""
    args = arguments(description, "fewer repeats")
    single, batches = (100, 5) if args.quick else (1000, 20)
    with scratch() as work:
        results = [measure(name, bundle, work, single, batches) for name, bundle in xgb_and_mlp_bundles(work).items()]
    print(write_results(args.out, f"{stem}_quick" if args.quick else stem, results, markdown, **machine).read_text())


def _tl2cgen_predictor(bundle, work: Path):
    import tl2cgen

    from edgekit.compile.trees.tables import treelite_model

    model, fill = treelite_model(bundle.model, bundle.info.family)
    library = work / f"{bundle.info.name}-tl2cgen.so"
    started = time.perf_counter()
    tl2cgen.export_lib(model, toolchain="gcc", libpath=str(library), params={"parallel_comp": max(1, model.num_tree // 50)}, nthread=2)
    seconds = time.perf_counter() - started
    predictor = tl2cgen.Predictor(str(library), nthread=1)

    def predict(rows: np.ndarray) -> np.ndarray:
        if fill is not None:
            rows = np.where(np.isnan(rows), fill.astype(np.float32), rows)
        return predictor.predict(tl2cgen.DMatrix(rows, dtype="float32"))

    return predict, seconds


def _flash(directory: Path, triple: str) -> int:
    return json.loads((directory / "artifact.json").read_text())["resources"][triple]["flash_bytes"]


def measure(name: str, bundle, work: Path, single: int, batches: int, quick: bool) -> dict:
    from edgekit_runtime import load

    from edgekit import compile_bundle
    from edgekit.errors import BadInput

    reference = bundle.reference()
    rows = np.ascontiguousarray(reference["test_X"], dtype=np.float32)
    batch = rows[np.random.default_rng(0).integers(0, len(rows), BATCH_ROWS)]
    expected = reference["test_outputs"].argmax(axis=1)
    native_bytes = bundle.info.files[bundle.info.model_file]["size"]
    result: dict = {"model": name, "family": bundle.info.family, "native_file_bytes": native_bytes, "runs": {}, "artifacts": {}}

    model = bundle.model
    if bundle.info.family == "xgboost":
        booster = model.get_booster()
        booster.set_param({"nthread": 1})
        own = lambda X: booster.inplace_predict(X)
        result["runs"]["xgboost inplace_predict"] = _latency(own, rows, batch, single, batches)
    else:
        single_threaded(model)
        result["runs"]["scikit-learn predict_proba"] = _latency(model.predict_proba, rows, batch, single, batches)

    variants = {"onnx": ("onnx", {}), **{key: ("c", value) for key, value in C_VARIANTS.items()}}
    if quick:
        variants.pop("c-ifelse")
    for label, (target, options) in variants.items():
        directory = work / f"{name}-{label}"
        if label == "c-ifelse":  # measured on purpose: past edgekit's if-else limit for the larger models
            options = {**options, "ifelse-max-mb": "1000"}
        artifact = compile_bundle(bundle.path, target, directory, options=options)
        info = artifact.info
        predict = load(directory, threads=1).predict
        got = predict(rows)
        entry = {
            "compile_seconds": info.compile_seconds,
            "file_bytes": info.resources["model_bytes"],
            "label_agreement": float(np.mean(got.argmax(axis=1) == expected)),
            "certified_max_abs_diff": info.parity["max_abs_diff"],
        }
        if target == "c":
            entry["flash_bytes_x86_64"] = _flash(directory, "x86_64-linux-gnu")
            if label != "c-ifelse" or name == "xgb-100x6":  # big if-else code does not fit a microcontroller
                try:
                    m4 = compile_bundle(bundle.path, "c", work / f"{name}-{label}-m4f", options={**options, "triple": "cortex-m4f"})
                except BadInput as exc:  # edgekit refuses a model no known microcontroller can hold
                    entry["cortex_m4f_refused"] = exc.message
                else:
                    entry["flash_bytes_cortex_m4f"] = _flash(m4.path, "cortex-m4f")
                    entry["ram_bytes_cortex_m4f"] = m4.info.resources["cortex-m4f"]["ram_bytes"]
        result["artifacts"][label] = entry
        result["runs"][f"edgekit {label}"] = _latency(predict, rows, batch, single, batches)

    tl2cgen_predict, tl2cgen_seconds = _tl2cgen_predictor(bundle, work)
    result["runs"]["tl2cgen Predictor"] = _latency(tl2cgen_predict, rows, batch, single, batches)
    result["tl2cgen_export_seconds"] = tl2cgen_seconds

    runs = result["runs"]
    table = runs["edgekit c-table"]
    for anchor in runs:
        runs[anchor]["batch_speedup_of_c_table"] = table["batch_rows_per_s"] / runs[anchor]["batch_rows_per_s"]
        runs[anchor]["single_row_ratio_of_c_table"] = table["single_row_us"] / runs[anchor]["single_row_us"]
    onnx_bytes = result["artifacts"]["onnx"]["file_bytes"]
    for entry in result["artifacts"].values():
        if "flash_bytes_cortex_m4f" in entry:
            entry["cortex_m4f_flash_vs_onnx_file"] = entry["flash_bytes_cortex_m4f"] / onnx_bytes
    return result


def markdown(results: list[dict], machine: dict) -> str:
    lines = [
        "# C artifacts vs. XGBoost, ONNX Runtime and TL2cgen",
        "",
        (f"{machine_line(machine)}. One thread everywhere; "
         f"batch = {BATCH_ROWS} rows; medians (single row: of groups of 20 calls, so the clock is not timed too)."),
        "",
    ]
    for result in results:
        lines += [
            f"## {result['model']} ({result['family']})",
            "",
            "| predictor | batch ms | rows/s | single row µs | c-table batch speed-up | c-table single-row time ratio |",
            "|---|---:|---:|---:|---:|---:|",
        ]
        for name, run in result["runs"].items():
            lines.append(
                f"| {name} | {run['batch_ms']:.2f} | {run['batch_rows_per_s']:,.0f} | {run['single_row_us']:.2f} | "
                f"{run['batch_speedup_of_c_table']:.2f}× | {run['single_row_ratio_of_c_table']:.3f} |"
            )
        lines += [
            "",
            "| artifact | compile s | file bytes | x86-64 flash | Cortex-M4F flash | vs ONNX file | test label agreement |",
            "|---|---:|---:|---:|---:|---:|---:|",
        ]
        for name, entry in result["artifacts"].items():
            ratio = entry.get("cortex_m4f_flash_vs_onnx_file")
            lines.append(
                f"| {name} | {entry['compile_seconds']:.2f} | {entry['file_bytes']:,} | {entry.get('flash_bytes_x86_64', '—')} | "
                f"{entry.get('flash_bytes_cortex_m4f', 'too big' if 'cortex_m4f_refused' in entry else '—')} | "
                f"{'—' if ratio is None else f'{ratio:.3f}'} | "
                f"{entry['label_agreement']:.4f} |"
            )
        lines += ["", (f"Native model file: {result['native_file_bytes']:,} bytes; TL2cgen export_lib: "
                       f"{result['tl2cgen_export_seconds']:.1f} s."), ""]
    return "\n".join(lines)


def main() -> None:
    args = arguments(__doc__.splitlines()[0], "fewer repeats, only the 100x6 model, no ifelse")
    single, batches = (200, 5) if args.quick else (1000, 20)
    from edgekit import train_bundle

    with scratch() as work:
        data = classification_table(work)
        results = []
        for name, (family, params) in MODELS.items():
            if args.quick and name != "xgb-100x6":
                continue
            bundle = train_bundle(data, work / name, family=family, name=name, params=params)
            results.append(measure(name, bundle, work, single, batches, args.quick))
            print(f"measured {name}", flush=True)
            # a partial run still leaves results
            written = write_results(args.out, "bench_c_quick" if args.quick else "bench_c", results, markdown)
    print(written.read_text())


if __name__ == "__main__":
    main()
