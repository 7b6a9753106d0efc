"""Compiling a bundle into an artifact for a target: convert, check parity, write artifact.json."""

from __future__ import annotations

import shutil
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from edgekit_runtime.inputs.schema import SCHEMA_FILE
from edgekit_runtime.inputs.telemetry import BASELINE_FILE
from edgekit_runtime.integrity import describe_files
from edgekit_runtime.smoke import REFERENCE_FILE

from .._version import __version__
from ..artifact import ARTIFACT_FORMAT, DESCRIPTOR, Artifact, ArtifactInfo, check_artifact_output
from ..bundle import ModelBundle
from ..errors import CheckFailed
from ..storage import move_into_place, staging_directory, write_descriptor
from .backends import register_builtin_backends
from .dense import FLOAT32_TINY, dense_from_pipeline
from .parity import TOLERANCES, certificate, check_extremes, edge_rows, extreme_rows, parity_scale
from .registry import CompileRequest, backend_for, target_names
from .trees.tables import bundle_trees
from .trees.thresholds import split_thresholds
from .work import work_per_row

if TYPE_CHECKING:  # a profile is data handed in; compile does not load profiles itself
    from ..devices.profiles import DeviceProfile

register_builtin_backends()

SMOKE_ROWS = 32
# The same artifact on another machine or runtime build may sum in another order; nothing more.
SMOKE_TOLERANCE = 1e-4

__all__ = ["compile_bundle", "parity_refusal", "target_names"]


def compile_bundle(
    bundle_path: str | Path | ModelBundle,
    target: str,
    out: str | Path,
    *,
    options: dict[str, str] | None = None,
    device_opset: int | None = None,
    device: DeviceProfile | None = None,
) -> Artifact:
    """Compile, prove parity with the original model, and move the artifact into ``out``.

    ``device`` (a profile) lets the backend build for it: its ONNX opset, its C triple. A loaded
    ModelBundle may stand for the path (several builds of one bundle then load and verify it once).
    Raises CheckFailed (and leaves ``out`` untouched) when parity breaks the precision's tolerance.
    """
    options = dict(options or {})
    backend = backend_for(target)
    bundle = bundle_path if isinstance(bundle_path, ModelBundle) else ModelBundle.load(bundle_path)
    info = bundle.info
    precision = backend.check(target, info.family, info.family_kind, options)
    out = Path(out)
    check_artifact_output(out, info.name)
    started = time.perf_counter()
    with staging_directory(out) as staging:
        compiled = backend.compile(CompileRequest(bundle, target, precision, options, device_opset, device, staging))
        reference = bundle.reference()
        tables = bundle_trees(bundle).tables if info.family_kind == "trees" else None
        edges = edge_rows(reference["X"], split_thresholds(tables.feature, tables.threshold) if tables is not None else {})
        precision = compiled.precision or precision
        parity = certificate(info.task, precision, bundle.outputs, compiled.predictor, reference, edges, info.classes)
        numeric = [index for index, feature in enumerate(bundle.schema.features) if feature.kind != "categorical"]
        parity = check_extremes(parity, info.task, bundle.outputs, compiled.predictor, extreme_rows(reference["X"], numeric))
        if not parity["passed"]:
            raise parity_refusal(bundle, target, precision, options, parity)
        smoke_rows = reference["X"][:SMOKE_ROWS]
        np.savez_compressed(
            staging / REFERENCE_FILE,
            X=smoke_rows,
            original_outputs=reference["outputs"][:SMOKE_ROWS],
            artifact_outputs=compiled.predictor(smoke_rows),
        )
        # The device validates every input against the schema the model was trained on, and counts
        # what it sees on the training baseline's bins (telemetry for drift detection).
        for name in (SCHEMA_FILE, BASELINE_FILE):
            shutil.copyfile(bundle.path / name, staging / name)
        shipped = [*compiled.files, REFERENCE_FILE, SCHEMA_FILE, BASELINE_FILE]
        files = describe_files(staging, shipped)
        descriptor = {
            "format_version": ARTIFACT_FORMAT,
            "target": target,
            "backend": backend.name,
            "precision": precision,
            "created": datetime.now(UTC).isoformat(timespec="seconds"),
            "edgekit_version": __version__,
            "bundle": {
                "name": info.name,
                "version": info.version,
                "content_hash": info.content_hash,
                "family": info.family,
                "task": info.task,
                "label": info.label,
                "classes": info.classes,
                "feature_names": info.feature_names,
            },
            "model_file": compiled.model_file,
            "runtime": compiled.runtime,
            "inputs": compiled.inputs,
            "outputs": compiled.outputs,
            "requirements": compiled.requirements,
            "resources": {
                "model_bytes": files[compiled.model_file]["size"],
                "files_bytes": sum(entry["size"] for entry in files.values()),
                "measured": "file sizes on disk",
                "work_per_row": work_per_row(bundle),
                **compiled.resources,
            },
            "parity": parity,
            # A device's smoke test compares its own run with the certified outputs in reference.npz.
            "smoke_tolerance": SMOKE_TOLERANCE * parity_scale(info.task, reference),
            "options": compiled.options,
            "toolchain": compiled.toolchain,
            "compile_seconds": round(time.perf_counter() - started, 3),
            "files": files,
        }
        ArtifactInfo.model_validate({**descriptor, "content_hash": ""})
        for leftover in staging.iterdir():  # scratch files a backend did not ship
            if leftover.name not in {name.split("/")[0] for name in shipped}:
                shutil.rmtree(leftover) if leftover.is_dir() else leftover.unlink()
        write_descriptor(staging, DESCRIPTOR, descriptor)
        move_into_place(staging, out)
    return Artifact.load(out)


# A more faithful build of the same model, per target and precision, for a refusal's advice.
_MORE_FAITHFUL = {
    ("onnx-fp16", "fp16"): "--target onnx (float32)",
    ("onnx-int8", "int8"): "--target onnx-fp16, then --target onnx",
    ("tflite-int8", "int8"): "--target tflite (float32), or --target onnx-fp16",
    ("c", "int16"): "--quantize thresholds (exact float32 leaves)",
}


def parity_refusal(
    bundle: ModelBundle, target: str, precision: str, options: dict[str, str], parity: dict[str, Any]
) -> CheckFailed:
    """The one-line refusal of a build outside its tolerance: what broke, on which rows, and what to
    do for this target and precision (float32 has nothing more faithful to fall back on)."""
    info = bundle.info
    sets = {name: entry for name, entry in parity["sets"].items() if entry["rows"] and "max_abs_diff" in entry}
    worst = max(sets, key=lambda name: np.nan_to_num(sets[name]["max_abs_diff"], nan=np.inf), default="reference")
    message = (f"{target} artifact of {info.name} v{info.version} breaks parity, worst on its {worst.replace('_', ' ')} "
               f"rows: {'; '.join(parity['failures'])}")
    held, cost = _held_features(bundle)
    float32_limit = (TOLERANCES["fp32"].max_abs_diff or 0.0) * parity_scale(info.task, bundle.reference())
    if held and cost > float32_limit:  # holding the feature alone breaks even float32's tolerance
        names = ", ".join(f"'{info.feature_names[index]}' (scale {scale:.2g})" for index, scale in held[:3])
        more = f" and {len(held) - 3} more" if len(held) > 3 else ""
        return CheckFailed(
            f"{message}; feature {names}{more} varies by less than float32's smallest normal number "
            f"({FLOAT32_TINY:.2g}), so every build holds it constant, which alone moves the outputs by {cost:.3g}",
            "no precision helps: rescale that feature into an ordinary range (e.g. other units) and retrain, or drop it",
        )
    if precision == "fp32":  # no target computes in more than float32
        return CheckFailed(message, "float32 cannot reproduce this model's arithmetic and no target computes in more: "
                                    "rescale features with extreme values and retrain, or report the bundle if they are ordinary")
    step = _MORE_FAITHFUL.get((target, precision))
    if target == "tflite-int8" and options.get("per-channel") == "false":
        step = f"--option per-channel=true, or {step}"
    if step is None and target == "c":
        step = "--quantize int16, then none" if info.family_kind == "trees" else "--quantize none (float32 weights)"
    return CheckFailed(message, f"try {step or 'a float32 target (onnx, tflite or c)'}, or report the bundle")


def _held_features(bundle: ModelBundle) -> tuple[tuple[tuple[int, float], ...], float]:
    """A dense model's features held constant (dense.py) and how far that alone, in float64, moves
    its outputs on the reference and test rows."""
    info = bundle.info
    if info.family_kind == "trees":
        return (), 0.0
    dense = dense_from_pipeline(bundle.model, len(info.feature_names))
    if not dense.held:
        return (), 0.0
    reference = bundle.reference()
    cost = 0.0
    for rows, outputs in ((reference["X"], reference["outputs"]), (reference["test_X"], reference["test_outputs"])):
        if len(rows):
            moved = dense.predict(rows).reshape(len(rows), -1) - np.asarray(outputs).reshape(len(rows), -1)
            cost = max(cost, float(np.nanmax(np.abs(moved))))
    return dense.held, cost
