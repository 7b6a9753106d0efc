"""The digits MLP (64-64-10) as edgekit's dense C vs. ONNX Runtime on the same bundle, one thread.

Systems: edgekit's C artifact (float32, and int8: int8 weights and activations, int32 dot products
with the best kernel the CPU has, AVX512-VNNI on the development machine) and edgekit's ONNX artifact, each
through edgekit_runtime's loader with threads=1. Every system is timed in a fresh process per round,
in interleaved rounds (all systems once per round, the order rotating); a figure is the median over
rounds of each process's median. Batch = 10 000 rows (test rows drawn with replacement); single
row = one row per call from Python, cycling through 256 test rows (groups of 20 calls per clock
reading).

    .venv/bin/python benchmarks/bench_dense_c.py [--out benchmarks/results] [--quick]

Cortex-M4F: both C builds compiled for the stm32f407 profile (row loop, SMLAD for int8), their
instructions per inference counted under qemu-system-arm (edgekit.bench.emulated: one pass over
the reference rows subtracted from two) and their flash and RAM measured with arm-none-eabi-size.

EDGEKIT_BENCH_EXTRA="name=/path/to/artifact,..." adds already compiled artifacts of the same
bundle layout (for before/after comparisons); they are timed in the same rounds.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import numpy as np
from timing import arguments, interleaved_rounds, machine_line, medians, scratch, time_predict, write_results

BATCH_ROWS = 10_000
SYSTEMS = {"onnxruntime": ("onnx", {}), "c-f32": ("c", {}), "c-int8": ("c", {"quantize": "int8"})}
CORTEX_M4F = "stm32f407"


def worker(directory: Path, batch: Path, single: int, batches: int) -> None:
    from edgekit_runtime import load

    time_predict(load(directory, threads=1).predict, np.load(batch), single, batches)


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "--worker":
        worker(Path(sys.argv[2]), Path(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5]))
        return
    args = arguments(__doc__.splitlines()[0], "fewer rounds and repeats")
    rounds, single, batches = (3, 100, 5) if args.quick else (7, 400, 20)
    from edgekit import compile_bundle, train_bundle

    with scratch() as work:
        bundle = train_bundle("bundled:digits", work / "mlp", family="mlp", name="mlp-digits")
        rows = np.asarray(bundle.reference()["test_X"], dtype=np.float32)
        batch = np.ascontiguousarray(rows[np.random.default_rng(0).integers(0, len(rows), BATCH_ROWS)])
        np.save(work / "batch.npy", batch)
        directories, builds = {}, {}
        for system, (target, options) in SYSTEMS.items():
            artifact = compile_bundle(bundle.path, target, work / system, options=options)
            directories[system] = work / system
            builds[system] = {"certified_max_abs_diff": artifact.info.parity["max_abs_diff"],
                              "file_bytes": artifact.info.resources["model_bytes"]}
        cortex_m4f = microcontroller(bundle, work)
        for item in filter(None, os.environ.get("EDGEKIT_BENCH_EXTRA", "").split(",")):
            name, path = item.split("=", 1)
            directories[name] = Path(path)
        samples = interleaved_rounds(__file__, {name: [str(path), str(work / "batch.npy"), str(single), str(batches)]
                                                for name, path in directories.items()}, rounds)
    runs = {name: {**run, **builds.get(name, {})} for name, run in medians(samples).items()}
    for run in runs.values():
        run["speedup_over_onnxruntime"] = runs["onnxruntime"]["batch_ms"] / run["batch_ms"]
        run["speedup_over_c_f32"] = runs["c-f32"]["batch_ms"] / run["batch_ms"]
    result = {"model": "mlp-digits (64-64-10)", "rounds": rounds, "runs": runs, "cortex_m4f": cortex_m4f}
    print(write_results(args.out, "bench_dense_c_quick" if args.quick else "bench_dense_c", [result], markdown).read_text())


def microcontroller(bundle, work: Path) -> dict:
    """Instructions per inference under qemu-system-arm, flash and RAM, of both C builds on a Cortex-M4F."""
    from edgekit import compile_bundle
    from edgekit.bench.emulated import emulate
    from edgekit.devices.profiles import load_profile

    profile = load_profile(CORTEX_M4F)
    builds = {}
    for system in ("c-f32", "c-int8"):
        artifact = compile_bundle(bundle.path, "c", work / f"{system}-m4", options=SYSTEMS[system][1], device=profile)
        run = emulate(artifact, profile, work / f"{system}-m4-count")
        footprint = artifact.info.resources[profile.c_triple()]
        builds[system] = {"instructions_per_inference": run.instructions_per_inference, "matches_reference": run.matches_reference,
                          "flash_bytes": footprint["flash_bytes"], "ram_bytes": footprint["ram_bytes"]}
    return {"device": CORTEX_M4F, "emulator": run.emulator, "builds": builds}


def markdown(results: list[dict], machine: dict) -> str:
    result = results[0]
    lines = [
        "# Dense C vs. ONNX Runtime: the digits MLP",
        "",
        (f"{machine_line(machine)}. One thread; a fresh process per system per round, {result['rounds']} interleaved "
         f"rounds, medians. Batch = {BATCH_ROWS} rows through edgekit_runtime.load(...).predict."),
        "",
        f"## {result['model']}",
        "",
        "| system | batch ms | speed-up over ONNX Runtime | speed-up over C f32 | single row µs |",
        "|---|---:|---:|---:|---:|",
    ]
    for name, run in result["runs"].items():
        lines.append(f"| {name} | {run['batch_ms']:.2f} | {run['speedup_over_onnxruntime']:.2f}× | "
                     f"{run['speedup_over_c_f32']:.2f}× | {run['single_row_us']:.2f} |")
    m4 = result["cortex_m4f"]
    lines += [
        "",
        f"## Cortex-M4F ({m4['device']} profile), instructions counted under {m4['emulator']}",
        "",
        "| build | instructions per inference | flash bytes | RAM bytes |",
        "|---|---:|---:|---:|",
        *[f"| {name} | {build['instructions_per_inference']:.0f} | {build['flash_bytes']} | {build['ram_bytes']} |"
          for name, build in m4["builds"].items()],
    ]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    main()
