"""``edgekit quickstart``: the end-to-end story on bundled data, as far as edgekit goes today."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from rich.console import Console

from . import reporting
from .compile import compile_bundle
from .training import train_bundle

# (step name, data, family, compile targets): what the quickstart trains and compiles.
STEPS = (
    ("breast-cancer-xgboost", "bundled:breast-cancer", "xgboost", ("onnx",)),
    ("digits-mlp", "bundled:digits", "mlp", ("onnx", "onnx-int8")),
)


def run_quickstart(workdir: Path, console: Console | None, progress_console: Console) -> dict[str, Any]:
    """Train and verify each step's bundle under ``workdir``; print as it goes unless console is None."""
    workdir.mkdir(parents=True, exist_ok=True)
    results: dict[str, Any] = {"workdir": str(workdir.resolve()), "bundles": [], "artifacts": []}
    for name, data, family, targets in STEPS:
        with reporting.training_progress(progress_console, family, 0) as on_trial:
            bundle = train_bundle(data, workdir / name, family=family, name=name, on_trial=on_trial)
        difference = bundle.check_reference()
        results["bundles"].append({**reporting.bundle_summary(bundle), "reference_max_abs_diff": difference})
        if console is not None:
            reporting.print_training(console, bundle)
            console.print(f"verified: hashes match and the model reproduces its reference rows (max abs diff {difference:.3g})")
        for target in targets:
            with reporting.spinner(progress_console, f"compiling {name} for {target}"):
                artifact = compile_bundle(bundle.path, target, workdir / f"{name}-{target}")
            results["artifacts"].append(reporting.artifact_summary(artifact))
            if console is not None:
                console.print(
                    f"compiled {target}: {artifact.path} ({artifact.info.resources['model_bytes']} bytes); "
                    + reporting.parity_line(artifact.info.parity)
                )
        if console is not None:
            console.print()
    if console is not None:
        console.print(
            f"done: bundles and artifacts in {results['workdir']}. Next: `edgekit artifact show "
            f"{workdir / STEPS[1][0]}-onnx-int8`, `edgekit runs`."
        )
    return results
