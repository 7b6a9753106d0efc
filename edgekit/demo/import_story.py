"""The quickstart's bring-your-own-model step: a LightGBM model trained in plain Python (as in a
notebook), saved as LightGBM's text model, imported with a sample of its data and compiled for the
Raspberry Pi 4 (C, cross-compiled) and ONNX Runtime, with parity certificates."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from rich.console import Console

from .. import reporting
from ..compile.build import compile_bundle
from ..devices import load_profile
from ..importing import import_model

NAME = "sensors-lightgbm"
DATA = "synthetic:sensors?rows=6000&seed=11"
BUILDS = (("c-pi4", "c", "raspberry-pi-4b"), ("onnx", "onnx", None))


def import_story(workdir: Path, results: dict[str, Any], console: Console | None, progress: Console,
                 missing_toolchain: Any) -> None:
    import lightgbm
    import pandas as pd

    from ..data.sources import load_table

    frame = pd.get_dummies(load_table(DATA).frame, columns=["machine_type"], dtype=float)
    features, failure = frame.drop(columns=["failure"]), frame["failure"]
    with reporting.spinner(progress, "training a LightGBM model in plain Python"):
        model = lightgbm.LGBMClassifier(n_estimators=150, num_leaves=31, learning_rate=0.1, verbose=-1, n_jobs=1)
        model.fit(features[:5000], failure[:5000])
        model.booster_.save_model(workdir / f"{NAME}.txt")
        # The sample: rows the model did not train on, with the label (so the bundle has metrics).
        frame[5000:].to_csv(workdir / f"{NAME}-sample.csv", index=False)
        bundle = import_model(workdir / f"{NAME}.txt", workdir / f"{NAME}-sample.csv", workdir / NAME, label="failure")
    entry: dict[str, Any] = {"bundle": reporting.bundle_summary(bundle), "artifacts": []}
    if console is not None:
        reporting.print_import(console, bundle)
    for suffix, target, device in BUILDS:
        profile = load_profile(device) if device else None
        missing = missing_toolchain({"triple": profile.c_triple()}) if profile is not None and target == "c" else None
        if missing:
            results.setdefault("skipped", []).append({"artifact": f"{NAME}-{suffix}", "install": missing})
            continue
        with reporting.spinner(progress, f"compiling the imported {NAME} for {suffix}"):
            artifact = compile_bundle(bundle, target, workdir / f"{NAME}-{suffix}", device=profile)
        entry["artifacts"].append(reporting.artifact_summary(artifact))
        if console is not None:
            console.print(f"compiled {suffix}: {artifact.path}; " + reporting.parity_line(artifact.info.parity))
    results["imported"] = entry
