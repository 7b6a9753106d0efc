"""How big and how slow TL2cgen's if-else C gets, against the node counts edgekit's tree tables give.

The figures behind ``IFELSE_MAX_SOURCE_MB`` (edgekit/compile/c/ifelse.py): for random forests and
XGBoost models of growing size and class count (edgekit-trained on a synthetic table), the tree
tables' node counts, edgekit's size estimate from them, the source TL2cgen actually writes (with the
branch annotation a compile uses), TL2cgen's time and the host gcc's time (-O3, two jobs, as
``compile --target c --layout ifelse`` runs it). A least-squares fit of bytes on (split nodes,
leaf values) checks the estimate's coefficients; seconds per MB of source gives the time scale.

    .venv/bin/python benchmarks/bench_ifelse_size.py [--out benchmarks/results] [--quick]
"""

from __future__ import annotations

import shutil
import time
from pathlib import Path

import numpy as np
from timing import arguments, machine_line, scratch, write_results

# name: (family, classes, trees, max depth)
MODELS = {
    "rf-2c-20x8": ("random-forest", 2, 20, 8),
    "rf-5c-20x8": ("random-forest", 5, 20, 8),
    "rf-20c-10x8": ("random-forest", 20, 10, 8),
    "rf-20c-20x10": ("random-forest", 20, 20, 10),
    "xgb-2c-100x6": ("xgboost", 2, 100, 6),
    "xgb-5c-100x6": ("xgboost", 5, 100, 6),
    "xgb-2c-300x8": ("xgboost", 2, 300, 8),
}
QUICK = ("rf-2c-20x8", "rf-20c-10x8", "xgb-2c-100x6")
ROWS = 4000


def data(classes: int) -> tuple[np.ndarray, np.ndarray]:
    from sklearn.datasets import make_classification

    return make_classification(n_samples=ROWS, n_features=20, n_informative=12, n_classes=classes,
                               n_clusters_per_class=1, random_state=0)


def measure(name: str, family: str, classes: int, trees: int, depth: int, work: Path) -> dict:
    from edgekit import train_bundle
    from edgekit.bundle import ModelBundle
    from edgekit.compile.c.ifelse import TL2CGEN_WARNINGS, estimate_ifelse_source_bytes, ifelse_sources
    from edgekit.compile.c.toolchains import HOST_TRIPLE, compile_objects, toolchain_for
    from edgekit.compile.trees.tables import LEAF, bundle_trees

    bundle = train_bundle(data(classes), work / name, family=family, name=name,
                          params={"n_estimators": str(trees), "max_depth": str(depth)})
    bundle = ModelBundle.load(bundle.path)
    converted = bundle_trees(bundle)
    tables = converted.tables
    split_nodes = int(np.count_nonzero(tables.feature != LEAF))
    leaves = tables.num_nodes - split_nodes
    source_dir = work / f"{name}-src" / "src"
    source_dir.mkdir(parents=True)
    started = time.perf_counter()
    sources = ifelse_sources(converted.treelite, tables, converted.fill, bundle.info.content_hash, source_dir,
                             quantize=False, annotation_rows=bundle.reference()["X"])
    generate_seconds = time.perf_counter() - started
    source_bytes = sum(path.stat().st_size for path in source_dir.iterdir())
    started = time.perf_counter()
    compile_objects(toolchain_for(HOST_TRIPLE), sources, work / f"{name}-build", TL2CGEN_WARNINGS)
    gcc_seconds = time.perf_counter() - started
    shutil.rmtree(work / f"{name}-src")
    shutil.rmtree(work / f"{name}-build")
    return {
        "model": name, "family": family, "classes": classes, "trees": tables.num_trees,
        "nodes": tables.num_nodes, "split_nodes": split_nodes, "leaves": leaves, "leaf_width": tables.leaf_width,
        "leaf_values": leaves * tables.leaf_width, "estimated_bytes": estimate_ifelse_source_bytes(tables),
        "source_bytes": source_bytes, "generate_seconds": round(generate_seconds, 2), "gcc_seconds": round(gcc_seconds, 2),
    }


def fit(results: list[dict]) -> dict:
    """bytes ~ a * split nodes + b * leaf values (least squares), and gcc seconds per MB."""
    design = np.array([[r["split_nodes"], r["leaf_values"]] for r in results], dtype=np.float64)
    target = np.array([r["source_bytes"] for r in results], dtype=np.float64)
    (per_split, per_leaf_value), *_ = np.linalg.lstsq(design, target, rcond=None)
    megabytes = target / 1e6
    seconds = np.array([r["gcc_seconds"] + r["generate_seconds"] for r in results])
    return {"bytes_per_split_node": round(float(per_split), 1), "bytes_per_leaf_value": round(float(per_leaf_value), 1),
            "seconds_per_mb": round(float(seconds.sum() / megabytes.sum()), 2)}


def markdown(results: list[dict], machine: dict) -> str:
    summary = fit(results)
    lines = [
        "# TL2cgen if-else C: source size and build time against node counts",
        "",
        f"{machine_line(machine)}. gcc -O3, two jobs; TL2cgen with branch annotation, one translation unit per 50 trees.",
        "",
        "| model | trees | split nodes | leaves x width | estimated MB | source MB | estimate / source | TL2cgen s | gcc s |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in results:
        lines.append(
            f"| {r['model']} | {r['trees']} | {r['split_nodes']:,} | {r['leaves']:,} x {r['leaf_width']} | "
            f"{r['estimated_bytes'] / 1e6:.2f} | {r['source_bytes'] / 1e6:.2f} | {r['estimated_bytes'] / r['source_bytes']:.2f} | "
            f"{r['generate_seconds']:.2f} | {r['gcc_seconds']:.2f} |"
        )
    lines += ["", (f"Least squares: {summary['bytes_per_split_node']} bytes per split node, "
                   f"{summary['bytes_per_leaf_value']} bytes per leaf value; "
                   f"{summary['seconds_per_mb']} s (TL2cgen + gcc) per MB of source."), ""]
    return "\n".join(lines)


def main() -> None:
    args = arguments(__doc__.splitlines()[0], f"only {', '.join(QUICK)}")
    with scratch() as work:
        results = []
        for name, (family, classes, trees, depth) in MODELS.items():
            if args.quick and name not in QUICK:
                continue
            results.append(measure(name, family, classes, trees, depth, work))
            print(f"measured {name}: {results[-1]}", flush=True)
            written = write_results(args.out, "bench_ifelse_size_quick" if args.quick else "bench_ifelse_size",
                                    results, markdown)
    print(written.read_text())


if __name__ == "__main__":
    main()
