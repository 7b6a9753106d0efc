"""The table layout's scalar block size (EDGEKIT_BLOCK: rows walked in lock step by a batch, trees
by a single row) measured on the machine this runs on: the figures behind the toolchain table's
choice for its triple.

For XGBoost 100x6 and 1000x8 (the 30-feature table of bench_c.py) the generated C is built with
the host gcc and the host triple's flags for each block size, with the SIMD kernels off
(EDGEKIT_TREE_LANES=0: the block matters where they do not run), and a C driver times, at the C
level, a 10 000-row batch and the same rows looped through the single-row call — the batch entry
point must never be slower. Block sizes are timed in interleaved rounds; a figure is the median
over rounds of each round's best of several calls. Run it on the device (any Linux with gcc) to
tune its triple:

    .venv/bin/python benchmarks/tune_tree_block.py [--out benchmarks/results] [--quick]
"""

from __future__ import annotations

import dataclasses
import statistics
import subprocess
from pathlib import Path

import numpy as np
from bench_c import MODELS, classification_table
from timing import arguments, machine_line, scratch, write_results

BLOCKS = (1, 4, 8, 12, 16, 24)
ROWS = 10_000
DRIVER = r"""
#define _POSIX_C_SOURCE 199309L
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include "edgekit_model.h"
static double now(void) { struct timespec t; clock_gettime(CLOCK_MONOTONIC, &t); return t.tv_sec * 1e9 + t.tv_nsec; }
int main(int argc, char **argv) {
    if (argc < 3) return 2;
    const size_t n = %d, nf = edgekit_num_features, no = edgekit_num_outputs;
    float *rows = malloc(n * nf * sizeof(float)), *out = malloc(n * no * sizeof(float));
    FILE *file = fopen(argv[1], "rb");
    if (!file || fread(rows, sizeof(float), n * nf, file) != n * nf) return 2;
    fclose(file);
    double batch = 1e300, single = 1e300;
    for (int repeat = 0; repeat < atoi(argv[2]); ++repeat) {
        double started = now();
        edgekit_predict_batch(rows, n, out);
        double middle = now();
        for (size_t r = 0; r < n; ++r) edgekit_predict(rows + r * nf, out + r * no);
        double ended = now();
        if (middle - started < batch) batch = middle - started;
        if (ended - middle < single) single = ended - middle;
    }
    printf("%%.3f %%.3f\n", batch / n, single / n);
    return 0;
}
"""


def build(source: str, block: int, work: Path) -> Path:
    from edgekit.compile.c.toolchains import C_RUNTIME_DIRECTORY, HOST_TRIPLE, WARNINGS, toolchain_for

    toolchain = toolchain_for(HOST_TRIPLE)
    defines = [flag for flag in toolchain.defines if not flag.startswith("-DEDGEKIT_BLOCK=")]
    toolchain = dataclasses.replace(toolchain, defines=(*defines, f"-DEDGEKIT_BLOCK={block}u", "-DEDGEKIT_TREE_LANES=0u"))
    work.mkdir(parents=True, exist_ok=True)
    (work / "model.c").write_text(source)
    (work / "driver.c").write_text(DRIVER % ROWS)
    program = work / "driver"
    subprocess.run([toolchain.compiler, *WARNINGS, toolchain.optimization, *toolchain.arch_flags, *toolchain.defines,
                    f"-I{C_RUNTIME_DIRECTORY}", str(work / "driver.c"), str(work / "model.c"), "-o", str(program), "-lm"], check=True)
    return program


def main() -> None:
    args = arguments(__doc__.splitlines()[0], "three rounds, the 100x6 model only")
    rounds, repeats = (3, 3) if args.quick else (7, 5)
    from edgekit import train_bundle
    from edgekit.compile.c.table import table_source
    from edgekit.compile.c.toolchains import HOST_TRIPLE, toolchain_for
    from edgekit.compile.trees.tables import bundle_trees

    results = []
    with scratch() as work:
        data = classification_table(work)
        for name in ("xgb-100x6",) if args.quick else ("xgb-100x6", "xgb-1000x8"):
            family, params = MODELS[name]
            bundle = train_bundle(data, work / name, family=family, name=name, params=params)
            rows = np.asarray(bundle.reference()["test_X"], dtype=np.float32)
            rows[np.random.default_rng(0).integers(0, len(rows), ROWS)].tofile(work / f"{name}.bin")
            source = table_source(bundle_trees(bundle).tables, bundle.info.content_hash, name)
            programs = {block: build(source, block, work / f"{name}-{block}") for block in BLOCKS}
            samples: dict[int, list[tuple[float, float]]] = {block: [] for block in BLOCKS}
            for number in range(rounds):
                for block in BLOCKS[number % len(BLOCKS):] + BLOCKS[:number % len(BLOCKS)]:
                    done = subprocess.run([str(programs[block]), str(work / f"{name}.bin"), str(repeats)],
                                          capture_output=True, text=True, check=True)
                    batch, single = map(float, done.stdout.split())
                    samples[block].append((batch, single))
            runs = {str(block): {"batch_ns_per_row": statistics.median(s[0] for s in entries),
                                 "single_loop_ns_per_row": statistics.median(s[1] for s in entries)}
                    for block, entries in samples.items()}
            best = min(runs, key=lambda block: runs[block]["batch_ns_per_row"])
            results.append({"model": name, "form": source.splitlines()[0].split(": table layout (")[1].split(")")[0],
                            "rounds": rounds, "runs": runs, "fastest_batch_block": int(best),
                            "toolchain_block": next(int(flag.split("=")[1].rstrip("u")) for flag in toolchain_for(HOST_TRIPLE).defines
                                                    if flag.startswith("-DEDGEKIT_BLOCK="))})
            written = write_results(args.out, "tune_tree_block_quick" if args.quick else "tune_tree_block", results, markdown,
                                    triple=HOST_TRIPLE)
    print(written.read_text())


def markdown(results: list[dict], machine: dict) -> str:
    lines = [
        f"# The table layout's scalar block size on {machine['triple']}",
        "",
        (f"{machine_line(machine)}. C level, one thread, SIMD kernels off; {ROWS} rows; medians over interleaved "
         "rounds of each round's best call. Batch = edgekit_predict_batch; single loop = the same rows through "
         "edgekit_predict one by one."),
        "",
    ]
    for result in results:
        lines += [
            f"## {result['model']} ({result['form']})",
            "",
            (f"Fastest batch: block {result['fastest_batch_block']}; the toolchain table's block for this triple: "
             f"{result['toolchain_block']}."),
            "",
            "| block | batch ns/row | single-row loop ns/row | batch / loop |",
            "|---:|---:|---:|---:|",
        ]
        for block, run in result["runs"].items():
            lines.append(f"| {block} | {run['batch_ns_per_row']:.0f} | {run['single_loop_ns_per_row']:.0f} | "
                         f"{run['batch_ns_per_row'] / run['single_loop_ns_per_row']:.2f} |")
        lines.append("")
    return "\n".join(lines)


if __name__ == "__main__":
    main()
